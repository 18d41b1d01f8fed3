"""The mini-program's session tokens: they expire (MP_TOKEN_AGE), the mini-program logs
out (the token revoked), staff revoke a user's tokens in the admin, and an erased member
is nobody's member any more."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

import wechat.mp.admin  # noqa: F401 - registers the admin (wechat/admin.py imports it too)
from members.services import member_by_phone, member_erase
from wechat.mp.models import MiniProgramToken, MiniProgramUser
from wechat.mp.services import mp_member_erased, mp_tokens_prune

pytestmark = pytest.mark.django_db
OPENID = "oMpSession0000000000000001"


@pytest.fixture
def member(mp):
    mp.login(OPENID)
    mp.register("13800138000")
    return member_by_phone("13800138000")


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer mp1.forged-token-0000000000000000000000000", "Basic abc", "Bearer"],
)
def test_a_token_that_is_not_ours_is_a_401(mp, member, header):
    response = mp.client.get("/api/mp/v1/me", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_a_token_expires_after_mp_token_age(mp, member, settings):
    settings.MP_TOKEN_AGE = 3600
    mp.login(OPENID)
    assert mp.get("/me").status_code == 200

    with time_machine.travel(timezone.now() + dt.timedelta(seconds=3601), tick=False):
        response = mp.get("/me")

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert "log in again" in response.json()["message"]


def test_logout_revokes_the_token_and_only_that_one(mp, member):
    other = mp.token
    mp.login(OPENID)  # a second session (another phone)

    response = mp.post("/logout")

    assert response.status_code == 200 and response.json() == {"logged_out": True}
    refused = mp.get("/me")
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    assert mp.post("/logout").status_code == 401
    mp.token = other
    assert mp.get("/me").status_code == 200


def test_logout_needs_a_token(mp):
    response = mp.post("/logout", auth=False)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_the_token_notes_when_it_was_last_used_at_most_once_a_minute(mp, member):
    mp.get("/me")
    used = MiniProgramToken.objects.get(token_hash=MiniProgramToken.hash(mp.token)).last_used_at
    assert used is not None

    mp.get("/me")

    again = MiniProgramToken.objects.get(token_hash=MiniProgramToken.hash(mp.token)).last_used_at
    assert again == used


def test_staff_revoke_a_users_tokens_in_the_admin(mp, member, owner_client):
    mp.login(OPENID)
    user = MiniProgramUser.objects.get(openid=OPENID)
    url = "/admin/wechat/miniprogramuser/"

    listing = owner_client.get(url, {"q": member.member_no})
    assert listing.status_code == 200 and OPENID in listing.content.decode()
    assert owner_client.get(f"{url}{user.pk}/change/").status_code == 200
    response = owner_client.post(
        url, {"action": "revoke_tokens", "_selected_action": [user.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "已注销 2 个登录。" in [str(m) for m in response.context["messages"]]
    assert not MiniProgramToken.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert mp.get("/me").json()["code"] == "token_revoked"


def test_the_admin_is_for_staff_allowed_to(mp, member, clerk_client):
    assert clerk_client.get("/admin/wechat/miniprogramuser/").status_code in (302, 403)


def test_an_erased_member_is_no_ones_member_any_more(mp, member):
    member_erase(member=member)  # its member_erased receiver revokes the sessions

    response = mp.get("/me")

    assert response.status_code == 401 and response.json()["code"] == "token_revoked"
    user = MiniProgramUser.objects.get(openid=OPENID)
    assert (user.member, user.unionid, user.session_key) == (None, "", "")


def test_the_erasure_receiver_unbinds_and_revokes(mp, member):
    mp_member_erased(sender=None, member=member)

    user = MiniProgramUser.objects.get(openid=OPENID)
    assert (user.member, user.unionid, user.session_key) == (None, "", "")
    assert mp.get("/me").json()["code"] == "token_revoked"


def test_tokens_expired_a_month_ago_are_forgotten(mp, member, settings):
    settings.MP_TOKEN_AGE = 3600
    mp.login(OPENID)
    later = timezone.now() + dt.timedelta(days=30, hours=2)

    assert mp_tokens_prune(now=later - dt.timedelta(hours=2)) == 0
    assert mp_tokens_prune(now=later) == 1  # the second login's; the first lives 7 days
    assert MiniProgramToken.objects.count() == 1
