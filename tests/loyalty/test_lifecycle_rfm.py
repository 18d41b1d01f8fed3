"""Lifecycle stages and RFM segments at their boundaries, with frozen time (issue #21):
the settings' day counts, visits and check-ins as activity, RFM over every buyer with
equal values sharing a score, and the eight segments."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from loyalty.jobs import lifecycle_and_rfm
from loyalty.models import Card, RfmSegment, rfm_segment
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=SHANGHAI)


def member_with(*, registered_days=400, last_purchase_days=None, seen_days=None, purchases=None):
    with time_machine.travel(NOW - dt.timedelta(days=registered_days), tick=False):
        member = MemberFactory()
    fields = {}
    if last_purchase_days is not None:
        fields.update(
            last_purchase_at=NOW - dt.timedelta(days=last_purchase_days),
            purchase_count=purchases or 1,
        )
    if seen_days is not None:
        fields["last_seen_at"] = NOW - dt.timedelta(days=seen_days)
    Card.objects.filter(member=member).update(**fields)
    return member


def stage_of(member) -> str:
    return Card.objects.get(member=member).lifecycle


def run():
    with time_machine.travel(NOW, tick=False):
        return lifecycle_and_rfm(NOW.date(), now=NOW)


def test_stages_follow_the_settings_day_counts(conf):
    conf.lifecycle_new_days, conf.lifecycle_active_days, conf.lifecycle_dormant_days = 7, 30, 60
    conf.save()
    cases = {
        "new": member_with(registered_days=6, last_purchase_days=1),
        "new_no_purchase": member_with(registered_days=6),
        "old_enough": member_with(registered_days=8),  # prospect: past "new", never bought
        "active_edge": member_with(last_purchase_days=30),  # exactly 30 days: still active
        "dormant_edge": member_with(last_purchase_days=31),
        "dormant_end": member_with(last_purchase_days=60),
        "churned": member_with(last_purchase_days=61),
        "new_but_repeat": member_with(registered_days=3, last_purchase_days=1, purchases=2),
    }
    run()
    assert {name: stage_of(m) for name, m in cases.items()} == {
        "new": "new",
        "new_no_purchase": "new",
        "old_enough": "prospect",
        "active_edge": "active",
        "dormant_edge": "dormant",
        "dormant_end": "dormant",
        "churned": "churned",
        "new_but_repeat": "active",
    }


def test_visits_count_as_activity_unless_the_settings_say_no(conf):
    lapsed_visitor = member_with(last_purchase_days=200, seen_days=3)
    visitor_never_bought = member_with(seen_days=3)
    run()
    assert stage_of(lapsed_visitor) == "active"
    assert stage_of(visitor_never_bought) == "active"
    conf.lifecycle_counts_visits = False
    conf.save()
    run()
    assert stage_of(lapsed_visitor) == "churned"
    assert stage_of(visitor_never_bought) == "prospect"


def test_the_member_centre_and_a_check_in_note_the_visit(client, conf):
    from loyalty.benefits.engagement import checkin
    from members.member_auth import member_login

    member = member_with(last_purchase_days=200)
    request = client.get("/").wsgi_request
    member_login(request, member)
    request.session.save()
    client.cookies["sessionid"] = request.session.session_key
    with time_machine.travel(NOW, tick=False):
        assert client.get(reverse("centre:home")).status_code == 200
    assert Card.objects.get(member=member).last_seen_at == NOW
    other = member_with(last_purchase_days=200)
    with time_machine.travel(NOW, tick=False):
        checkin(member=other, now=NOW)
    assert Card.objects.get(member=other).last_seen_at == NOW
    run()
    assert stage_of(member) == stage_of(other) == "active"


def test_rfm_scores_every_buyer_and_ties_share_a_score(conf):
    buyers = []
    for n in range(10):
        m = member_with(last_purchase_days=300 - n * 30)  # the first ones long lapsed
        Card.objects.filter(member=m).update(
            purchase_count=1 if n < 6 else n, total_spent=Decimal(100 * (n + 1))
        )
        buyers.append(m)
    never = member_with()
    run()
    cards = {c.member_id: c for c in Card.objects.all()}
    lapsed = cards[buyers[0].pk]
    assert (lapsed.rfm_r, lapsed.rfm_m) == (1, 1)  # scored, though long gone
    # six members with one purchase each share the lowest F score
    assert {cards[m.pk].rfm_f for m in buyers[:6]} == {1}
    top = cards[buyers[-1].pk]
    assert (top.rfm_r, top.rfm_f, top.rfm_m, top.rfm_segment) == (5, 5, 5, "champions")
    assert (cards[never.pk].rfm_r, cards[never.pk].rfm_segment) == (0, "")
    # every buyer has the segment of their three scores
    for m in buyers:
        c = cards[m.pk]
        assert c.rfm_segment == rfm_segment(c.rfm_r, c.rfm_f, c.rfm_m) != ""
    assert run()["scored"] == 0  # a second night changes nothing


@pytest.mark.parametrize(
    ("scores", "segment"),
    [
        ((5, 5, 5), RfmSegment.CHAMPIONS),
        ((4, 3, 4), RfmSegment.IMPORTANT_DEVELOP),
        ((3, 4, 5), RfmSegment.IMPORTANT_KEEP),
        ((1, 1, 4), RfmSegment.IMPORTANT_WIN_BACK),
        ((4, 4, 3), RfmSegment.GENERAL_VALUE),
        ((5, 1, 1), RfmSegment.GENERAL_DEVELOP),
        ((2, 5, 2), RfmSegment.GENERAL_KEEP),
        ((3, 3, 3), RfmSegment.GENERAL_WIN_BACK),
        ((0, 0, 0), ""),
    ],
)
def test_the_eight_segments(scores, segment):
    assert rfm_segment(*scores) == segment
