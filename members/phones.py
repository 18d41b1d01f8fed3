"""Phone numbers: one normal form (E.164) for storage, hashing and uniqueness.

The one source of a phone's stored columns, for member_create and the import alike:
normalize_phone (E.164), crypto.phone_hash / phone_hasher (the lookup hash),
phone_last4; phone_fields gives the three.
"""

import re
from functools import cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from . import crypto

# Number types phonenumbers tests before fixed line and mobile (_number_type_helper):
# a number matching one of these is not a mobile to it.
_TYPES_BEFORE_MOBILE = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)
_SEPARATORS = str.maketrans("", "", " -\u00a0\t")


@cache
def _cn_patterns() -> tuple[re.Pattern, re.Pattern | None]:
    meta = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    mobile = re.compile(meta.mobile.national_number_pattern)
    others = []
    for name in _TYPES_BEFORE_MOBILE:
        desc = getattr(meta, name, None)
        if desc is not None and desc.national_number_pattern:
            others.append(f"(?:{desc.national_number_pattern})")
    return mobile, re.compile("|".join(others)) if others else None


def mainland_mobile(text: str, region: str) -> str | None:
    """E.164 of an 11-digit mainland mobile, written bare (region CN) or after +86 or 0086,
    maybe with spaces or dashes; None for anything else (parse_phone answers those).

    How nearly every number arrives (a clerk's search, a form, a million-row import):
    checked against the patterns of phonenumbers' own CN metadata (mobile: yes; a type
    phonenumbers would see first, such as premium rate: no), which is how parse_phone
    classifies it, without parse_phone's ~70 us. tests/members/test_phones.py holds the
    two to the same answers."""
    text = text.translate(_SEPARATORS)
    if text.startswith("+86"):
        national = text[3:]
    elif text.startswith("0086"):
        national = text[4:]
    elif region == "CN" or (region or "").upper() == "CN":
        national = text
    else:
        return None
    if len(national) != 11 or not (national.isascii() and national.isdigit()):
        return None
    mobile, others = _cn_patterns()
    if not mobile.fullmatch(national) or (others is not None and others.fullmatch(national)):
        return None
    return "+86" + national


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Return the E.164 form of `raw` (``+8613800138000``) or raise ValidationError.

    Accepts the ways people write numbers: ``13800138000``, ``+86 138-0013-8000``,
    ``0086 138 0013 8000``, full-width digits.
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Enter a mobile number."), code="required")
    region = region or settings.PHONE_REGION
    return mainland_mobile(text, region) or parse_phone(raw, region)


def parse_phone(raw: str, region: str | None = None) -> str:
    """normalize_phone's answer by phonenumbers alone (parse, type, format): any number."""
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Enter a mobile number."), code="required")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region or settings.PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("“%(value)s” is not a phone number."), code="invalid", params={"value": raw}
        ) from exc
    # A number of either type is a valid number (number_type says UNKNOWN otherwise).
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        if not phonenumbers.is_valid_number(number):
            raise ValidationError(
                _("“%(value)s” is not a valid mobile number."),
                code="invalid",
                params={"value": raw},
            )
        raise ValidationError(
            _("“%(value)s” is not a mobile number."), code="not_mobile", params={"value": raw}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_last4(e164: str) -> str:
    """The last four digits, the counter's "last four" search column."""
    return e164[-4:]


def phone_fields(e164: str) -> dict:
    """The three stored columns of a normalised phone."""
    return {"phone": e164, "phone_hash": crypto.phone_hash(e164), "phone_last4": phone_last4(e164)}


MOBILE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


def national_digits(e164: str) -> str:
    """The digits a person would type for a number: 13800138000 for a Chinese mobile."""
    number = phonenumbers.parse(e164)
    return phonenumbers.national_significant_number(number)


def mask_last4(last4: str) -> str:
    """*******8000: a number shown by its last 4 digits only (a mobile's 11 places)."""
    return f"{'*' * 7}{last4}" if last4 else ""


def mask_phone(e164: str) -> str:
    """138****8000: what a clerk sees of a number they did not type."""
    if not e164:
        return ""
    digits = national_digits(e164)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"
