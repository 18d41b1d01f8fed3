"""The WeChat template-message channel of the outbox, against the fake server."""

import pytest

from campaigns.channels import CHANNELS
from campaigns.models import Message
from campaigns.outbox import messages_send, notices_enqueue
from tests.factories import MemberFactory
from wechat.channels import WeChatTemplateChannel, fit
from wechat.models import Follower, TemplateText

from .conftest import OPENID

pytestmark = pytest.mark.django_db
SEND = "/cgi-bin/message/template/send"


@pytest.fixture
def follower(fake, store):
    member = MemberFactory(store=store)
    member.__class__.objects.filter(pk=member.pk).update(wechat_openid=OPENID)
    Follower.objects.create(openid=OPENID, subscribed=True)
    member.refresh_from_db()
    return member


def enqueue(
    member, event="points_earned", key="k1", title="积分到账", body="消费 88.00 元，获得 88 积分"
):
    return notices_enqueue(
        [(member.pk, key, title, body, {})], event=event, channels=["wechat"], return_ids=True
    )


def test_the_wechat_app_registers_its_channel():
    assert isinstance(CHANNELS["wechat"], WeChatTemplateChannel)


def test_a_notice_goes_out_as_a_template_message(follower, fake):
    TemplateText.objects.create(event="points_earned", first="您好，积分有变动", remark="感谢光临")
    enqueue(follower)

    assert messages_send()["sent"] == 1

    body = fake.received(SEND)[0]["body"]
    assert body["touser"] == OPENID and body["template_id"] == "tpl-points_earned"
    assert body["data"]["first"]["value"] == "您好，积分有变动"
    assert body["data"]["keyword2"]["value"] == "消费 88.00 元，获得 88 积分"
    assert body["data"]["remark"]["value"] == "感谢光临"
    assert body["url"].endswith("/me/messages/")
    assert all(len(field["value"]) <= 20 for field in body["data"].values())


def test_long_texts_are_cut_to_wechats_twenty_characters(follower, fake):
    enqueue(follower, body="很长的正文" * 10)
    messages_send()

    value = fake.received(SEND)[0]["body"]["data"]["keyword2"]["value"]
    assert len(value) == 20 and value.endswith("…")
    assert fit("a  b\nc") == "a b c"


def test_the_welcome_tells_the_gift_within_the_twenty_characters(follower, fake, settings):
    """The welcome's body opens with the greeting and the member number: cut to 20
    characters the gift would be lost; its short form tells the gift instead."""
    from campaigns.notices import welcome
    from loyalty.benefits.issuing import coupon_issue
    from loyalty.models import Coupon, CouponTemplate

    template = CouponTemplate.objects.create(name="满50减10", kind="cash", value="10", valid_days=7)
    coupon, _created = coupon_issue(
        template=template, member=follower, source=Coupon.Source.WELCOME
    )
    settings.NOTICE_CHANNELS = ["inbox", "wechat"]
    welcome(None, member=follower, points=100, coupon=coupon)
    messages_send()

    data = fake.received(SEND)[0]["body"]["data"]
    assert data["keyword2"]["value"] == "入会礼：100 积分 + 满50减10"
    message = Message.objects.get(event="welcome", member=follower, channel="inbox")
    assert "100" in message.body and "满50减10" in message.body  # the inbox: the whole text

    # A long coupon name: the gift itself first, without the "welcome gift" label.
    template.name = "秋季新品拿铁买一送一限时特惠券"
    template.save()
    coupon.refresh_from_db()
    Message.objects.all().delete()
    welcome(None, member=follower, points=100, coupon=coupon)
    messages_send()
    value = fake.received(SEND)[-1]["body"]["data"]["keyword2"]["value"]
    assert value.startswith("100 积分 + 秋季新品") and len(value) == 20


def test_template_texts_longer_than_twenty_characters_are_refused(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        TemplateText(event="welcome", first="一" * 21).full_clean()


def test_a_member_without_openid_or_who_unfollowed_is_skipped(follower, fake, store):
    stranger = MemberFactory(store=store)
    Follower.objects.filter(openid=OPENID).update(subscribed=False)
    enqueue(follower, key="a")
    enqueue(stranger, key="b")

    assert messages_send()["skipped"] == 2
    assert not fake.received(SEND)


def test_an_invalid_token_is_refreshed_and_the_message_sent(follower, fake):
    from wechat import client

    client.user_info(OPENID)  # a token in the cache that WeChat then invalidates
    fake.fail(SEND, errcode=40001)
    enqueue(follower)

    assert messages_send()["sent"] == 1
    assert fake.tokens_issued == 2 and len(fake.received(SEND)) == 2


@pytest.mark.parametrize("failure", [{"errcode": 45009}, {"delay": 1.5}])
def test_rate_limits_and_timeouts_are_retried_later(follower, fake, failure):
    fake.fail(SEND, **failure)
    enqueue(follower)

    assert messages_send()["retry"] == 1
    message = Message.objects.get(channel="wechat")
    assert message.status == "pending" and message.attempts == 1 and message.last_error

    assert messages_send(now=message.next_try_at)["sent"] == 1


def test_a_follower_who_left_is_marked_and_the_retry_skipped(follower, fake):
    fake.fail(SEND, errcode=43004)
    enqueue(follower)

    assert messages_send()["retry"] == 1
    assert not Follower.objects.get(openid=OPENID).subscribed
    message = Message.objects.get(channel="wechat")
    assert messages_send(now=message.next_try_at)["skipped"] == 1


def test_a_notice_the_owner_switched_off_for_wechat_is_not_sent(follower, fake):
    TemplateText.objects.create(event="points_earned", enabled=False)
    enqueue(follower)

    messages_send()
    assert not fake.received(SEND)
