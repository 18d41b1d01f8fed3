"""POST /api/mp/v1/login: wx.login()'s code -> code2Session (the fake WeChat) -> a session
token, and the member by the user's binding or WeChat's unionid, else null with the
registration step. WeChat's session_key never leaves the server."""

import pytest

from members.models import Member
from members.services import member_erase
from tests.factories import MemberFactory
from wechat.fake_server.wxa import login_code
from wechat.mp.models import MiniProgramToken, MiniProgramUser

from .conftest import MP_APP_ID, MP_SECRET

pytestmark = pytest.mark.django_db
OPENID, UNIONID = "oMpLogin000000000000000001", "uUnion00000000000000000001"


def test_a_new_user_gets_a_token_and_no_member_with_the_registration_step(mp):
    response = mp.login(OPENID)

    assert response.status_code == 200
    body = response.json()
    assert body["token"].startswith("mp1.") and body["token_type"] == "Bearer"
    assert body["member"] is None
    step = body["registration"]
    assert step["endpoint"] == "/api/mp/v1/register"
    assert step["privacy_notice"]["version"] and step["privacy_notice"]["paragraphs"]
    user = MiniProgramUser.objects.get(openid=OPENID)
    assert user.member is None and user.session_key  # kept, encrypted at rest
    # Only the token's hash is stored.
    stored = MiniProgramToken.objects.get(user=user)
    assert stored.token_hash == MiniProgramToken.hash(body["token"])
    assert body["token"] not in stored.token_hash
    # code2Session was asked with the mini-program's id and secret, and no access token.
    (call,) = mp.fake.received("/sns/jscode2session")
    assert call["query"]["appid"] == MP_APP_ID and call["query"]["secret"] == MP_SECRET
    assert call["query"]["grant_type"] == "authorization_code"
    assert "access_token" not in call["query"]
    assert not mp.fake.received("/cgi-bin/token")


def test_the_session_key_never_leaves_the_server(mp):
    mp.login(OPENID, UNIONID)
    session_key = MiniProgramUser.objects.get(openid=OPENID).session_key
    answers = [mp.login(OPENID, UNIONID), mp.get("/me"), mp.register("13800138000"), mp.get("/me")]
    for response in answers:
        assert session_key not in response.content.decode()
        assert b"session_key" not in response.content


def test_a_member_with_the_unionid_is_who_logs_in(mp, store):
    member = MemberFactory(phone="13800138001", store=store)
    Member.objects.filter(pk=member.pk).update(wechat_unionid=UNIONID)

    body = mp.login(OPENID, UNIONID).json()

    assert body["member"]["member_no"] == member.member_no
    assert body["registration"] is None
    assert MiniProgramUser.objects.get(openid=OPENID).member == member
    assert mp.get("/me").json()["member_no"] == member.member_no


def test_two_members_with_the_unionid_bind_neither(mp, store):
    for phone in ("13800138001", "13800138002"):
        member = MemberFactory(phone=phone, store=store)
        Member.objects.filter(pk=member.pk).update(wechat_unionid=UNIONID)

    assert mp.login(OPENID, UNIONID).json()["member"] is None


def test_a_user_who_registered_is_their_member_by_openid_next_time(mp):
    mp.login(OPENID)
    member_no = mp.register("13800138000").json()["member"]["member_no"]

    again = mp.login(OPENID)  # no unionid: the openid's binding names the member

    assert again.status_code == 200
    assert again.json()["member"]["member_no"] == member_no
    assert again.json()["token"] != mp.login(OPENID).json()["token"]  # a new token each login


def test_an_erased_member_is_not_who_logs_in(mp, store):
    mp.login(OPENID)
    mp.register("13800138000")
    member_erase(member=MiniProgramUser.objects.get(openid=OPENID).member)

    assert mp.login(OPENID).json()["member"] is None


@pytest.mark.parametrize(
    ("code", "errcode", "words"),
    [
        ("not-a-code", 40029, "not valid, has expired or was already used"),
        ("openid:", 40029, "not valid"),
    ],
)
def test_a_code_wechat_does_not_know_is_a_400_with_its_errcode_in_words(mp, code, errcode, words):
    response = mp.post("/login", {"code": code}, auth=False)

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["errcode"]) == ("invalid_code", errcode)
    assert words in body["message"] and f"errcode {errcode}" in body["message"]
    assert not MiniProgramUser.objects.exists()


def test_a_code_used_twice_is_refused_the_second_time(mp):
    code = login_code(OPENID)
    assert mp.post("/login", {"code": code}, auth=False).status_code == 200

    response = mp.post("/login", {"code": code}, auth=False)

    assert response.status_code == 400
    assert response.json()["errcode"] == 40163
    assert "already used" in response.json()["message"]
    assert MiniProgramToken.objects.count() == 1


@pytest.mark.parametrize(
    "failure",
    [{"status": 502}, {"errcode": -1}, {"delay": 2}],
    ids=["an HTTP error", "WeChat busy (-1)", "no answer in time"],
)
def test_wechat_down_is_a_503_with_retry_after(mp, failure):
    mp.fake.fail("/sns/jscode2session", **failure)

    response = mp.login(OPENID)

    assert response.status_code == 503
    assert response.json()["code"] == "wechat_unavailable"
    assert int(response["Retry-After"]) > 0
    assert not MiniProgramUser.objects.exists()
    mp.fake.heal()
    assert mp.login(OPENID).status_code == 200  # back: the next login works


def test_a_wrong_app_secret_is_wechat_refusing_the_app_a_503(mp, settings):
    settings.WECHAT_MP_APP_SECRET = "not-the-secret"

    response = mp.login(OPENID)

    assert response.status_code == 503
    assert response.json()["code"] == "wechat_unavailable"


def test_wechats_frequency_limit_is_a_429(mp):
    mp.fake.fail("/sns/jscode2session", errcode=45011)

    response = mp.login(OPENID)

    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert response["Retry-After"] == "60"


def test_without_a_mini_program_configured_logins_are_refused(mp, settings):
    settings.WECHAT_MP_APP_ID = ""

    response = mp.login(OPENID)

    assert response.status_code == 503
    assert response.json()["code"] == "mp_not_configured"
    assert not mp.fake.received("/sns/jscode2session")


@pytest.mark.parametrize(
    "body",
    [{}, {"code": ""}, {"code": "x" * 129}, {"code": 12}, {"code": None}],
    ids=["no code", "empty", "too long", "a number", "null"],
)
def test_a_bad_body_is_a_400(mp, body):
    response = mp.post("/login", body, auth=False)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert not mp.fake.received("/sns/jscode2session")


def test_a_body_that_is_not_json_is_a_400(mp):
    response = mp.client.post("/api/mp/v1/login", "{code", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_login_is_post_only(mp):
    assert mp.client.get("/api/mp/v1/login").status_code == 405
