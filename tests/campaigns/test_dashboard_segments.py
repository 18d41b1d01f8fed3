"""The dashboard's lifecycle funnel and RFM grid (campaigns/segment_stats.py), and the
active-members tile following the settings' lifecycle_active_days."""

import datetime as dt
import random
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.dashboard import dashboard_aggregates, figures
from campaigns.segment_stats import FUNNEL, GRID
from loyalty.dates import local_day_bounds
from loyalty.jobs import run_job
from loyalty.models import Card, Lifecycle, LoyaltySettings, Purchase, RfmSegment
from loyalty.purchases import purchase_record
from members.services import member_erase
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import english

pytestmark = pytest.mark.django_db
URL = reverse("dashboard:home")
MEMBERS = reverse("admin:members_member_changelist")


def days_ago(n: int) -> dt.datetime:
    return local_day_bounds(timezone.localdate() - dt.timedelta(days=n))[0] + dt.timedelta(hours=12)


def stage(members, lifecycle, segment="", spent="0"):
    Card.objects.filter(member__in=members).update(
        lifecycle=lifecycle, rfm_segment=segment, total_spent=Decimal(spent)
    )


@pytest.fixture
def staged(store, other_store):
    """Members of two stores put in stages and segments by hand (the job's own rules
    are tested in tests/loyalty): what the dashboard counts is what the cards say."""
    mine = [MemberFactory(store=store) for _ in range(6)]
    theirs = [MemberFactory(store=other_store) for _ in range(4)]
    stage(mine[:2], Lifecycle.ACTIVE, RfmSegment.CHAMPIONS, "500.00")
    stage(mine[2:3], Lifecycle.DORMANT, RfmSegment.IMPORTANT_WIN_BACK, "300.50")
    stage(mine[3:4], Lifecycle.CHURNED, RfmSegment.GENERAL_WIN_BACK, "20.00")
    stage(mine[4:5], Lifecycle.NEW, RfmSegment.GENERAL_DEVELOP, "35.00")
    stage(mine[5:], Lifecycle.PROSPECT)
    stage(theirs[:3], Lifecycle.ACTIVE, RfmSegment.CHAMPIONS, "1000.00")
    stage(theirs[3:], Lifecycle.CHURNED, RfmSegment.GENERAL_KEEP, "80.00")
    return mine, theirs


def by_code(rows):
    return {row.code: row for row in rows}


# --- the funnel and the grid ------------------------------------------------------------


def test_the_owner_sees_every_store_in_funnel_order(owner, staged):
    stats = english(owner).get(URL).context["segments"]
    assert [s.code for s in stats.stages] == ["prospect", "new", "active", "dormant", "churned"]
    assert stats.members == 10
    stages = by_code(stats.stages)
    assert stages["active"].members == 5 and stages["active"].share == Decimal("50.0")
    assert stages["churned"].members == 2 and stages["prospect"].members == 1
    champions = by_code(stats.segments)["champions"]
    assert champions.members == 5 and champions.spent == Decimal("4000.00")
    assert champions.spent_per_member == Decimal("800.00")
    assert stats.unscored == 1 and stats.spent == Decimal("4435.50")


def test_a_manager_sees_only_their_store(manager, staged, other_store):
    stats = english(manager).get(URL, {"store": other_store.pk}).context["segments"]
    assert stats.members == 6
    stages, segments = by_code(stats.stages), by_code(stats.segments)
    assert stages["active"].members == 2 and stages["active"].share == Decimal("33.3")
    assert segments["champions"].members == 2 and segments["champions"].spent == Decimal("1000")
    assert segments["important_win_back"].spent_per_member == Decimal("300.50")
    assert segments["general_keep"].members == 0  # the other store's
    assert segments["general_keep"].spent_per_member is None
    # Their member list is their store's anyway: the link names no store.
    query = parse_qs(urlsplit(stages["dormant"].url).query)
    assert query == {"status__exact": ["active"], "card__lifecycle__exact": ["dormant"]}


def test_the_owner_picks_a_store(owner, staged, other_store):
    stats = english(owner).get(URL, {"store": other_store.pk}).context["segments"]
    assert stats.members == 4
    assert by_code(stats.segments)["champions"].spent == Decimal("3000.00")
    query = parse_qs(urlsplit(by_code(stats.segments)["general_keep"].url).query)
    assert query == {
        "status__exact": ["active"],
        "card__rfm_segment__exact": ["general_keep"],
        "store__id__exact": [str(other_store.pk)],
    }


def test_erased_members_are_left_out(owner, manager, staged):
    mine, _theirs = staged
    member_erase(member=mine[0])
    everyone = english(owner).get(URL).context["segments"]
    assert everyone.members == 9 and by_code(everyone.stages)["active"].members == 4
    champions = by_code(everyone.segments)["champions"]
    assert champions.members == 4 and champions.spent == Decimal("3500.00")
    store = english(manager).get(URL).context["segments"]
    assert store.members == 5 and by_code(store.segments)["champions"].members == 1


