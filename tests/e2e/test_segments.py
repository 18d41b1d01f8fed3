"""The owner builds a segment in the admin: conditions, a nested OR group, the live
count and preview, save, the list with its count."""

import pytest

from campaigns.models import Segment
from loyalty.models import Card, RfmSegment
from members.models import Role
from members.services import staff_create
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_owner_builds_a_segment_with_a_live_count(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="boss", password="pass-2026-xyz", role=Role.OWNER, store=None,
                 display_name="老板")  # fmt: skip
    members = [MemberFactory(store=store, name=f"会员{n}") for n in range(12)]
    for n, member in enumerate(members):
        Card.objects.filter(member=member).update(
            lifecycle="dormant" if n % 2 else "active",
            rfm_segment=RfmSegment.IMPORTANT_WIN_BACK if n % 3 == 0 else RfmSegment.CHAMPIONS,
            total_spent=100 * n,
        )
    laptop.goto(f"{live_server.url}/accounts/login/?next=/admin/campaigns/segment/add/")
    laptop.get_by_label("用户名").fill("boss")
    laptop.get_by_label("密码").fill("pass-2026-xyz")
    laptop.get_by_role("button", name="登录").click()
    laptop.wait_for_url("**/admin/campaigns/segment/add/")
    laptop.get_by_label("名称").fill("沉睡的大客户")
    builder = laptop.locator(".segment-builder")
    shot(laptop, "segment-editor-empty")
    builder.get_by_role("button", name="+ 条件", exact=True).click()
    row = builder.locator(".segment-condition").first
    row.locator("select").first.select_option("lifecycle")
    row.locator("select").nth(2).select_option("dormant")
    count = laptop.locator("#segment-preview [data-count]")
    laptop.wait_for_function(
        "() => document.querySelector('#segment-preview [data-count]').textContent === '6'"
    )
    builder.get_by_role("button", name="+ 条件组").click()
    group = builder.locator(".segment-group .segment-group")
    group.locator(".segment-group-head select").select_option("any")
    inner = group.locator(".segment-condition").first
    inner.locator("select").first.select_option("total_spent")
    inner.locator("select").nth(1).select_option("gte")
    inner.locator("input").fill("500")
    laptop.wait_for_function(
        "() => document.querySelector('#segment-preview [data-count]').textContent === '4'"
    )
    assert count.inner_text() == "4"
    assert laptop.locator("#segment-preview tbody tr").count() == 4
    shot(laptop, "segment-editor")
    laptop.get_by_role("button", name="保存", exact=True).click()
    laptop.wait_for_url("**/admin/campaigns/segment/")
    segment = Segment.objects.get(name="沉睡的大客户")
    assert segment.member_count == 4
    assert segment.rules == {
        "all": [
            {"field": "lifecycle", "op": "eq", "value": "dormant"},
            {"any": [{"field": "total_spent", "op": "gte", "value": "500.00"}]},
        ]
    }
    shot(laptop, "segment-list")
