"""No English on the Chinese admin and 360 page in Chromium (issue 24): the admin's
index and sidebar list the merchant's sections first, the coupon template's tier and tag
pickers (Django's JavaScript catalog) speak Chinese, the job runs and messages are named,
and the member 360 timeline tells what staff did in sentences. The text checked is what
the browser shows (innerText). Screenshots: test-artifacts/no-english-*.png."""

import secrets
from decimal import Decimal

import pytest

from loyalty import jobs, rules
from loyalty.counter.services import counter_purchase
from loyalty.ledger import points_adjust
from loyalty.models import LoyaltySettings, Tier
from members.models import Role
from members.services import staff_create
from tests.factories import MemberFactory, StoreFactory, TagFactory
from tests.test_no_english import CODE, ENGLISH, RAW_DIFF

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pass-2026-xyz"


def english_in(page) -> list[str]:
    lines = page.evaluate("() => document.body.innerText").splitlines()
    return [
        line for line in lines if ENGLISH.search(line) or CODE.search(line) or RAW_DIFF.search(line)
    ]


def test_the_admin_and_the_360_page_are_chinese(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="boss", password=PASSWORD, role=Role.OWNER, store=None)
    clerk = staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store)
    if not Tier.objects.exists():  # the data migration's, unless a flush removed them
        Tier.objects.create(level=1, name="普通会员")
        Tier.objects.create(level=2, name="银卡", qualify_threshold=1000)
    TagFactory(name="咖啡控")
    LoyaltySettings.current()  # the row exists (a flushed database has none)
    LoyaltySettings.objects.update(spend_needs_dynamic_code=False)
    rules.forget()
    member = MemberFactory(store=store, name="韩梅梅")
    points_adjust(member=member, delta=500, reason="开卡赠送", actor=clerk)
    counter_purchase(member=member, actor=clerk, store=store, amount=Decimal("268.50"),
                     token=secrets.token_urlsafe(9), points_to_use=100)  # fmt: skip
    for name in ("expire_points", "send_messages"):
        jobs.run_job(name)
    base, page = live_server.url, laptop

    page.goto(f"{base}/accounts/login/?next=/admin/")
    page.get_by_label("用户名").fill("boss")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/admin/")
    sections = page.locator("#content-main caption").all_inner_texts()
    assert sections[:4] == ["会员", "会员权益", "营销活动", "微信"], sections
    assert sections[-2:] == ["登录保护", "任务队列"], sections
    assert english_in(page) == []
    shot(page, "no-english-admin-index")

    # The two-box pickers: their texts come from the admin's JavaScript catalog.
    page.goto(f"{base}/admin/loyalty/coupontemplate/add/")
    page.locator(".selector-available").first.wait_for()
    picker = page.locator(".selector").first.inner_text()
    assert "选中会员等级" in picker and "全选" in picker, picker
    assert "Choose" not in picker and "Remove" not in picker
    shot(page, "no-english-coupon-template-pickers")

    page.goto(f"{base}/admin/loyalty/jobrun/")
    assert "过期积分清零" in page.locator("#result_list").inner_text()
    assert english_in(page) == []
    shot(page, "no-english-job-runs")

    page.goto(f"{base}/admin/campaigns/message/")
    assert "会员中心消息" in page.locator("#result_list").inner_text()
    assert english_in(page) == []
    shot(page, "no-english-messages")

    page.goto(f"{base}/staff/members/{member.member_no}/")
    timeline = page.locator("#timeline").inner_text()
    assert "记录消费 ¥268.50" in timeline and "使用 100 积分" in timeline, timeline
    assert "积分调整 +500" in timeline
    assert english_in(page) == []
    shot(page, "no-english-member-360")
