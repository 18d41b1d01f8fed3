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


def format_phone(e164: str) -> str:
    """How a number is written for people: 138 0013 8000 (a number of PHONE_REGION, as
    its people write it), +852 9123 4567 (any other, with its country code). The one
    way staff and members see a number; stored, hashed and exported it stays E.164."""
    if not e164:
        return ""
    if e164.startswith("+86") and len(e164) == 14:  # a mainland mobile: no parse needed
        return f"{e164[3:6]} {e164[6:10]} {e164[10:]}"
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    region = phonenumbers.region_code_for_number(number)
    if region == settings.PHONE_REGION:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mask_last4(last4: str) -> str:
    """*** **** 8000: a number shown by its last 4 digits only (a mobile's 11 places)."""
    return f"*** **** {last4}" if last4 else ""


def mask_phone(e164: str) -> str:
    """138 **** 8000: what a clerk sees of a number they did not type (format_phone's
    form, the digits between the first 3 and the last 4 of the number starred)."""
    if not e164:
        return ""
    shown = format_phone(e164)
    digits = national_digits(e164) if not e164.startswith("+86") else e164[3:]
    # The national digits are the last len(digits) digits written: star those between
    # their first 3 and last 4 (all of them in a number too short for that).
    keep_head, keep_tail = (3, 4) if len(digits) >= 7 else (0, 0)
    total = sum(ch.isdigit() for ch in shown)
    first, last = total - len(digits) + keep_head, total - keep_tail
    out, seen = [], 0
    for ch in shown:
        if ch.isdigit():
            out.append("*" if first <= seen < last else ch)
            seen += 1
        else:
            out.append(ch)
    return "".join(out)
