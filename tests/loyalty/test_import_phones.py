"""The import's fast phone path gives normalize_phone's answers, and the same hash."""

from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.imports import phones
from members import crypto
from members.phones import normalize_phone


def _answer(normalize, raw):
    try:
        return normalize(raw)
    except ValidationError:
        return "invalid"


eleven_digits = st.integers(min_value=10_000_000_000, max_value=19_999_999_999).map(str)
written = st.tuples(
    eleven_digits, st.sampled_from(["{}", "+86{}", "+86 {}", "0086{}", "{} ", "86{}"])
).map(lambda t: t[1].format(t[0]))
spaced = eleven_digits.map(lambda d: f"{d[:3]}-{d[3:7]}-{d[7:]}")


@settings(max_examples=3000, deadline=None)
@given(st.one_of(written, spaced))
def test_it_agrees_with_normalize_phone_on_mainland_numbers(raw):
    assert _answer(phones.normalize, raw) == _answer(normalize_phone, raw)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+- ()１３８", max_size=20))
def test_it_agrees_with_normalize_phone_on_anything(raw):
    assert _answer(phones.normalize, raw) == _answer(normalize_phone, raw)


def test_its_hash_is_the_members_hash():
    assert phones.fast_hash_agrees()
    assert phones.phone_hash("+8615000000001") == crypto.phone_hash("+8615000000001")


def test_excel_numbers_are_phone_text():
    assert phones.phone_text(13800138000) == "13800138000"
    assert phones.phone_text(13800138000.0) == "13800138000"
    assert phones.phone_text(None) == ""
