"""OAuth (snsapi_base) inside WeChat: /join/ and /me/ bind the visitor's openid."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from campaigns.models import Message
from campaigns.outbox import messages_send
from members.models import Member
from tests.centre import join
from tests.factories import MemberFactory
from wechat.models import Follower
from wechat.oauth import OPENID_KEY

from .conftest import OPENID

pytestmark = pytest.mark.django_db
UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323c) NetType/WIFI"
)


@pytest.fixture
def wx(db):
    return Client(headers={"Accept-Language": "en", "User-Agent": UA})


def through_wechat(wx, path: str, openid: str = OPENID):
    """Open `path` in WeChat: our redirect, WeChat's authorize page (the fake), back to us."""
    to_wechat = wx.get(path)
    assert to_wechat.status_code == 302 and "/connect/oauth2/authorize" in to_wechat["Location"]
    back = requests.get(to_wechat["Location"], params={"openid": openid},
                        allow_redirects=False, timeout=5)  # fmt: skip
    assert back.status_code == 302
    parts = urlsplit(back.headers["Location"])
    return wx.get(parts.path, parse_qs(parts.query)), parse_qs(parts.query)


def test_outside_wechat_join_does_not_redirect(web, fake):
    assert web.get("/join/").status_code == 200


def test_join_in_wechat_binds_the_openid_to_the_new_member(wx, fake, store):
    landing, _query = through_wechat(wx, "/join/?store=SH01")
    assert landing.status_code == 302 and landing["Location"] == "/join/?store=SH01"
    assert wx.session[OPENID_KEY] == OPENID

    assert wx.get("/join/?store=SH01").status_code == 200  # no second trip to WeChat
    join(wx, "13912340001", url="/join/?store=SH01")

    assert Member.objects.get(phone_last4="0001").wechat_openid == OPENID


def test_the_welcome_notice_reaches_wechat_after_registration(
    wx, fake, store, settings, django_capture_on_commit_callbacks
):
    settings.NOTICE_CHANNELS = ["inbox", "wechat"]
    through_wechat(wx, "/join/?store=SH01")
    with django_capture_on_commit_callbacks(execute=True):
        join(wx, "13912340002", url="/join/?store=SH01")

    messages_send()

    message = Message.objects.get(channel="wechat", event="welcome")
    assert message.status == "sent"
    sent = {
        s["body"]["template_id"]: s["body"] for s in fake.received("/cgi-bin/message/template/send")
    }
    assert sent["tpl-welcome"]["touser"] == OPENID
    assert Follower.objects.filter(openid=OPENID, subscribed=True).exists()


def test_a_code_used_twice_is_handled_not_a_500(wx, fake):
    landing, query = through_wechat(wx, "/join/")
    again = wx.get("/wechat/oauth/", query)  # the browser reloads the return URL

    assert landing.status_code == again.status_code == 302


def test_a_spent_code_in_a_fresh_session_carries_on_without_binding(wx, fake):
    _landing, query = through_wechat(wx, "/join/")
    other = Client(headers={"User-Agent": UA})
    other.get("/join/")  # its own state
    state = other.session["_wechat_oauth_state"]

    response = other.get("/wechat/oauth/", {"code": query["code"][0], "state": state})

    assert response.status_code == 302 and response["Location"] == "/join/"
    assert OPENID_KEY not in other.session
    assert other.get("/join/").status_code == 200  # no loop back to WeChat


def test_a_forged_state_is_ignored(wx, fake):
    wx.get("/join/")
    response = wx.get("/wechat/oauth/", {"code": "abc", "state": "forged"})

    assert response.status_code == 302 and OPENID_KEY not in wx.session
    assert not fake.received("/sns/oauth2/access_token")


def test_a_bound_member_opening_me_in_wechat_is_signed_in(wx, fake, store):
    member = MemberFactory(store=store)
    Member.objects.filter(pk=member.pk).update(wechat_openid=OPENID)

    landing, _query = through_wechat(wx, "/me/login/?next=/me/")

    assert landing["Location"] == "/me/login/?next=/me/"
    assert wx.get(landing["Location"])["Location"] == "/me/"
    assert wx.get("/me/").status_code == 200


def test_one_openid_per_member(wx, fake, store):
    first = MemberFactory(store=store)
    Member.objects.filter(pk=first.pk).update(wechat_openid=OPENID)
    other = MemberFactory(store=store, phone="13912340003")

    from wechat.services import member_wechat_bind

    assert not member_wechat_bind(member=other, openid=OPENID)
    assert not member_wechat_bind(member=Member.objects.get(pk=first.pk), openid="o-else")
    assert Member.objects.get(pk=other.pk).wechat_openid is None
    assert Member.objects.get(pk=first.pk).wechat_openid == OPENID
