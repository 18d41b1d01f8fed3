"""What the POS API's modules share (loyalty/api.py: members, purchases, refunds,
coupons; loyalty/api_prepaid.py: stored value and count cards): the member a request
names, text a database can store, money as decimal strings, the error and balance
schemas."""

import re
from collections.abc import Callable
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Field, Schema
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import WithJsonSchema

from config.platform.fixed_sql import FixedRead
from loyalty.errors import LoyaltyError
from loyalty.imports.validation import EARLIEST_DAY
from members import crypto
from members.dynamic_code import DynamicCodeError, code_release, code_use, member_for_code
from members.models import Member, Store
from members.phones import normalize_phone
from members.selectors import member_served_at


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


def http_error_parts(exc) -> tuple[int, str, str]:
    """(status, code, message) of django-ninja's HttpError as the APIs answer it: Ninja
    wraps a body it cannot parse in HttpError(400), said here in the caller's language."""
    if isinstance(exc.__cause__, UnstorableText):
        message = _("Text must not contain NUL or unpaired surrogate characters.")
        return 400, "validation_error", message
    if exc.status_code == 400 and exc.__cause__ is not None:  # bad JSON, bad UTF-8, too deep
        return 400, "invalid_json", _("The request body is not valid JSON.")
    return exc.status_code, "error", str(exc)


def shared_error_handlers(api, error) -> None:
    """The errors both JSON APIs answer alike (the POS API, loyalty/api.py, and the
    mini-program's, wechat/mp/api.py): a request the schema refuses, a missing object, a
    business rule, a body Ninja cannot parse. `error(request, status, code, message,
    **details)` is the API's own answer."""

    @api.exception_handler(NinjaValidationError)
    def on_invalid_request(request, exc):
        message = _("The request is not valid.")
        return error(request, 400, "validation_error", message, errors=exc.errors)

    @api.exception_handler(Http404)
    def on_not_found(request, exc):
        return error(request, 404, "not_found", str(exc) if str(exc) else _("Not found."))

    @api.exception_handler(LoyaltyError)
    def on_business_rule(request, exc):
        return error(request, exc.status, exc.code, exc.message, **exc.details)

    @api.exception_handler(HttpError)
    def on_http_error(request, exc):
        return error(request, *http_error_parts(exc))


# The schema's pattern for money, as documented (MoneyIn below).
MONEY_PATTERN = r"^\d+(\.\d{1,2})?$"
# What a money string may be: ASCII digits and one point between them. Python's `\d`
# and Decimal() also take "５" (fullwidth), "٥", "1_000", "1e2", "+5", ".5", "5." and
# spaces around; the schema's ECMA-262 `\d` is 0-9 only. More than two places pass here
# so that the service says why ("at most two decimal places"); it refuses them.
_MONEY_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


def money_text(value: str) -> bool:
    """True when `value` is written as the schema's money pattern allows (0-9 only)."""
    return _MONEY_TEXT.fullmatch(value) is not None


def money_refused() -> str:
    return _('Send amounts as decimal strings of the digits 0-9, e.g. "38.50".')


def decimal_string(value):
    """A schema's before-validator for money: a JSON float is refused, since 0.1 + 0.2
    style binary fractions are exactly what money must not be; a string must be digits
    0-9 with an optional fraction (money_text). A JSON integer is whole yuan."""
    if isinstance(value, float) or (isinstance(value, str) and not money_text(value)):
        raise ValueError(money_refused())
    return value


# What the schema documents: a decimal string (a JSON float is refused, see above).
MoneyIn = Annotated[
    Decimal,
    WithJsonSchema(
        {"type": "string", "format": "decimal", "pattern": MONEY_PATTERN, "example": "38.50"}
    ),
]
# A query parameter's money (GET /coupons/{code}?amount=): the text, checked by the
# view with money_text, documented with the same pattern.
MoneyQuery = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "example": "38.50"})
]

# The forms' bound on birthdays: the member centre's profile form refuses a birthday
# before 1900-01-01 ("Please check the year."), the import before this same day.
EARLIEST_BIRTHDAY = EARLIEST_DAY


class ErrorOut(Schema):
    code: str
    message: str


class StoredValueOut(Schema):
    balance: str = Field(description='Yuan, two places: "350.50"')
    principal: str = Field(description="What the member paid in")
    bonus: str = Field(description="What the merchant gave with top-ups")


class MemberMismatch(LoyaltyError):
    """The request names its member twice (phone and member_no), not the same one."""

    code = "member_mismatch"


class AnotherStores(LoyaltyError):
    """A purchase of another store than the key's: read and refunded only by its store."""

    code = "forbidden"
    status = 403


class TooManyCodes(LoyaltyError):
    """An SMS code limit (members.otp): `retry_after` seconds."""

    code = "too_many_codes"
    status = 429


class SmsFailed(LoyaltyError):
    code = "sms_failed"
    status = 503


class MemberCodeInvalid(LoyaltyError):
    """member_code is not a dynamic member code, or a forged or expired one."""

    code = "member_code_invalid"


class MemberCodeUsed(LoyaltyError):
    """member_code was already used by another purchase (one use per purchase)."""

    code = "member_code_used"


MEMBER_CODE_DESCRIPTION = (
    "The dynamic member code (18 digits) scanned from the member centre: changes every "
    "minute, valid for two. Spending points, stored value or a count card needs no "
    "confirmation_code with it."
)


