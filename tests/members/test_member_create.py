import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from members.models import AuditEntry, Member
from members.numbers import is_member_no
from members.services import DuplicatePhone, member_by_phone, member_create
from members.signals import member_registered
from tests.factories import MemberFactory


@pytest.mark.django_db
def test_it_creates_a_member_with_a_checked_member_number(store):
    member = member_create(phone="138 0013 8000", name=" 李雷 ", store=store)
    assert is_member_no(member.member_no)
    assert member.name == "李雷" and member.phone == "+8613800138000"
    assert member.phone_last4 == "8000"
    assert member_by_phone("+86 138-0013-8000") == member


@pytest.mark.django_db
def test_a_duplicate_phone_in_another_format_is_refused_with_the_owner(store):
    first = member_create(phone="13800138000", store=store)
    with pytest.raises(DuplicatePhone) as exc:
        member_create(phone="+86 138-0013-8000", store=store)
    assert exc.value.member_no == first.member_no
    assert first.member_no in str(exc.value.message_dict["phone"])
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_a_future_birthday_is_refused(store):
    with pytest.raises(ValidationError) as exc:
        member_create(phone="13800138000", birthday=timezone.localdate() + dt.timedelta(days=2))
    assert "birthday" in exc.value.message_dict
    assert not Member.objects.exists()


@pytest.mark.django_db
def test_an_invalid_phone_is_refused():
    with pytest.raises(ValidationError):
        member_create(phone="12345")


@pytest.mark.django_db
def test_registration_is_announced_inside_the_transaction(store):
    seen = []

    def receiver(sender, member, actor, **kwargs):
        seen.append((member.member_no, actor))

    member_registered.connect(receiver)
    try:
        member = MemberFactory(store=store)
    finally:
        member_registered.disconnect(receiver)
    assert seen == [(member.member_no, None)]


@pytest.mark.django_db
def test_staff_registration_is_audited_with_masked_contact(store, clerk):
    member = member_create(phone="13800138000", name="韩梅梅", store=store, actor=clerk)
    entry = AuditEntry.objects.get(object_id=str(member.pk), action="member.create")
    assert entry.actor == clerk
    assert entry.changes["name"] == [None, "韩梅梅"]
    assert "13800138000" not in str(entry.changes) and "****" in entry.changes["phone"][1]


def test_member_numbers_have_a_luhn_check_digit():
    assert is_member_no("123456782")
    assert not is_member_no("123456781")
    assert not is_member_no("12345678")


def test_the_luhn_check_digit_is_the_one_of_old():
    """members.numbers' table-driven check digit: the textbook Luhn, for every body."""
    import random

    from members.numbers import luhn_check_digit

    def textbook(digits: str) -> str:
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch) * (2 if i % 2 == 0 else 1)
            total += d - 9 if d > 9 else d
        return str((10 - total % 10) % 10)

    rng = random.Random(19)
    for body in [10_000_000, 99_999_999, *(rng.randrange(10**7, 10**8) for _ in range(5000))]:
        assert luhn_check_digit(str(body)) == textbook(str(body))
    assert luhn_check_digit("１２３４５６７８") == "2"  # typed full-width, as is_member_no sees it


@pytest.mark.django_db
def test_a_member_number_is_drawn_as_the_import_draws_them(store, monkeypatch):
    """member_create takes its number from members.numbers.member_numbers, the function
    the member import draws its thousands from: one source of the number and its check."""
    from members import numbers

    monkeypatch.setattr(numbers, "random_bodies", lambda count: [12_345_678] * count)
    member = member_create(phone="13800138000", store=store)
    assert member.member_no == numbers.member_number(12_345_678) == "123456782"
