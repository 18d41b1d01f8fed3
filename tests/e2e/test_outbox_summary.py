"""The owner reads, at the top of 管理 → 消息, what the outbox is waiting on after WeChat
had a bad hour: how many notices wait per channel, how many were given up, the oldest,
and why, in Chinese. Screenshot: test-artifacts/outbox-summary.png."""

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import Message
from members.models import Role
from members.services import staff_create
from tests.e2e.test_counter import PASSWORD, assert_fits_the_laptop, log_in
from tests.factories import MemberFactory, StoreFactory
from wechat.client import REASON_BUSY, REASON_QUOTA, REASON_TIMEOUT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _notice(member, n, *, status, reason="", ago=dt.timedelta(minutes=30), channel="wechat"):
    now = timezone.now()
    Message.objects.create(
        member=member, channel=channel, event=Message.Event.POINTS_EARNED,
        dedupe_key=f"e2e:{n}:{channel}", title="积分到账", body="您获得 25 积分",
        status=status, attempts=2 if reason else 0, last_error=reason,
        created_at=now - ago, next_try_at=now + dt.timedelta(minutes=4),
    )  # fmt: skip


def test_the_owner_sees_what_waits_and_why(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="owner1", password=PASSWORD, role=Role.OWNER, store=None,
                 display_name="老板")  # fmt: skip
    members = [MemberFactory(store=store, phone=f"1390014{n:04d}") for n in range(12)]
    for n, member in enumerate(members[:6]):
        _notice(member, n, status=Message.Status.PENDING, reason=REASON_TIMEOUT,
                ago=dt.timedelta(hours=1, minutes=n))  # fmt: skip
    for n, member in enumerate(members[6:9], start=6):
        _notice(member, n, status=Message.Status.PENDING, reason=REASON_BUSY)
    _notice(members[9], 9, status=Message.Status.FAILED, reason=REASON_QUOTA)
    _notice(members[10], 10, status=Message.Status.PENDING, channel="sms")
    _notice(members[11], 11, status=Message.Status.SENT)

    log_in(laptop, live_server.url, "owner1")
    laptop.goto(f"{live_server.url}/admin/campaigns/message/")
    summary = laptop.locator("#outbox-summary")
    text = summary.inner_text()
    assert "等待发送的通知" in text
    assert "微信未及时响应" in text and "微信系统繁忙" in text
    rows = {
        row.locator("td,th").first.inner_text(): row.locator("td").all_inner_texts()
        for row in summary.locator("tbody tr").all()
    }
    assert rows["全部渠道"] == ["10", "1"]  # waiting, given up in the last 24 hours
    assert "1\xa0小时" in text  # the oldest waits since an hour and more
    assert_fits_the_laptop(laptop)
    shot(laptop, "outbox-summary")
