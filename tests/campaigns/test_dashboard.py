"""The dashboard: the daily aggregate job (idempotent, backfills, recomputes recent
days) and the page's figures, checked against counting the raw tables directly."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.dashboard import compute_days, dashboard_aggregates, figures
from campaigns.models import DailyStats, StatsDay
from loyalty.benefits.issuing import coupon_issue
from loyalty.dates import local_day_bounds
from loyalty.jobs import JOBS, run_job
from loyalty.ledger import points_spend
from loyalty.models import Card, Purchase
from loyalty.purchases import purchase_record, purchase_refund
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import english, template

pytestmark = pytest.mark.django_db
URL = reverse("dashboard:home")


def today():
    return timezone.localdate()


def days_ago(n: int, hour: int = 12) -> dt.datetime:
    day = today() - dt.timedelta(days=n)
    return local_day_bounds(day)[0] + dt.timedelta(hours=hour)


@pytest.fixture
def shop(store, other_store):
    """Thirty members in two stores with random purchases over the last 120 days."""
    rng = random.Random(7)
    members = [MemberFactory(store=store if n % 3 else other_store) for n in range(30)]
    for n in range(160):
        member = rng.choice(members)
        purchase_record(
            member=member,
            amount=Decimal(rng.randint(10, 300)),
            external_ref=f"shop-{n}",
            occurred_at=days_ago(rng.randint(0, 120), rng.randint(0, 23)),
        )
    return members


def brute(first, last, store=None):
    """Buyers and repeat buyers of first..last, counted on the purchase table."""
    start, end = local_day_bounds(first)[0], local_day_bounds(last)[1]
    qs = Purchase.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
    if store is not None:
        qs = qs.filter(member__store=store)
    per_member = qs.values("member_id").annotate(n=Count("id"))
    return per_member.count(), per_member.filter(n__gte=2).count()


def test_the_job_is_registered():
    assert "dashboard_aggregates" in JOBS


def test_distinct_buyers_and_repeaters_of_any_range_match_the_purchase_table(shop, store):
    dashboard_aggregates(today())
    rng = random.Random(3)
    for _ in range(12):
        last = today() - dt.timedelta(days=rng.randint(0, 60))
        first = last - dt.timedelta(days=rng.randint(0, 70))
        for scope, store_id in ((None, "all"), (store, store.pk)):
            f = figures(first=first, last=last, store_id=store_id)
            assert (f.buyers, f.repeaters) == brute(first, last, scope), (first, last, scope)
            active = brute(last - dt.timedelta(days=89), last, scope)[0]
            assert f.active == active


def test_sums_and_stocks_match_the_tables(shop, store):
    dashboard_aggregates(today())
    bought = Purchase.objects.order_by("-occurred_at").first()
    points_spend(member=bought.member, points=1, key="x", reason="礼品")
    purchase_refund(purchase=bought, amount=Decimal("5"))
    dashboard_aggregates(today())
    first = today() - dt.timedelta(days=200)
    f = figures(first=first, last=today())
    cards = Card.objects.aggregate(points=Sum("points_balance"))
    assert f.liability_points == cards["points"]
    assert f.members_total == 30 and f.totals["new_members"] == 30
    assert f.totals["purchases"] == 160
    assert f.member_spend == Purchase.objects.aggregate(s=Sum("cash_paid"))["s"] - Decimal("5")
    tiers = dict(Card.objects.values_list("tier__name").annotate(n=Count("pk")))
    assert {t.name: n for t, n in f.tiers if n} == tiers


def test_running_twice_changes_nothing(shop):
    dashboard_aggregates(today())
    rows = list(DailyStats.objects.order_by("day", "store_id").values())
    result = dashboard_aggregates(today())
    assert result["days"] == 4  # only the recent days again: the rest is done
    again = list(DailyStats.objects.order_by("day", "store_id").values())
    strip = [{k: v for k, v in r.items() if k not in ("id", "computed_at")} for r in rows]
    assert strip == [{k: v for k, v in r.items() if k not in ("id", "computed_at")} for r in again]


def test_a_late_purchase_of_a_recent_day_is_counted_the_next_night(shop):
    dashboard_aggregates(today())
    yesterday = today() - dt.timedelta(days=1)
    before = figures(first=yesterday, last=yesterday).totals["purchases"]
    purchase_record(member=shop[0], amount=Decimal("20"), external_ref="late",
                    occurred_at=days_ago(1))  # fmt: skip
    dashboard_aggregates(today())
    assert figures(first=yesterday, last=yesterday).totals["purchases"] == before + 1


def test_a_killed_run_resumes_where_it_stopped(shop):
    first = today() - dt.timedelta(days=120)
    compute_days(first, first + dt.timedelta(days=9))  # a run that did ten days and died
    assert StatsDay.objects.count() == 10
    dashboard_aggregates(today())
    assert StatsDay.objects.count() == 121


def test_coupon_and_benefit_figures(member_store_coupons):
    member, coupons = member_store_coupons
    dashboard_aggregates(today())
    f = figures(first=today() - dt.timedelta(days=6), last=today())
    assert (f.totals["coupons_issued"], f.totals["coupons_redeemed"]) == (2, 1)
    assert f.coupon_rate == Decimal("0.5")
    assert f.benefit_cost == Decimal("10.00")  # the coupon; no tier discount, no points
    assert f.roi == Decimal("90") / Decimal("10")


@pytest.fixture
def member_store_coupons(store):
    member = MemberFactory(store=store)
    a, _ = coupon_issue(template=template(name="A"), member=member)
    coupon_issue(template=template(name="B"), member=member)
    purchase_record(member=member, amount=Decimal("100"), external_ref="c", coupon_code=a.code)
    return member, [a]


# --- the page -------------------------------------------------------------------------


@pytest.mark.parametrize("role,status", [("owner", 200), ("manager", 200), ("clerk", 403)])
def test_each_role(role, status, request, shop):
    assert english(request.getfixturevalue(role)).get(URL).status_code == status


def test_it_requires_login():
    response = Client().get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_wrong_methods(owner):
    client = english(owner)
    assert client.post(URL).status_code == 405
    assert client.get(reverse("dashboard:refresh")).status_code == 405


def test_a_manager_sees_only_their_store(manager, shop, store, other_store):
    dashboard_aggregates(today())
    response = english(manager).get(URL, {"store": other_store.pk, "from": "2000-01-01"})
    assert response.context["store"] == store
    assert response.context["f"].members_total == sum(1 for m in shop if m.store == store)


def test_the_owner_picks_a_store_or_all(owner, shop, other_store):
    dashboard_aggregates(today())
    client = english(owner)
    assert client.get(URL).context["f"].members_total == 30
    one = client.get(URL, {"store": other_store.pk}).context["f"].members_total
    assert one == sum(1 for m in shop if m.store == other_store)


def test_definitions_are_shown_beside_the_numbers(owner, shop):
    dashboard_aggregates(today())
    page = english(owner).get(URL).content.decode()
    assert "Members with 2 or more purchases in the period / members with 1 or more." in page
    assert "Member spend / benefit cost" in page and 'id="chart-new"' in page
    assert "vendor/chartjs/chart.umd.min.js" in page


def test_a_bad_range_falls_back_and_a_long_one_is_cut_to_a_year(owner):
    client = english(owner)
    assert client.get(URL, {"from": "yesterday"}).status_code == 200
    response = client.get(URL, {"from": "2001-01-01", "to": today().isoformat()})
    assert (response.context["last"] - response.context["first"]).days == 365


def test_only_owners_recompute(owner, manager, shop):
    assert english(manager).post(reverse("dashboard:refresh")).status_code == 403
    response = english(owner).post(reverse("dashboard:refresh"), {"query": "store=1"})
    assert response["Location"] == URL + "?store=1"
    assert StatsDay.objects.exists()
    evil = english(owner).post(reverse("dashboard:refresh"), {"query": "//evil.example"})
    assert evil["Location"] == URL


def test_the_dashboard_query_count_is_pinned(owner, shop, django_assert_max_num_queries):
    run_job("dashboard_aggregates")
    client = english(owner)
    # 11 for the figures, 4 for the lifecycle funnel and RFM grid: the job's last run
    # (none here: nothing cached) and three GROUP BYs (test_dashboard_segments.py).
    with django_assert_max_num_queries(15):
        client.get(URL, {"from": (today() - dt.timedelta(days=365)).isoformat()})


def test_an_import_forgets_only_the_days_from_its_first_and_computes_them_again(
    store, tmp_path, settings
):
    from loyalty.models import JobRun
    from tests.loyalty.import_files import run_import, write_csv

    settings.MEDIA_ROOT = tmp_path / "media"
    today = timezone.localdate()
    kept, redone = today - dt.timedelta(days=400), today - dt.timedelta(days=30)
    StatsDay.objects.bulk_create(
        [StatsDay(day=day, computed_at=timezone.now()) for day in (kept, redone)]
    )
    registered = (today - dt.timedelta(days=40)).isoformat()
    path = write_csv(tmp_path / "m.csv", [["手机号", "注册时间"], ["15000000001", registered]])
    run_import(path)  # django-q runs the task in place in tests (Q_SYNC)
    days = set(StatsDay.objects.values_list("day", flat=True))
    assert kept in days  # before the file's first day: not computed again
    assert today - dt.timedelta(days=40) in days and redone in days and today in days
    assert JobRun.objects.filter(job="dashboard_aggregates", status="ok").exists()
    stats = DailyStats.objects.get(day=today - dt.timedelta(days=40), all_stores=True)
    assert stats.new_members == 1
