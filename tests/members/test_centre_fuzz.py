"""Arbitrary strings in every field of /join/ and /me/: answered, never a 500."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.models import Reward
from members.member_auth import OTP_SESSION_KEY, otp_state_for
from tests.centre import sign_in
from tests.factories import MemberFactory

# Any text, NUL bytes, control characters and astral planes included.
anything = st.text(max_size=60)
fuzz = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
pytestmark = pytest.mark.django_db


def ok(response):
    assert response.status_code < 500, response.status_code
    return response


def _pending_code(client):
    session = client.session
    session[OTP_SESSION_KEY] = otp_state_for("+8613800138000")
    session.save()


@fuzz
@given(store=anything, staff=anything, ref=anything, version=anything)
def test_link_parameters(store, staff, ref, version):
    client = Client()
    ok(client.get("/join/", {"store": store, "staff": staff, "ref": ref}))
    ok(client.get("/join/privacy-notice/", {"version": version}))


@fuzz
@given(action=anything, phone=anything)
def test_the_phone_step_of_join_and_login(action, phone):
    client = Client()
    ok(client.post("/join/", {"action": "send", "phone": phone}))
    ok(client.post("/me/login/", {"action": "send", "phone": phone}))
    ok(client.post("/join/", {"action": action, "phone": phone}))


@fuzz
@given(code=anything, name=anything, consent=anything, nxt=anything)
def test_the_code_step_of_join_and_login(code, name, consent, nxt):
    client = Client()
    _pending_code(client)
    ok(client.post("/join/", {"action": "join", "code": code, "name": name, "consent": consent}))
    _pending_code(client)
    ok(client.post("/me/login/", {"action": "login", "code": code, "next": nxt}))
    ok(client.get("/me/login/", {"next": nxt}))


@fuzz
@given(name=anything, gender=anything, birthday=anything, email=anything)
def test_the_profile(store, name, gender, birthday, email):
    client = sign_in(Client(), MemberFactory(store=store))
    data = {"name": name, "gender": gender, "birthday": birthday, "email": email}
    ok(client.post("/me/profile/", data))


@fuzz
@given(reward=anything, token=anything, status=anything, page=anything)
def test_rewards_and_coupons(store, reward, token, status, page):
    Reward.objects.get_or_create(name="帆布袋", defaults={"points_cost": 10})
    client = sign_in(Client(), MemberFactory(store=store))
    ok(client.post("/me/rewards/redeem/", {"reward": reward, "token": token}))
    ok(client.get("/me/coupons/", {"status": status, "page": page}))
    ok(client.get("/me/points/", {"page": page}))
    ok(client.get("/me/messages/", {"page": page}))


@fuzz
@given(confirm=anything)
def test_the_delete_confirmation(store, confirm):
    client = sign_in(Client(), MemberFactory(store=store))
    ok(client.post("/me/privacy/delete/", {"confirm": confirm}))


@pytest.mark.django_db
def test_superscript_digits_are_no_ids(client, owner_client):
    """ "²" is a digit to str.isdigit but not to int(): never a 500."""
    assert client.get("/join/", {"staff": "²"}).status_code == 200
    from members.numbers import is_member_no

    assert is_member_no("²" * 9) is False
    assert owner_client.get("/admin/members/privacynotice/add/", {"from": "²"}).status_code == 200
