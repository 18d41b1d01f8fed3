"""Phone numbers: one normal form (E.164) for storage, hashing and uniqueness."""

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Return the E.164 form of `raw` (``+8613800138000``) or raise ValidationError.

    Accepts the ways people write numbers: ``13800138000``, ``+86 138-0013-8000``,
    ``0086 138 0013 8000``, full-width digits.
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Enter a mobile number."), code="required")
    if text.startswith("00"):
        text = "+" + text[2:]
    region = region or settings.PHONE_REGION
    plain_cn = (
        region == "CN" and len(text) == 11 and text[0] == "1" and text.isascii() and text.isdigit()
    )
    if plain_cn:
        # How nearly every number arrives (a clerk's search, a form, an import): what
        # parse() makes of it without parse()'s 35 us; tests compare the two.
        number = phonenumbers.PhoneNumber(country_code=86, national_number=int(text))
    else:
        try:
            number = phonenumbers.parse(text, region)
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
    if plain_cn:  # E.164 of +86 and 11 digits without a leading zero: those digits
        return "+86" + text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


MOBILE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


def national_digits(e164: str) -> str:
    """The digits a person would type for a number: 13800138000 for a Chinese mobile."""
    number = phonenumbers.parse(e164)
    return phonenumbers.national_significant_number(number)


def mask_phone(e164: str) -> str:
    """138****8000: what a clerk sees of a number they did not type."""
    if not e164:
        return ""
    digits = national_digits(e164)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"
