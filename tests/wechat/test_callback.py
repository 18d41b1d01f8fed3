"""/wechat/callback/: signature, freshness, safe mode, dedupe, events and keywords."""

import time
from urllib.parse import urlencode

import pytest
import xmltodict
from django.utils import translation
from django.utils.translation import gettext
from wechatpy.crypto import WeChatCrypto

from loyalty.ledger import points_award
from loyalty.models import CheckIn
from members.models import Role
from members.services import staff_create
from tests.factories import MemberFactory
from wechat.models import Callback, Follower, QrScene

from .conftest import AES_KEY, APP_ID, OPENID, TOKEN, fixture_xml, signed_query

pytestmark = pytest.mark.django_db
URL = "/wechat/callback/"


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def post(web, xml: str, query: dict | None = None):
    query = query or signed_query()
    return web.post(f"{URL}?{urlencode(query)}", xml.encode(), content_type="text/xml")


def reply_text(response) -> str:
    return xmltodict.parse(response.content)["xml"]["Content"]


def event(name: str, **values) -> str:
    values.setdefault("openid", OPENID)
    values.setdefault("create_time", str(int(time.time())))
    return fixture_xml(name, **values)


def test_get_echoes_when_the_signature_is_right(web, fake):
    response = web.get(URL, {**signed_query(), "echostr": "e123"})

    assert response.status_code == 200 and response.content == b"e123"


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_signature_is_403(web, fake, method):
    query = {**signed_query(token="not-the-token"), "echostr": "e"}

    if method == "get":
        response = web.get(f"{URL}?{urlencode(query)}")
    else:
        response = post(web, "<xml/>", query)

    assert response.status_code == 403
    assert not Follower.objects.exists()


def test_a_stale_timestamp_is_403_even_when_signed(web, fake):
    query = signed_query(timestamp=int(time.time()) - 3600)

    assert post(web, event("subscribe.xml"), query).status_code == 403


def test_other_methods_are_405(web, fake):
    assert web.put(f"{URL}?{urlencode(signed_query())}").status_code == 405


def test_subscribe_records_the_follower_and_answers_the_join_link(web, fake, on_commit):
    with on_commit(execute=True):
        response = post(web, event("subscribe.xml"))

    assert response.status_code == 200
    assert "/join/" in reply_text(response)
    follower = Follower.objects.get(openid=OPENID)
    assert follower.subscribed and follower.store is None
    # The slow part (asking WeChat about the follower) ran as a task after the commit.
    assert fake.received("/cgi-bin/user/info")[0]["query"]["openid"] == OPENID


def test_a_qr_scene_attributes_the_follower_to_its_store_and_staff(web, fake, store):
    clerk = staff_create(username="c1", password="x-pass-2026", role=Role.CLERK, store=store)
    QrScene.objects.create(scene="SH01-c1", name="静安店 小王", store=store, staff=clerk)

    response = post(web, event("subscribe_qrscene.xml", scene="SH01-c1"))

    follower = Follower.objects.get(openid=OPENID)
    assert (follower.store, follower.staff, follower.scene.scene) == (store, clerk, "SH01-c1")
    assert f"/join/?store=SH01&amp;staff={clerk.pk}" in response.content.decode() or (
        f"/join/?store=SH01&staff={clerk.pk}" in reply_text(response)
    )


def test_the_same_event_retried_is_handled_once_and_still_answered(web, fake, on_commit):
    xml = event("subscribe.xml")

    with on_commit(execute=True):
        first, second, third = post(web, xml), post(web, xml), post(web, xml)

    assert first.status_code == second.status_code == third.status_code == 200
    assert second.content == third.content == b"success"
    assert Callback.objects.count() == 1
    assert len(fake.received("/cgi-bin/user/info")) == 1


def test_unsubscribe_stops_wechat_messages(web, fake):
    post(web, event("subscribe.xml", create_time="1764200000"))
    response = post(web, event("unsubscribe.xml"))

    assert response.content == b"success"
    follower = Follower.objects.get(openid=OPENID)
    assert not follower.subscribed and follower.unsubscribed_at


def _member(store):
    member = MemberFactory(store=store)
    member.__class__.objects.filter(pk=member.pk).update(wechat_openid=OPENID)
    member.refresh_from_db()
    return member


def test_text_points_answers_the_balance(web, fake, store):
    member = _member(store)
    points_award(member=member, points=120, key="t", reason="test")

    response = post(web, event("text.xml", content="积分", msg_id="6054768590064713728"))

    assert "120" in reply_text(response)


def test_text_member_answers_the_card_link(web, fake, store):
    member = _member(store)

    response = post(web, event("text.xml", content="会员", msg_id="6054768590064713729"))

    assert member.member_no in reply_text(response) and "/me/" in reply_text(response)


def test_text_checkin_checks_in_once_even_when_the_message_is_retried(web, fake, store):
    member = _member(store)
    xml = event("text.xml", content="签到", msg_id="6054768590064713730")

    first = post(web, xml)
    post(web, xml)
    again = post(web, event("text.xml", content="签到", msg_id="6054768590064713731"))

    assert "+" in reply_text(first)
    assert CheckIn.objects.filter(member=member).count() == 1
    with translation.override("zh-hans"):  # replies speak the site's language
        assert reply_text(again) == gettext("You have already checked in today.")


def test_the_checkin_menu_button_checks_in(web, fake, store):
    member = _member(store)

    post(web, event("click.xml", key="CHECKIN"))

    assert CheckIn.objects.filter(member=member).count() == 1


def test_a_stranger_asking_for_points_is_sent_to_join(web, fake):
    response = post(web, event("text.xml", content="积分", msg_id="1"))

    assert "/join/" in reply_text(response)


def test_view_and_unknown_texts_answer_success(web, fake):
    assert post(web, event("view.xml")).content == b"success"
    assert post(web, event("text.xml", content="你好", msg_id="2")).content == b"success"


# --- safe mode (AES) ---------------------------------------------------------------------


@pytest.fixture
def safe(fake, settings):
    settings.WECHAT_AES_KEY = AES_KEY
    return WeChatCrypto(TOKEN, AES_KEY, APP_ID)


def _encrypted(crypto, xml: str, nonce="n0nce"):
    envelope = crypto.encrypt_message(xml, nonce, str(int(time.time())))
    fields = xmltodict.parse(envelope)["xml"]
    query = {**signed_query(timestamp=int(fields["TimeStamp"]), nonce=nonce),
             "encrypt_type": "aes", "msg_signature": fields["MsgSignature"]}  # fmt: skip
    return envelope, query


def test_safe_mode_decrypts_and_answers_encrypted(web, safe, store):
    _member(store)
    envelope, query = _encrypted(safe, event("text.xml", content="会员", msg_id="3"))

    response = post(web, envelope, query)

    assert response.status_code == 200
    fields = xmltodict.parse(response.content)["xml"]
    plain = safe.decrypt_message(response.content, fields["MsgSignature"], fields["TimeStamp"],
                                 fields["Nonce"])  # fmt: skip
    assert "/me/" in xmltodict.parse(plain)["xml"]["Content"]


def test_safe_mode_refuses_a_forged_msg_signature(web, safe):
    envelope, query = _encrypted(safe, event("subscribe.xml"))
    query["msg_signature"] = "0" * 40

    assert post(web, envelope, query).status_code == 403
    assert not Follower.objects.exists()


def test_safe_mode_refuses_plain_messages(web, safe):
    assert post(web, event("subscribe.xml")).status_code == 403
