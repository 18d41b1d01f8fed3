"""The guides' (导购) report (/dashboard/guides/): per guide and store, members recruited,
their purchases and revenue net of refunds, coupons redeemed and the repurchase rate over
a range of Shanghai days, checked against a plain Python count; store scope; the CSV."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from campaigns.guide_report import guide_figures
from loyalty.benefits.issuing import coupon_issue
from loyalty.models import Coupon, Purchase, Refund
from loyalty.purchases import purchase_record, purchase_refund
from members.models import Member, Role
from members.services import staff_create
from tests.conftest import PASSWORD
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import english, template

pytestmark = pytest.mark.django_db
URL = reverse("dashboard:guides")
SH = ZoneInfo("Asia/Shanghai")
D = Decimal
MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def member(when, **fields):
    with time_machine.travel(when, tick=False):
        return MemberFactory(created_at=when, **fields)


def buy(who, when, amount, ref, **extra):
    with time_machine.travel(when, tick=False):
        return purchase_record(member=who, amount=D(amount), external_ref=ref, **extra)[0]


@pytest.fixture
def guides(store, other_store, clerk, manager):
    """Members of two guides in `store`, one in `other_store`, and one without a guide;
    purchases, a refund and a coupon around March 2026's edges."""
    clerk.staff_profile.display_name = "小王"
    clerk.staff_profile.save()
    clerk2 = staff_create(username="clerk2", password=PASSWORD, role=Role.CLERK, store=other_store)
    idle = staff_create(username="idle", password=PASSWORD, role=Role.CLERK, store=store)
    a = member(at(2026, 3, 2, 10), store=store, guide=clerk)
    b = member(at(2026, 1, 5, 10), store=store, guide=clerk)
    member(at(2026, 3, 31, 23, 30), store=store, guide=clerk)  # recruited on the last day
    member(at(2026, 4, 1, 0, 10), store=store, guide=clerk)  # after the range
    e = member(at(2026, 2, 1, 10), store=other_store, guide=clerk2)
    f = member(at(2026, 3, 3, 10), store=store)  # no guide
    g = member(at(2025, 6, 1, 10), store=store, guide=manager)
    first = buy(a, at(2026, 3, 3, 12), "100", "a1")
    with time_machine.travel(at(2026, 3, 9, 9), tick=False):
        coupon = coupon_issue(template=template(name="立减 10 元"), member=a)[0]
    buy(a, at(2026, 3, 10, 12), "50", "a2", coupon_code=coupon.code)
    with time_machine.travel(at(2026, 3, 11, 12), tick=False):
        purchase_refund(purchase=first, amount=D("20"), key="ra1")
    buy(b, at(2026, 2, 20, 12), "80", "b0")  # before the range
    buy(b, at(2026, 3, 1, 0, 0), "60", "b1")  # the range's first instant
    buy(e, at(2026, 3, 15, 12), "30", "e1")
    buy(e, at(2026, 3, 31, 23, 59), "30", "e2")
    buy(f, at(2026, 3, 20, 12), "500", "f1")
    buy(g, at(2026, 2, 28, 23, 59), "70", "g1")  # just before the range
    return {"clerk2": clerk2, "idle": idle}


def plain(first: dt.date, last: dt.date) -> dict:
    """The same figures by walking every guided member in Python."""
    start, end = at(first.year, first.month, first.day), at(last.year, last.month, last.day)
    end += dt.timedelta(days=1)
    rows: dict = defaultdict(lambda: defaultdict(int))
    for m in Member.objects.exclude(guide=None):
        row = rows[(m.guide_id, m.store_id)]
        row["customers"] += m.created_at < end
        row["recruited"] += start <= m.created_at < end
        bought = [p for p in Purchase.objects.filter(member=m) if start <= p.occurred_at < end]
        row["purchases"] += len(bought)
        row["buyers"] += bool(bought)
        row["repeaters"] += len(bought) >= 2
        row["revenue"] += sum((p.cash_paid for p in bought), D(0))
        for refund in Refund.objects.filter(purchase__member=m):
            if start <= refund.created_at < end:
                row["revenue"] -= refund.amount
        row["coupons"] += sum(
            1
            for c in Coupon.objects.filter(member=m, status=Coupon.Status.REDEEMED)
            if start <= c.redeemed_at < end
        )
    return {key: dict(row) for key, row in rows.items()}