def test_the_page_links_each_count_to_the_member_list_and_defines_each_row(owner, staged):
    page = english(owner).get(URL).content.decode()
    for code in ("prospect", "new", "active", "dormant", "churned"):
        assert f'href="{MEMBERS}?status__exact=active&amp;card__lifecycle__exact={code}"' in page
    for segment in RfmSegment:
        link = f'href="{MEMBERS}?status__exact=active&amp;card__rfm_segment__exact={segment}"'
        assert link in page
        assert str(segment.label) in page and str(GRID[segment][1]) in page
    assert "Registered within 30 days, fewer than 2 purchases." in page
    assert "No activity for over 180 days." in page
    assert "Activity: a purchase, a visit of the member centre or a check-in." in page
    assert "4 or 5 is high, 1 to 3 low" in page
    row = re.search(r'<tr id="rfm-important_keep">.*?</tr>', page, re.S).group(0)
    assert [m for m in re.findall(r">(high|low)<", row)] == ["low", "high", "high"]


def test_the_stage_definitions_follow_the_settings(owner, staged):
    conf = LoyaltySettings.current()
    conf.lifecycle_new_days, conf.lifecycle_active_days = 14, 60
    conf.lifecycle_dormant_days, conf.lifecycle_counts_visits = 365, False
    conf.save()
    page = english(owner).get(URL).content.decode()
    assert "Registered within 14 days, fewer than 2 purchases." in page
    assert "Activity within the last 60 days." in page
    assert "Last activity 60 to 365 days ago." in page
    assert "Activity: a purchase (visits do not count, per the settings)." in page


def test_every_segment_and_stage_is_shown_even_when_empty(owner):
    stats = english(owner).get(URL).context["segments"]
    assert [s.code for s in stats.segments] == [s.value for s in GRID]
    assert len(stats.segments) == 8 and len(stats.stages) == len(FUNNEL)
    assert stats.members == 0 and all(s.share is None for s in stats.stages)


# --- counted once per night -----------------------------------------------------------


def test_counts_are_kept_until_the_next_run_of_the_job(owner, staged):
    run_job("lifecycle_and_rfm")  # the real rules: all ten joined today, no purchase: new
    client = english(owner)
    before = client.get(URL).context["segments"]
    assert before.as_of is not None and by_code(before.stages)["new"].members == 10
    Card.objects.update(lifecycle=Lifecycle.CHURNED)  # not the job: not seen until it runs
    assert by_code(client.get(URL).context["segments"].stages)["new"].members == 10
    conf = LoyaltySettings.current()
    conf.lifecycle_new_days = 0  # nobody is new any more: registered, never bought
    conf.save()
    run_job("lifecycle_and_rfm")  # a new run, a new key: counted again
    after = client.get(URL).context["segments"]
    assert by_code(after.stages)["prospect"].members == 10 and after.unstaged == 0
    assert after.as_of > before.as_of


def test_the_cached_page_adds_two_queries(owner, staged, django_assert_max_num_queries):
    run_job("lifecycle_and_rfm")
    run_job("dashboard_aggregates")
    client = english(owner)
    client.get(URL)  # counts and caches
    # 11 for the figures (test_dashboard.py), then the job's last run and the cache.
    with django_assert_max_num_queries(13):
        client.get(URL)


# --- the active window ------------------------------------------------------------------


@pytest.fixture
def buyers(store):
    """Members who last bought 5, 20, 45, 80 and 120 days ago."""
    rng = random.Random(5)
    members = []
    for n, ago in enumerate([5, 20, 45, 80, 120]):
        member = MemberFactory(store=store)
        purchase_record(
            member=member,
            amount=Decimal(rng.randint(10, 99)),
            external_ref=f"window-{n}",
            occurred_at=days_ago(ago),
        )
        members.append(member)
    return members


def set_active_days(days: int) -> None:
    conf = LoyaltySettings.current()
    conf.lifecycle_active_days = days
    conf.save()


@pytest.mark.parametrize("days,active", [(90, 4), (30, 2), (50, 3), (180, 5), (1, 0)])
def test_active_members_are_those_who_bought_within_the_settings_window(buyers, days, active):
    dashboard_aggregates(timezone.localdate())
    set_active_days(days)  # after the daily rows were written: they need no recomputing
    today = timezone.localdate()
    f = figures(first=today - dt.timedelta(days=6), last=today)
    assert (f.active, f.active_days) == (active, days)
    since = local_day_bounds(today - dt.timedelta(days=days - 1))[0]
    bought = Purchase.objects.filter(occurred_at__gte=since).values("member_id").distinct()
    assert f.active == bought.count()


def test_the_active_tile_names_the_configured_window(owner, buyers):
    dashboard_aggregates(timezone.localdate())
    set_active_days(30)
    response = english(owner).get(URL)
    tile = next(t for row in response.context["tiles"] for t in row if t["id"] == "active")
    assert tile["main"] == "2"
    assert str(tile["definition"]).startswith("Members with a purchase in the 30 days up to")
    assert "in the 90 days" not in response.content.decode()


def test_a_count_opens_the_member_list_with_as_many_members(owner, manager, staged):
    for user in (owner, manager):
        client = english(user)
        stats = client.get(URL).context["segments"]
        for row in [*stats.stages, *stats.segments]:
            listed = client.get(row.url)
            assert listed.status_code == 200, row.url
            assert listed.context["cl"].result_count == row.members, (user, row.code)
