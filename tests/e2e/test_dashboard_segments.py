"""The owner's dashboard on a shop laptop (1366x768, Chinese) after the nightly jobs: the
lifecycle funnel and the RFM grid, a segment's count opening the member list, and the
active-members tile naming the configured window. Screenshots:
test-artifacts/dashboard-segments.png (the page), dashboard-segments-grid.png (the
section), dashboard-segment-members.png (the list a count opens)."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.jobs import run_job
from loyalty.models import Card, LoyaltySettings, RfmSegment
from loyalty.purchases import purchase_record
from members.models import Member, Role
from members.services import staff_create
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_counter import PASSWORD, assert_fits_the_laptop, log_in
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _history(stores):
    """Forty members over two stores, most registered a year or two ago, some lately:
    some never bought, the others from one to six purchases since they joined, small
    and big spenders."""
    rng = random.Random(21)
    now = timezone.now()
    for n in range(40):
        member = MemberFactory(name=f"会员{n}", phone=f"1390013{n:04d}", store=stores[n % 2])
        joined = rng.randint(3, 25) if n % 5 == 0 else rng.randint(420, 700)
        Member.objects.filter(pk=member.pk).update(created_at=now - dt.timedelta(days=joined))
        for k in range(rng.choice([0, 1, 1, 2, 3, 6])):
            ago = rng.randint(1, min(joined - 1, 45) if n % 3 == 0 else joined - 1)
            when = now - dt.timedelta(days=ago, hours=rng.randint(0, 8))
            purchase_record(member=member, amount=Decimal(rng.choice([25, 60, 180, 520, 900])),
                            external_ref=f"h{n}-{k}", occurred_at=when, now=when)  # fmt: skip


def test_the_owner_reads_the_funnel_and_the_rfm_grid(live_server, laptop, shot):
    stores = [
        StoreFactory(code="SH01", name="静安旗舰店"),
        StoreFactory(code="SH02", name="徐汇店"),
    ]
    staff_create(username="owner1", password=PASSWORD, role=Role.OWNER, store=None,
                 display_name="老板")  # fmt: skip
    _history(stores)
    conf = LoyaltySettings.current()
    conf.lifecycle_active_days = 60
    conf.save()
    run_job("lifecycle_and_rfm")
    run_job("dashboard_aggregates")
    base = live_server.url

    log_in(laptop, base, "owner1")
    laptop.goto(f"{base}/dashboard/")
    laptop.locator("#dash-segments").wait_for()
    laptop.wait_for_function("() => document.querySelector('#chart-new').width > 0")
    assert "60" in laptop.locator("#fig-active .dash-def").inner_text()
    funnel = laptop.locator("#lifecycle-funnel tbody tr")
    assert funnel.count() == 5
    counts = [int(t.replace(",", "")) for t in funnel.locator("td:nth-child(2)").all_inner_texts()]
    assert sum(counts) == 40
    grid = laptop.locator("#rfm-grid tbody tr")
    assert grid.count() == 9  # eight segments and "never bought"
    assert_fits_the_laptop(laptop)
    shot(laptop, "dashboard-segments")
    section = laptop.locator("#dash-segments")
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(ARTIFACTS / "dashboard-segments-grid.png"))

    # The biggest segment's count opens the member list filtered to it.
    biggest = max(RfmSegment, key=lambda s: Card.objects.filter(rfm_segment=s).count())
    n = Card.objects.filter(rfm_segment=biggest).count()
    laptop.locator(f"#rfm-{biggest.value} a").click()
    laptop.wait_for_url(f"**card__rfm_segment__exact={biggest.value}**")
    assert laptop.locator("#result_list tbody tr").count() == n
    shot(laptop, "dashboard-segment-members")
