"""The import's phones, their hash and member numbers are the members app's: its fast
paths give the same answers as the general ones."""

import hashlib
import hmac

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.imports import phones
from members import crypto, numbers
from members.numbers import FIRST_BODY, member_number
from members.phones import normalize_phone, parse_phone


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
    assert _answer(normalize_phone, raw) == _answer(parse_phone, raw)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+- ()１３８", max_size=20))
def test_it_agrees_with_normalize_phone_on_anything(raw):
    assert _answer(normalize_phone, raw) == _answer(parse_phone, raw)


def test_its_hash_is_the_members_hash():
    e164 = "+8615000000001"
    key = django_settings.PHONE_HASH_KEY.encode()
    stored = hmac.new(key, e164.encode(), hashlib.sha256).hexdigest()  # the scheme of old
    assert crypto.phone_hasher()(e164) == crypto.phone_hash(e164) == stored


def test_excel_numbers_are_phone_text():
    assert phones.phone_text(13800138000) == "13800138000"
    assert phones.phone_text(13800138000.0) == "13800138000"
    assert phones.phone_text(None) == ""


def test_its_member_numbers_are_member_numbers():
    """The member numbers the import draws (members.numbers.member_numbers, in bulk) pass
    the Luhn check."""
    from members.numbers import is_member_no, luhn_check_digit

    for number in numbers.member_numbers(20_000):
        assert is_member_no(number) and number[-1] == luhn_check_digit(number[:-1])


def test_member_numbers_drawn_for_an_import_skip_every_taken_one(db, monkeypatch):
    """The bitmap knows the members there at the start and those added between chunks."""
    from loyalty.imports import writer
    from members.numbers import is_member_no
    from tests.factories import MemberFactory

    first = MemberFactory()
    taken_numbers = writer.Taken()
    taken_numbers.refresh()
    bodies = iter(
        [int(first.member_no[:-1])] * 3 + list(range(FIRST_BODY + 1000, FIRST_BODY + 1100))
    )
    monkeypatch.setattr(
        numbers, "random_bodies", lambda count: [next(bodies) for _ in range(count)]
    )
    drawn = taken_numbers.draw(2)  # the first member's number comes up three times: skipped
    assert first.member_no not in drawn and len(set(drawn)) == 2
    assert all(is_member_no(n) for n in drawn)
    later = MemberFactory()  # a registration between two chunks, on a number to come
    taken = member_number(FIRST_BODY + 1002)
    type(later).objects.filter(pk=later.pk).update(member_no=taken)
    taken_numbers.refresh()  # before the next chunk
    assert taken not in taken_numbers.draw(5)
    assert taken_numbers.seen == later.pk


def test_the_bitmaps_read_what_others_added_and_not_the_imports_own_rows(db):
    """Between chunks only others' members are read: this import's own are marked as
    written (once their chunk is in), and a rolled-back chunk's are forgotten."""
    from loyalty.imports import writer
    from tests.factories import MemberFactory

    before = MemberFactory()
    taken = writer.Taken()
    taken.refresh()
    assert taken.may_be_member(before.phone_hash) and taken.seen == before.pk
    ours = [MemberFactory(), MemberFactory()]  # stand-ins for a chunk's INSERT
    between = MemberFactory()  # a registration meanwhile, after our ids
    taken.written([m.pk for m in ours], [m.phone_hash for m in ours])
    taken.committed()
    # Our rows are not read back: a number changed on one of them stays unknown.
    sneaked = member_number(FIRST_BODY + 77)
    type(ours[0]).objects.filter(pk=ours[0].pk).update(member_no=sneaked)
    taken.refresh()
    assert all(taken.may_be_member(m.phone_hash) for m in [*ours, between])
    assert not taken.numbers[77 // 8] >> (77 % 8) & 1
    assert taken.seen == between.pk
    lost = "ab" * 32  # the phone hash of a member whose chunk was rolled back
    taken.written([between.pk + 1000], [lost])
    taken.rolled_back()
    taken.committed()  # what the next chunk's first attempt calls
    assert taken.own == []
    taken.refresh()
    assert not taken.may_be_member(lost) and taken.seen == between.pk
