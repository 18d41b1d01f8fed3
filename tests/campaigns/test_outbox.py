"""The notification outbox: dedupe, the inbox, sending with claim, retries and backoff."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import channels
from campaigns.models import Message
from campaigns.outbox import messages_recover_stuck, messages_send, notices_enqueue
from loyalty.benefits.issuing import coupon_issue
from loyalty.jobs import run_job
from loyalty.models import CouponTemplate, JobRun
from loyalty.purchases import purchase_record

pytestmark = pytest.mark.django_db


class FlakyChannel:
    name = "flaky"

    def __init__(self, fail_times=0):
        self.fail_times, self.sent = fail_times, []

    def available(self, member):
        return True

    def send(self, message):
        if self.fail_times:
            self.fail_times -= 1
            raise channels.ChannelError("errcode 45009: api freq out of limit")
        self.sent.append(message.pk)


@pytest.fixture
def flaky(monkeypatch):
    channel = FlakyChannel()
    monkeypatch.setitem(channels.CHANNELS, "flaky", channel)
    return channel


def _enqueue(member, key="k1", channels=("inbox", "flaky")):
    return notices_enqueue(
        [(member.pk, key, "标题", "正文", {})],
        event="campaign",
        channels=list(channels),
        return_ids=True,
    )


def test_the_same_notice_twice_is_one_message_per_channel(member, flaky):
    _enqueue(member)
    _enqueue(member)
    assert Message.objects.filter(member=member).count() == 2
    inbox = Message.objects.get(channel="inbox")
    assert inbox.status == "sent" and inbox.sent_at  # the inbox is delivered on write


def test_due_messages_are_sent_once(member, flaky):
    _enqueue(member)
    assert messages_send()["sent"] == 1
    assert messages_send()["sent"] == 0
    message = Message.objects.get(channel="flaky")
    assert (message.status, message.attempts, flaky.sent) == ("sent", 1, [message.pk])


def test_a_failure_is_retried_with_backoff_then_given_up(member, flaky):
    flaky.fail_times = 99
    _enqueue(member)
    now = timezone.now()
    assert messages_send(now=now)["retry"] == 1
    message = Message.objects.get(channel="flaky")
    assert message.status == "pending" and message.next_try_at == now + dt.timedelta(minutes=1)
    assert "45009" in message.last_error
    assert messages_send(now=now)["retry"] == 0  # not due yet
    for _attempt in range(2, Message.MAX_ATTEMPTS + 1):
        now += dt.timedelta(hours=2)
        messages_send(now=now)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", Message.MAX_ATTEMPTS)


def test_a_retry_succeeds(member, flaky):
    flaky.fail_times = 1
    _enqueue(member)
    now = timezone.now()
    messages_send(now=now)
    assert messages_send(now=now + dt.timedelta(minutes=2))["sent"] == 1


def test_an_unknown_channel_is_skipped_not_retried(member):
    _enqueue(member, channels=["sms_off"])
    assert messages_send()["skipped"] == 1
    assert Message.objects.get().status == "skipped"


def test_a_message_left_sending_by_a_killed_worker_goes_back(member, flaky):
    _enqueue(member)
    Message.objects.filter(channel="flaky").update(
        status="sending", next_try_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert messages_recover_stuck() == 1
    assert messages_send()["sent"] == 1


def test_loyalty_events_become_notices(member, django_capture_on_commit_callbacks):
    tpl = CouponTemplate.objects.create(
        name="立减 10 元", kind="cash", value=Decimal("10"), valid_days=7
    )
    with django_capture_on_commit_callbacks(execute=True):
        coupon, _ = coupon_issue(template=tpl, member=member)
        purchase_record(member=member, amount="600", external_ref="UP-1")  # to 银卡
    events = set(
        Message.objects.filter(member=member, channel="inbox").values_list("event", flat=True)
    )
    assert events == {"coupon_received", "points_earned", "tier_up"}
    received = Message.objects.get(event="coupon_received", channel="inbox")
    assert coupon.display_code in received.body
    assert len(Message.objects.get(event="tier_up", channel="inbox").title) <= 20


def test_the_send_job_records_a_run_only_when_it_did_something(member, flaky):
    run_job("send_messages")
    assert not JobRun.objects.exists()
    _enqueue(member)
    run_job("send_messages")
    assert JobRun.objects.get().counts["sent"] == 1


def test_messages_are_in_the_data_export_and_gone_with_the_member(member, flaky):
    from members.privacy import member_data_export
    from members.services import member_erase

    _enqueue(member)
    exported = member_data_export(member)["messages"]
    assert [m["title"] for m in exported] == ["标题"]
    assert "loyalty" in member_data_export(member)  # the loyalty section is there too
    member_erase(member=member, actor=None)
    assert not Message.objects.filter(member=member).exists()


def test_downgrades_by_the_review_job_are_notified_in_bulk(
    member, owner, django_capture_on_commit_callbacks
):
    import datetime as dt
    from zoneinfo import ZoneInfo

    import time_machine

    from loyalty.models import Tier
    from loyalty.tiers import tier_set

    sh = ZoneInfo("Asia/Shanghai")
    with time_machine.travel(dt.datetime(2026, 1, 10, 12, tzinfo=sh), tick=False):
        tier_set(member=member, tier=Tier.objects.get(name="金卡"), actor=owner)
    with (
        time_machine.travel(dt.datetime(2026, 4, 11, 0, 20, tzinfo=sh), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run_job("review_tiers")
    down = Message.objects.get(member=member, event="tier_down", channel="inbox")
    assert "银卡" in down.body


def test_a_channel_that_cannot_carry_a_message_skips_it_without_retries(member, monkeypatch):
    class NoTemplate(FlakyChannel):
        name = "notemplate"

        def send(self, message):
            raise channels.ChannelSkip("no template for campaign")

    monkeypatch.setitem(channels.CHANNELS, "notemplate", NoTemplate())
    _enqueue(member, channels=["notemplate"])
    assert messages_send()["skipped"] == 1
    message = Message.objects.get()
    assert (message.status, message.attempts, message.last_error) == (
        "skipped",
        1,
        "no template for campaign",
    )


def test_a_purchase_notice_shows_the_amount_as_stored(member):
    # The notice is written in the purchase's transaction, from the object in hand:
    # "38.5" and "1E+2" as the till sent them must read as the receipt does.
    purchase_record(member=member, amount="38.5", external_ref="AMT-1")
    purchase_record(member=member, amount="1E+2", external_ref="AMT-2")
    bodies = list(
        Message.objects.filter(member=member, channel="inbox", event="points_earned")
        .order_by("pk")
        .values_list("body", flat=True)
    )
    assert "38.50" in bodies[0] and "100.00" in bodies[1], bodies


@pytest.mark.django_db
def test_a_batch_still_sending_after_a_backlog_is_not_put_back(member):
    """A message due long ago (a backlog, a channel held for an hour) is claimed now:
    the stuck-message sweep counts from the claim, not from when it fell due."""
    import datetime as dt

    from django.utils import timezone

    from campaigns.models import Message
    from campaigns.outbox import claim, messages_recover_stuck

    long_ago = timezone.now() - dt.timedelta(hours=2)
    message = Message.objects.create(
        member=member, channel="sms", event=Message.Event.CAMPAIGN, dedupe_key="backlog:1",
        title="t", body="b", next_try_at=long_ago, created_at=long_ago,
    )  # fmt: skip
    assert [m.pk for m in claim(Message.objects.filter(pk=message.pk))] == [message.pk]
    assert messages_recover_stuck() == 0  # claimed a moment ago: still being sent
    message.refresh_from_db()
    assert message.status == Message.Status.SENDING
    later = timezone.now() + dt.timedelta(minutes=16)
    assert messages_recover_stuck(now=later) == 1  # a worker killed with it: sent again