def _code_refused(exc: DynamicCodeError) -> LoyaltyError:
    return (MemberCodeUsed if exc.code == "used" else MemberCodeInvalid)(exc.message)


# What recording a purchase needs of the member (the card is read under its lock).
PURCHASE_MEMBER_FIELDS = ("id", "member_no", "referred_by_id", "status", "store_id")


# The home store's chain rule comes joined, so member_served_at asks no second query for
# another store's member (most of a chain's API purchases at a busy store).
_HOME_STORE = ("store__serves_own_members_only",)
_purchase_member = {
    (key, both): FixedRead(
        Member,
        f"t0.{key} = %s AND t0.status = %s",  # both keys are unique
        fields=(*PURCHASE_MEMBER_FIELDS, *_HOME_STORE, *(("phone_hash",) if both else ())),
        related=("store",),
    )
    for key, both in (("phone_hash", False), ("member_no", False), ("member_no", True))
}


def member_by(
    *,
    phone: str | None = None,
    member_no: str | None = None,
    member_code: str | None = None,
    only: tuple[str, ...] = (),
    store: Store | None = None,
) -> Member:
    """The active member the request names by phone, member number or dynamic member
    code, else 404 (400 when it names none; 422 member_code_invalid for a code that is
    not valid now). Two given: they must name the same member, else 422
    member_mismatch. `only`: the fields to load (PURCHASE_MEMBER_FIELDS: a fixed
    SELECT); none: the member with their card and tier. Members are the merchant's,
    chain-wide: any store's key finds them by an exact key, unless that store or the
    member's home store serves its own members only (`store`: the key's; 404 then)."""
    member = _member_named(phone=phone, member_no=member_no, member_code=member_code, only=only)
    if store is not None and not member_served_at(store, member):
        raise Http404(_("No member with that phone or number."))
    return member


def _member_named(*, phone, member_no, member_code, only) -> Member:
    if member_code:
        member = _member_by_code(member_code)
        if phone or member_no:
            _same_member(member, member_by(phone=phone, member_no=member_no, only=("id",)))
        if not only:
            member = Member.objects.select_related("card__tier").get(pk=member.pk)
        return member
    if unstorable(phone or "") or unstorable(member_no or ""):
        raise DjangoValidationError(
            _("Text must not contain NUL or unpaired surrogate characters.")
        )
    phone_hash = crypto.phone_hash(normalize_phone(phone)) if phone else None
    number = member_no.strip() if member_no else ""
    if phone_hash and not number:
        key, value = "phone_hash", phone_hash
    elif member_no:  # blanks alone: no member has that number
        key, value = "member_no", number
    else:
        raise DjangoValidationError(_("Give a phone or a member_no."))
    both = bool(number and phone_hash)
    if only == PURCHASE_MEMBER_FIELDS:  # recording a purchase: a fixed SELECT
        member = _purchase_member[key, both].first(value, Member.Status.ACTIVE)
    else:
        members = Member.objects.filter(**{key: value}, status=Member.Status.ACTIVE)
        if only:
            members = members.only(*only, "phone_hash") if both else members.only(*only)
        else:
            members = members.select_related("card__tier")
        member = members[:1]  # one at most (both keys are unique): no ORDER BY
        member = member[0] if member else None
    if member is None:
        raise Http404(_("No member with that phone or number."))
    if both and member.phone_hash != phone_hash:
        # Recording it for either member would be a guess (the phone's once was).
        raise MemberMismatch(_("The phone and the member number do not name the same member."))
    return member


def _member_by_code(member_code: str) -> Member:
    member = member_for_code(member_code)
    if member is None:
        raise MemberCodeInvalid(
            _("This member code is not valid or has expired. Ask the member to refresh it.")
        )
    return member


def _same_member(member: Member, named: Member) -> None:
    if named.pk != member.pk:
        raise MemberMismatch(
            _("The member code and the phone or number do not name the same member.")
        )


def spending_member(
    *,
    phone: str | None = None,
    member_no: str | None = None,
    member_code: str | None = None,
    ref: str,
    only: tuple[str, ...] = (),
    store: Store | None = None,
) -> tuple[Member, bool]:
    """(the member, found by a dynamic code) for a request that spends: a member_code is
    used up for `ref` (the spend's idempotency key; its retry may send it again), so
    another spend cannot reuse it (422 member_code_used). Otherwise member_by."""
    if not member_code:
        return member_by(phone=phone, member_no=member_no, only=only, store=store), False
    named = (
        member_by(phone=phone, member_no=member_no, only=("id",)) if phone or member_no else None
    )
    try:
        member = code_use(member_code, purchase_ref=ref)
    except DynamicCodeError as exc:
        raise _code_refused(exc) from exc
    if named is not None and named.pk != member.pk:
        code_release(member_code, purchase_ref=ref)
        _same_member(member, named)
    if store is not None and not member_served_at(store, member):
        code_release(member_code, purchase_ref=ref)
        raise Http404(_("No member with that phone or number."))
    return member, True


@contextmanager
def spend_or_give_back(member_code: str | None, ref: str, recorded: Callable[[], bool]):
    """The spend `ref` in one transaction: refused, it leaves the member's pay code
    unused, and, when nothing is recorded for `ref` (`recorded()`: not a retry of a
    recorded spend), its member_code may be used again."""
    try:
        with transaction.atomic():
            yield
    except (LoyaltyError, DjangoValidationError):
        if member_code and not recorded():
            code_release(member_code, purchase_ref=ref)
        raise
