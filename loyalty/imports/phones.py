"""Phones in a file: a cell as phone text, and the in-file duplicate key.

Normalising, hashing and the last four digits are the members app's, the same for a
million-row import as for one registration: members.phones.normalize_phone (with its
fast path for mainland mobiles), members.crypto.phone_hasher (the lookup hash, the key
looked up once per run), members.phones.phone_last4.
"""


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


def key_of(e164: str) -> int:
    """A phone as an exact integer (E.164 has at most 15 digits): the in-file duplicate key."""
    return int(e164[1:])
