"""The owner's admin member list on a shop laptop (1366x768, Chinese): the card's tier,
points, spend, last purchase, lifecycle stage and RFM segment as columns, filtered by
lifecycle and store; a clerk sees the stage and segment on the counter card.
Screenshots: test-artifacts/member-list*.png, counter-card-stages.png."""

from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import Card, Lifecycle, RfmSegment, Tier
from members.models import Role
from members.services import staff_create
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pass-2026-xyz"

STAGES = [
    (Lifecycle.ACTIVE, RfmSegment.CHAMPIONS, "金卡"),
    (Lifecycle.DORMANT, RfmSegment.IMPORTANT_WIN_BACK, "银卡"),
    (Lifecycle.CHURNED, RfmSegment.GENERAL_WIN_BACK, "普通会员"),
    (Lifecycle.NEW, RfmSegment.GENERAL_DEVELOP, "普通会员"),
    (Lifecycle.PROSPECT, "", "普通会员"),
]


def _crowd(stores):
    # The data migration's tiers, gone if an earlier transactional test flushed them.
    names = ["普通会员", "银卡", "金卡"]
    tiers = {
        name: Tier.objects.get_or_create(name=name, defaults={"level": level})[0]
        for level, name in enumerate(names, start=1)
    }
    now = timezone.now()
    members = []
    for n in range(10):
        lifecycle, rfm, tier = STAGES[n % len(STAGES)]
        member = MemberFactory(name=f"会员{n}", store=stores[n % 2], phone=f"1380013{n:04d}")
        bought = lifecycle != Lifecycle.PROSPECT
        Card.objects.filter(pk=member.pk).update(
            tier=tiers[tier],
            lifecycle=lifecycle,
            rfm_segment=rfm,
            points_balance=100 * n if bought else 0,
            total_spent=Decimal(380 * n) if bought else Decimal(0),
            last_purchase_at=now - timezone.timedelta(days=9 * n) if bought else None,
        )
        members.append(member)
    return members


def test_the_owner_filters_the_member_list_by_lifecycle_and_store(live_server, laptop, shot):
    stores = [
        StoreFactory(code="SH01", name="静安旗舰店"),
        StoreFactory(code="SH02", name="徐汇店"),
    ]
    staff_create(username="boss", password=PASSWORD, role=Role.OWNER, store=None)
    _crowd(stores)

    base = live_server.url
    laptop.goto(f"{base}/admin/login/?next=/admin/members/member/")
    laptop.get_by_label("用户名").fill("boss")
    laptop.get_by_label("密码").fill(PASSWORD)
    laptop.get_by_role("button", name="登录").click()
    laptop.wait_for_url(f"{base}/admin/members/member/")
    table = laptop.locator("#result_list")
    for title in ("等级", "积分余额", "累计消费", "最近消费时间", "生命周期阶段"):
        assert title in table.locator("thead").inner_text(), title
    assert table.locator("tbody tr").count() == 10
    shot(laptop, "member-list")

    laptop.locator("#changelist-filter").get_by_role("link", name="沉睡", exact=True).click()
    laptop.wait_for_url("**card__lifecycle__exact=dormant**")
    assert table.locator("tbody tr").count() == 2
    laptop.locator("#changelist-filter").get_by_role("link", name="徐汇店").click()
    laptop.wait_for_url("**store__id__exact=**")
    rows = table.locator("tbody tr")
    assert rows.count() == 1
    assert "沉睡" in rows.first.inner_text() and "徐汇店" in rows.first.inner_text()
    # With the admin's menu folded away (its « button) the whole row fits the laptop.
    laptop.locator("#toggle-nav-sidebar").click()
    width = laptop.evaluate("document.querySelector('#result_list').scrollWidth")
    assert width <= laptop.evaluate("document.querySelector('.results').clientWidth")
    shot(laptop, "member-list-filtered")


def test_a_clerk_sees_the_stage_and_segment_on_the_card(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store)
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    Card.objects.filter(pk=member.pk).update(
        lifecycle=Lifecycle.DORMANT,
        rfm_segment=RfmSegment.IMPORTANT_WIN_BACK,
        rfm_r=2,
        rfm_f=3,
        rfm_m=5,
        total_spent=Decimal("2345.60"),
        last_purchase_at=timezone.now() - timezone.timedelta(days=120),
    )

    base = live_server.url
    laptop.goto(f"{base}/accounts/login/")
    laptop.get_by_label("用户名").fill("clerk1")
    laptop.get_by_label("密码").fill(PASSWORD)
    laptop.get_by_role("button", name="登录").click()
    laptop.wait_for_url(f"{base}/staff/")
    search = laptop.locator("input[name=q]")
    search.fill("13800138000")
    search.press("Enter")
    laptop.locator("#member-card").wait_for()
    assert laptop.locator("#member-lifecycle").inner_text() == "沉睡"
    assert laptop.locator("#member-rfm").inner_text() == "重要挽留客户"
    assert "¥2345.60" in laptop.locator("#member-spend").inner_text()
    shot(laptop, "counter-card-stages")
