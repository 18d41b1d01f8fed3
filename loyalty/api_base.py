"""What the POS API's modules share (loyalty/api.py: members, purchases, refunds,
coupons; loyalty/api_prepaid.py: stored value and count cards): the member a request
names, text a database can store, money as decimal strings, the error and balance
schemas."""

import re
from decimal import Decimal
from typing import Annotated

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Field, Schema
from pydantic import WithJsonSchema

from config.platform.fixed_sql import FixedRead
from members import crypto
from members.models import Member
from members.phones import normalize_phone


class UnstorableText(ValueError):
    """A JSON string with NUL or a lone surrogate: no database column can hold it."""


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> bool:
    """True when no database column can hold `text` (NUL, a lone surrogate)."""
    return _UNSTORABLE.search(text) is not None


def clean_code(code: str | None) -> str:
    """A code or reference from the request, as stored ("" for none); 400 if unstorable."""
    if code and unstorable(code):
        raise DjangoValidationError(
            _("Text must not contain NUL or unpaired surrogate characters.")
        )
    return code or ""


def decimal_string(value):
    """A schema's before-validator for money: a JSON float is refused, since 0.1 + 0.2
    style binary fractions are exactly what money must not be."""
    if isinstance(value, float):
        raise ValueError('send amounts as decimal strings, e.g. "38.50"')
    return value


# What the schema documents: a decimal string (a JSON float is refused, see above).
MoneyIn = Annotated[
    Decimal,
    WithJsonSchema(
        {"type": "string", "format": "decimal", "pattern": r"^\d+(\.\d{1,2})?$", "example": "38.50"}
    ),
]


class ErrorOut(Schema):
    code: str
    message: str


class StoredValueOut(Schema):
    balance: str = Field(description='Yuan, two places: "350.50"')
    principal: str = Field(description="What the member paid in")
    bonus: str = Field(description="What the merchant gave with top-ups")


# What recording a purchase needs of the member (the card is read under its lock).
PURCHASE_MEMBER_FIELDS = ("id", "member_no", "referred_by_id", "status")


_purchase_member = {
    key: FixedRead(Member, f"t0.{key} = %s AND t0.status = %s", fields=PURCHASE_MEMBER_FIELDS)
    for key in ("phone_hash", "member_no")  # both unique
}


def member_by(
    *, phone: str | None = None, member_no: str | None = None, only: tuple[str, ...] = ()
) -> Member:
    """The active member the request names by phone or member number, else 404 (400
    when it names neither). `only`: the fields to load (PURCHASE_MEMBER_FIELDS: a fixed
    SELECT); none: the member with their card and tier."""
    if unstorable(phone or "") or unstorable(member_no or ""):
        raise DjangoValidationError(
            _("Text must not contain NUL or unpaired surrogate characters.")
        )
    if phone:
        key, value = "phone_hash", crypto.phone_hash(normalize_phone(phone))
    elif member_no:
        key, value = "member_no", member_no.strip()
    else:
        raise DjangoValidationError(_("Give a phone or a member_no."))
    if only == PURCHASE_MEMBER_FIELDS:  # recording a purchase: a fixed SELECT
        member = _purchase_member[key].first(value, Member.Status.ACTIVE)
    else:
        members = Member.objects.filter(**{key: value}, status=Member.Status.ACTIVE)
        members = members.only(*only) if only else members.select_related("card__tier")
        member = members[:1]  # one at most (both keys are unique): no ORDER BY
        member = member[0] if member else None
    if member is None:
        raise Http404(_("No member with that phone or number."))
    return member
