"""Phones at import speed: the same answers as members.phones.normalize_phone, faster.

normalize_phone (phonenumbers: parse, validate, type, format) costs ~70 µs a number,
a minute and more for a million rows. Almost every number in a Chinese merchant's
file is an 11-digit mainland mobile, written bare or with +86 / 0086, spaces or
dashes. Those are checked here against the patterns of phonenumbers' own CN
metadata (mobile: yes; any type phonenumbers would see first, such as premium
rate: no), which is exactly how normalize_phone classifies them; everything else
goes to normalize_phone itself. tests/loyalty/test_import_phones.py holds the two
to the same answers.

The lookup hash is the same HMAC as members.crypto.phone_hash, computed with the
one-shot hmac.digest (a fifth of the cost); `fast_hash_agrees()` checks that at the
start of every run, and the run falls back to crypto.phone_hash if it ever does not.
"""

import hmac
import re
from functools import cache

import phonenumbers
from django.conf import settings

from members import crypto
from members.phones import normalize_phone

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


@cache
def _fast_path_on() -> bool:
    return (settings.PHONE_REGION or "").upper() == "CN"


def _cn_mobile(national: str) -> bool:
    mobile, others = _cn_patterns()
    if not mobile.fullmatch(national):
        return False
    return others is None or not others.fullmatch(national)


def phone_text(value) -> str:
    """A cell as a phone: XLSX gives numbers (13800138000 or 13800138000.0)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def normalize(raw: str) -> str:
    """E.164 of `raw`, or ValidationError: normalize_phone's answer, usually faster."""
    text = raw.translate(_SEPARATORS)
    if text.startswith("+86"):
        national = text[3:]
    elif text.startswith("0086"):
        national = text[4:]
    elif _fast_path_on():
        national = text
    else:
        national = ""
    if len(national) == 11 and national.isascii() and national.isdigit() and _cn_mobile(national):
        return "+86" + national
    return normalize_phone(raw)


def key_of(e164: str) -> int:
    """A phone as an exact integer (E.164 has at most 15 digits): the in-file duplicate key."""
    return int(e164[1:])


def hasher():
    """phone -> lookup hash, with the key read once (per run, not per row)."""
    key = settings.PHONE_HASH_KEY.encode()
    digest = hmac.digest

    def phone_hash(e164: str) -> str:
        return digest(key, e164.encode(), "sha256").hex()

    return phone_hash


def phone_hash(e164: str) -> str:
    return hasher()(e164)


def fast_hash_agrees() -> bool:
    sample = "+8613800138000"
    return phone_hash(sample) == crypto.phone_hash(sample)