def test_the_figures_of_each_guide_are_the_plain_count(guides, clerk, store):
    data = guide_figures(*MARCH)
    mine = next(r for r in data["guides"] if r["guide_id"] == clerk.pk)
    assert mine["store"] == store.name
    assert mine["guide"] == "小王"
    assert (mine["recruited"], mine["customers"]) == (2, 3)
    assert (mine["buyers"], mine["repeaters"], mine["purchases"]) == (2, 1, 3)
    assert mine["coupons"] == 1 and mine["refunded"] == D("20.00")
    assert mine["repurchase_rate"] == D("50.0")
    paid = sum(Purchase.objects.filter(external_ref__in=["a1", "a2", "b1"]).values_list(
        "cash_paid", flat=True))  # fmt: skip
    assert mine["revenue"] == paid - D("20.00")
    expected = plain(*MARCH)
    for r in data["guides"]:
        if r["guide_id"] == guides["idle"].pk:
            continue
        store_id = next(s for g, s in expected if g == r["guide_id"])
        want = expected[(r["guide_id"], store_id)]
        got = {k: r[k] for k in want}
        assert got == want, r["guide"]
    assert len(data["guides"]) == len(expected) + 1  # and the idle clerk's row of zeros


def test_a_guide_whose_customers_did_nothing_is_listed_with_zeros(guides, manager):
    rows = {r["guide_id"]: r for r in guide_figures(*MARCH)["guides"]}
    idle = rows[guides["idle"].pk]
    assert (idle["recruited"], idle["customers"], idle["revenue"]) == (0, 0, D("0"))
    assert idle["repurchase_rate"] is None
    boss = rows[manager.pk]  # a customer, who bought only before the range
    assert (boss["customers"], boss["buyers"], boss["purchases"]) == (1, 0, 0)


def test_stores_and_total_add_up(guides, store, other_store):
    data = guide_figures(*MARCH)
    per_store = {r["store"]: r for r in data["stores"]}
    assert per_store[other_store.name]["repurchase_rate"] == D("100.0")
    assert per_store[other_store.name]["revenue"] == D("60.00")
    total = data["total"]
    for field in ("recruited", "customers", "buyers", "repeaters", "purchases", "coupons"):
        assert (
            total[field]
            == sum(r[field] for r in data["guides"])
            == sum(r[field] for r in data["stores"])
        )
    assert total["revenue"] == sum(r["revenue"] for r in data["stores"])
    assert total["repurchase_rate"] == D("66.7")  # a and e of a, b, e


def test_one_store(guides, store, other_store, clerk):
    data = guide_figures(*MARCH, store_id=other_store.pk)
    assert [r["guide_id"] for r in data["guides"]] == [guides["clerk2"].pk]
    assert data["total"]["purchases"] == 2


def test_the_figures_are_a_fixed_number_of_queries(guides, django_assert_num_queries):
    with django_assert_num_queries(7):
        guide_figures(*MARCH)


def test_the_owner_sees_every_store_and_picks_one(guides, owner, other_store):
    page = english(owner).get(URL, {"from": "2026-03-01", "to": "2026-03-31"})
    assert page.status_code == 200
    assert [t.name for t in page.templates][0] == "campaigns/dashboard/guides.html"
    text = page.content.decode()
    assert "小王" in text and "clerk2" in text and "Repurchase rate" in text
    one = english(owner).get(URL, {"from": "2026-03-01", "to": "2026-03-31",
                                   "store": other_store.pk})  # fmt: skip
    rows = one.content.decode().split('id="guide-rows"')[1].split("</table>")[0]
    assert "clerk2" in rows and "小王" not in rows


def test_a_manager_sees_only_their_store(guides, manager):
    theirs = guides["clerk2"].staff_profile.store_id  # asked for, not given
    page = english(manager).get(URL, {"from": "2026-03-01", "to": "2026-03-31", "store": theirs})
    assert page.status_code == 200
    rows = page.content.decode().split('id="guide-rows"')[1].split("</table>")[0]
    assert "小王" in rows and "clerk2" not in rows
    assert page.context["data"]["total"]["purchases"] == 3


def test_it_refuses_clerks_and_visitors_and_post(client, clerk, owner):
    assert english(clerk).get(URL).status_code == 403
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert english(owner).post(URL).status_code == 405


def test_the_csv(guides, owner):
    response = english(owner).get(URL, {"from": "2026-03-01", "to": "2026-03-31",
                                        "format": "csv"})  # fmt: skip
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="guides-20260301-20260331.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("Store,Guide,Members recruited")
    assert any(line.startswith("静安店,小王,2,3,2,3,") and line.endswith(",1,1,50.0")
               for line in lines)  # fmt: skip


def test_the_dashboard_links_to_it(owner):
    assert URL in english(owner).get(reverse("dashboard:home")).content.decode()


def test_a_bad_range_is_the_default_range_not_a_500(owner):
    assert english(owner).get(URL, {"from": "nonsense", "to": "2026-02-31"}).status_code == 200
