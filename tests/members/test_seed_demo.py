import io

import phonenumbers
import pytest
from django.core.management import CommandError, call_command

from members.demo import DEMO_PASSWORD, demo_member_no, demo_phone
from members.models import Member, Role, StaffProfile, Store
from members.numbers import is_member_no
from members.services import member_by_phone


def _seed(*args):
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_builds_stores_staff_of_every_role_and_members(client):
    out = _seed("--members", "300", "--purchases", "0")
    assert Store.objects.count() == 5 and Member.objects.count() == 300
    for store in Store.objects.all():
        roles = set(StaffProfile.objects.filter(store=store).values_list("role", flat=True))
        assert roles == {Role.MANAGER, Role.CLERK}
    assert StaffProfile.objects.filter(role=Role.OWNER).count() == 1
    assert DEMO_PASSWORD in out and "clerk_sh01_1" in out
    # The printed passwords work, through the real login page.
    response = client.post(
        "/accounts/login/", {"username": "clerk_sh01_1", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/staff/"


@pytest.mark.django_db
def test_members_are_believable_and_findable_by_phone():
    _seed("--members", "200", "--purchases", "0")
    for i in (0, 57, 199):
        member = member_by_phone(demo_phone(i))
        assert member is not None and member.member_no == demo_member_no(i)
        assert is_member_no(member.member_no)
        assert 2 <= len(member.name) <= 3
        assert phonenumbers.is_valid_number(phonenumbers.parse(member.phone))
    assert Member.objects.filter(store__isnull=True).count() == 0


@pytest.mark.django_db
def test_if_empty_does_nothing_the_second_time():
    _seed("--members", "50", "--purchases", "0")
    out = _seed("--members", "50", "--if-empty")
    assert Member.objects.count() == 50 and "already exist" in out


@pytest.mark.django_db
def test_a_second_run_adds_more_without_duplicates_or_new_passwords():
    _seed("--members", "50", "--purchases", "0")
    out = _seed("--members", "70", "--purchases", "0")
    assert Member.objects.count() == 120
    assert DEMO_PASSWORD not in out
    assert Member.objects.values("phone_hash").distinct().count() == 120


@pytest.mark.django_db
def test_negative_counts_are_refused():
    with pytest.raises(CommandError):
        _seed("--members", "-1")
