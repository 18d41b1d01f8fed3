"""Guides (导购) on a shop laptop (1366x768, Chinese): a clerk opens "my customers" from the
counter, filters to birthdays this month, opens a customer's card; the manager opens a
clerk's list; the owner reads the guides' report. Screenshots:
test-artifacts/my-customers*.png, guide-report.png."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.ledger import points_award
from loyalty.purchases import purchase_record
from members.models import Role
from members.services import staff_create
from tests.e2e.test_counter import PASSWORD, assert_fits_the_laptop, log_in
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _customers(store, guide, today: dt.date):
    """Eight customers of `guide`: some bought lately, one lapsed, two with birthdays this
    month, one with points about to expire."""
    now = timezone.now()
    names = ["李雷", "韩梅梅", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵敏"]
    members = []
    for n, name in enumerate(names):
        month = today.month if n in (1, 4) else (today.month % 12) + 1
        members.append(MemberFactory(name=name, phone=f"1380013{n:04d}", store=store, guide=guide,
                                     birthday=dt.date(1988 + n, month, 10 + n)))  # fmt: skip
    for n, member in enumerate(members[:6]):
        for k in range(n % 3 + 1):
            when = now - dt.timedelta(days=2 + n * 7 + k * 3)
            purchase_record(member=member, amount=Decimal(88 + n * 20), external_ref=f"p{n}-{k}",
                            occurred_at=when, now=when)  # fmt: skip
    old = now - dt.timedelta(days=200)
    purchase_record(member=members[6], amount=Decimal("120"), external_ref="old", occurred_at=old,
                    now=old)  # fmt: skip
    points_award(member=members[3], points=260, key="soon", reason="期初",
                 expires_at=now + dt.timedelta(days=9))  # fmt: skip
    return members


def test_a_clerk_sees_their_customers_and_the_owner_the_report(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    other = StoreFactory(code="SH02", name="徐汇店")
    clerk = staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store,
                         display_name="小王")  # fmt: skip
    staff_create(username="boss", password=PASSWORD, role=Role.MANAGER, store=store,
                 display_name="李店长")  # fmt: skip
    staff_create(username="owner1", password=PASSWORD, role=Role.OWNER, store=None,
                 display_name="老板")  # fmt: skip
    clerk2 = staff_create(username="clerk2", password=PASSWORD, role=Role.CLERK, store=other,
                          display_name="小李")  # fmt: skip
    members = _customers(store, clerk, timezone.localdate())
    theirs = MemberFactory(name="周杰", store=other, guide=clerk2)
    purchase_record(member=theirs, amount=Decimal("66"), external_ref="t1")
    base = live_server.url

    log_in(laptop, base, "clerk1")
    laptop.locator("#my-customers-link").click()
    laptop.wait_for_url("**/staff/my-customers/")
    table = laptop.locator("#customers")
    assert table.locator("tbody tr").count() == 8
    assert table.locator("tbody tr").first.locator("td").first.inner_text().startswith("李雷")
    assert "138 **** 0003" in table.inner_text() and "13800130003" not in table.inner_text()
    assert_fits_the_laptop(laptop)
    shot(laptop, "my-customers")

    laptop.locator("#birthday").check()
    laptop.locator("#customers-filter button").click()
    laptop.wait_for_url("**/staff/my-customers/?*birthday=1*")
    names = laptop.locator("#customers tbody tr td:first-child a").all_inner_texts()
    assert sorted(names) == ["刘洋", "韩梅梅"]
    shot(laptop, "my-customers-birthdays")

    laptop.goto(f"{base}/staff/my-customers/?expiring=1&sort=expiring")
    assert laptop.locator("#customers tbody tr").count() == 1
    assert "260" in laptop.locator("#customers tbody tr").first.inner_text()
    laptop.locator("#customers tbody tr").first.locator("a").first.click()
    laptop.wait_for_url(f"**/staff/m/{members[3].member_no}/")
    laptop.locator("#member-card").wait_for()

    laptop.context.clear_cookies()  # the manager opens the clerk's list
    log_in(laptop, base, "boss")
    laptop.goto(f"{base}/staff/my-customers/")
    laptop.locator("#guide").select_option(str(clerk.pk))
    laptop.locator("#customers-filter button").click()
    laptop.wait_for_url("**/staff/my-customers/?guide=*")
    assert "小王" in laptop.locator("#customers-title").inner_text()
    assert laptop.locator("#customers tbody tr").count() == 8
    assert_fits_the_laptop(laptop)
    shot(laptop, "my-customers-manager")

    laptop.context.clear_cookies()  # the owner's report
    log_in(laptop, base, "owner1")
    laptop.goto(f"{base}/dashboard/")
    laptop.locator("#guide-report").click()
    laptop.wait_for_url("**/dashboard/guides/*")
    rows = laptop.locator("#guide-rows tbody tr")
    assert "小王" in rows.first.inner_text() or "小王" in laptop.locator("#guide-rows").inner_text()
    assert "小李" in laptop.locator("#guide-rows").inner_text()
    assert laptop.locator("#fig-recruited .dash-figure").inner_text() == "9"
    assert_fits_the_laptop(laptop)
    shot(laptop, "guide-report")
