"""POST /api/mp/v1/register: the phone button's code -> getuserphonenumber (the fake
WeChat, with the mini-program's access token) -> /join/'s service: a new phone is a new
member, a member's phone binds to that member (never a second one)."""

import pytest
from django.utils import timezone

from loyalty.models import Card
from members.models import Member, PrivacyNotice
from members.privacy import current_notice
from members.services import member_by_phone, member_referral_code
from tests.factories import MemberFactory
from wechat.fake_server.wxa import phone_code
from wechat.mp.models import MiniProgramUser

from .conftest import MP_APP_ID

pytestmark = pytest.mark.django_db
OPENID, UNIONID = "oMpRegister000000000000001", "uUnionRegister000000000001"
PHONE = "13800138000"


def test_a_new_phone_registers_a_member_bound_to_the_user(mp, store):
    mp.login(OPENID, UNIONID)

    response = mp.register(PHONE, name="韩梅梅", store=store.code, marketing_consent=True)

    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True and body["member"]["name"] == "韩梅梅"
    member = member_by_phone(PHONE)
    assert member.member_no == body["member"]["member_no"]
    assert (member.store, member.source, member.marketing_consent) == (store, "qr", True)
    assert member.consent_version == current_notice().version and member.consent_at
    assert member.wechat_unionid == UNIONID  # WeChat gave one; the member had none
    assert MiniProgramUser.objects.get(openid=OPENID).member == member
    # The number came from WeChat, asked with the mini-program's own access token.
    (call,) = mp.fake.received("/wxa/business/getuserphonenumber")
    assert call["method"] == "POST" and call["body"]["code"].startswith("phone:")
    assert call["query"]["access_token"] == mp.fake.app_tokens[MP_APP_ID]
    # Now a member: the member endpoints answer.
    assert mp.get("/me").json()["member_no"] == member.member_no


def test_a_members_phone_binds_that_member_and_registers_nobody(mp, store):
    member = MemberFactory(phone=PHONE, name="李雷", store=store)
    Member.objects.filter(pk=member.pk).update(wechat_unionid="uAnotherUnion")
    mp.login(OPENID, UNIONID)

    response = mp.register(PHONE, name="Someone else")

    assert response.status_code == 200
    tier = Card.objects.select_related("tier").get(pk=member.pk).tier
    assert response.json() == {
        "member": {
            "member_no": member.member_no,
            "name": "李雷",
            "tier": {"name": tier.name, "level": tier.level},
        },
        "created": False,
    }
    assert Member.objects.count() == 1
    member.refresh_from_db()
    assert member.wechat_unionid == "uAnotherUnion"  # one the member had stays
    assert MiniProgramUser.objects.get(openid=OPENID).member == member


def test_a_user_already_a_member_gets_their_member_and_wechat_is_not_asked(mp):
    mp.login(OPENID)
    first = mp.register(PHONE).json()

    again = mp.register("13800138009")

    assert again.status_code == 200
    assert again.json() == {**first, "created": False}
    assert len(mp.fake.received("/wxa/business/getuserphonenumber")) == 1
    assert member_by_phone("13800138009") is None


def test_a_guide_and_a_referrer_count_as_on_join(mp, store, clerk):
    referrer = MemberFactory(phone="13800138111", store=store)
    mp.login(OPENID)
    response = mp.register(PHONE, guide=str(clerk.pk), ref=member_referral_code(referrer))

    assert response.status_code == 201
    member = member_by_phone(PHONE)
    assert (member.guide, member.store, member.referred_by) == (clerk, store, referrer)


def test_unknown_store_guide_and_referral_code_are_ignored_as_on_join(mp):
    mp.login(OPENID)

    response = mp.register(PHONE, store="NOPE", guide="999999", ref="ZZZZZZ")

    assert response.status_code == 201
    member = member_by_phone(PHONE)
    assert (member.store, member.guide, member.referred_by) == (None, None, None)


@pytest.mark.parametrize("code", ["phone:12345", "nonsense", "phone:"])
def test_a_phone_code_wechat_does_not_know_is_a_400_with_its_errcode(mp, code):
    mp.login(OPENID)

    response = mp.post("/register", {"phone_code": code})

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["errcode"]) == ("invalid_phone_code", 40029)
    assert "errcode 40029" in body["message"]
    assert not Member.objects.exists()


def test_a_phone_code_works_once(mp):
    code = phone_code(PHONE)
    mp.login(OPENID)
    assert mp.post("/register", {"phone_code": code}).status_code == 201
    mp.login("oMpSomeoneElse000000000001")

    response = mp.post("/register", {"phone_code": code})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_phone_code"
    assert MiniProgramUser.objects.get(openid="oMpSomeoneElse000000000001").member is None


def test_an_older_privacy_notice_is_refused_before_the_code_is_used(mp):
    old = current_notice().version
    PrivacyNotice.objects.create(
        version="2027-01", title="新隐私政策", body="第一段", published_at=timezone.now()
    )
    mp.login(OPENID)
    code = phone_code(PHONE)

    response = mp.post("/register", {"phone_code": code, "consent_version": old})

    assert response.status_code == 409
    assert response.json()["code"] == "privacy_notice_changed"
    assert response.json()["notice_version"] == "2027-01"
    assert not mp.fake.received("/wxa/business/getuserphonenumber")
    # The same code with the new version: it was not used up.
    again = mp.post("/register", {"phone_code": code, "consent_version": "2027-01"})
    assert again.status_code == 201
    assert member_by_phone(PHONE).consent_version == "2027-01"


def test_an_expired_access_token_is_fetched_again_once(mp):
    mp.login(OPENID)
    mp.register("13800138001")  # the mini-program's token is fetched
    mp.fake.expire_token()
    mp.login("oMpSomeoneElse000000000001")

    response = mp.register(PHONE)

    assert response.status_code == 201
    assert len(mp.fake.received("/cgi-bin/token")) == 2


def test_wechat_down_is_a_503_and_nobody_registers(mp):
    mp.login(OPENID)
    mp.fake.fail("/wxa/business/getuserphonenumber", status=500)

    response = mp.register(PHONE)

    assert response.status_code == 503
    assert response.json()["code"] == "wechat_unavailable" and response["Retry-After"]
    assert not Member.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"phone_code": ""}, {"phone_code": "phone:13800138000", "name": "x" * 51},
     {"phone_code": "phone:13800138000", "name": "a\u0000b"}],
    ids=["no code", "empty code", "a long name", "NUL in the name"],
)  # fmt: skip
def test_a_bad_body_is_a_400_and_wechat_is_not_asked(mp, body):
    mp.login(OPENID)

    response = mp.post("/register", body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert not mp.fake.received("/wxa/business/getuserphonenumber")


def test_registering_needs_a_login(mp):
    response = mp.register(PHONE)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert not Member.objects.exists()
