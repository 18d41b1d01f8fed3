"""/me/profile/: the member edits their own profile; complete once -> profile points."""

import datetime as dt

import pytest
from django.utils import timezone

from loyalty.models import PointsEntry
from members.models import AuditEntry
from tests.centre import sign_in, text_of
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(store):
    return MemberFactory(phone="13800138000", name="", store=store)


def test_it_needs_a_signed_in_member(web):
    assert web.get("/me/profile/")["Location"] == "/me/login/?next=/me/profile/"
    assert web.post("/me/profile/", {"name": "x"}).status_code == 302


def test_it_saves_the_profile_and_gives_the_profile_points_once(web, member):
    sign_in(web, member)
    data = {"name": "韩梅梅", "gender": "F", "birthday": "1995-03-08", "email": "hmm@example.com"}

    response = web.post("/me/profile/", data)

    assert response.status_code == 302 and response["Location"] == "/me/profile/"
    member.refresh_from_db()
    assert (member.name, member.gender, str(member.birthday)) == ("韩梅梅", "F", "1995-03-08")
    assert member.email == "hmm@example.com"
    profile_points = PointsEntry.objects.filter(member=member, source="action:profile")
    assert profile_points.count() == 1
    # Edited again (and emptied and refilled): no second reward.
    web.post("/me/profile/", {**data, "birthday": ""})
    web.post("/me/profile/", {**data, "birthday": "1995-03-09"})
    assert profile_points.count() == 1
    assert AuditEntry.objects.filter(object_id=str(member.pk), actor=None).exists()


def test_a_future_birthday_is_refused(web, member):
    sign_in(web, member)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)

    response = web.post("/me/profile/", {"birthday": tomorrow.isoformat()})

    assert response.status_code == 200 and "future" in text_of(response)
    member.refresh_from_db()
    assert member.birthday is None


def test_it_shows_the_phone_masked_and_never_lets_it_change_here(web, member):
    sign_in(web, member)

    page = text_of(web.get("/me/profile/"))
    web.post("/me/profile/", {"name": "x", "phone": "13900000000"})

    assert "138 **** 8000" in page and "13800138000" not in page
    member.refresh_from_db()
    assert member.phone == "+8613800138000"
