import pytest
from django.core.exceptions import ValidationError

from members.phones import mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "+86 138-0013-8000",
        "0086 138 0013 8000",
        "+8613800138000",
        "１３８００１３８０００",
    ],
)
def test_it_normalises_every_written_form_to_e164(raw):
    assert normalize_phone(raw) == "+8613800138000"


@pytest.mark.parametrize("raw", ["", "12345", "1380013800", "abc", "010 12345678", "+86 999"])
def test_it_rejects_what_is_not_a_mobile_number(raw):
    with pytest.raises(ValidationError):
        normalize_phone(raw)


def test_it_masks_the_middle_digits():
    assert mask_phone("+8613800138000") == "138 **** 8000"
    assert mask_phone("") == ""


def _slow(raw: str):
    """normalize_phone's answer through phonenumbers.parse, as it was before the fast path."""
    import phonenumbers

    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return "invalid"
    if not phonenumbers.is_valid_number(number):
        return "invalid"
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return "not_mobile"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _fast(raw: str):
    try:
        return normalize_phone(raw)
    except ValidationError as exc:
        return exc.code


def test_the_plain_eleven_digits_shortcut_answers_as_parse_does():
    """An 11-digit mainland mobile skips phonenumbers.parse (mainland_mobile): the same
    E.164 form, or the same refusal, for every 4-digit start (1000-1999: every operator and carrier
    prefix, the 179xx and 1[12]xxx ones parse may strip included) and random numbers."""
    import random

    rng = random.Random(2026)
    numbers = [f"{start}{rng.randrange(10**7):07d}" for start in range(1000, 2000)]
    numbers += [f"1{rng.randrange(10**10):010d}" for _ in range(20_000)]
    numbers += ["10000000000", "19999999999", "17951234567", "12593000000"]
    wrong = [(n, _fast(n), _slow(n)) for n in numbers if _fast(n) != _slow(n)]
    assert not wrong, wrong[:10]
    assert sum(_fast(n).startswith("+86") for n in numbers) > 10_000  # mostly valid mobiles


def test_a_mainland_mobile_is_not_parsed_however_it_is_written(monkeypatch):
    """The fast path is normalize_phone's own, for every caller (a form, the counter's
    search, the member import): written bare, after +86 or 0086, spaced or dashed."""
    import phonenumbers

    def parse(*args, **kwargs):  # pragma: no cover - the assertion is that it is not called
        raise AssertionError("parsed")

    monkeypatch.setattr(phonenumbers, "parse", parse)
    for raw in ["13800138000", "+86 138-0013-8000", "0086 138 0013 8000", " 138 0013 8000 "]:
        assert normalize_phone(raw) == "+8613800138000"
