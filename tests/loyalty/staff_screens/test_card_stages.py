"""The lifecycle stage and RFM segment (issue #21) as badges beside the tier, with the
total spent and the last purchase: on the counter's card, the member 360 page and the
member's admin page, read from the card already loaded."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.counter.selectors import stage_badges
from loyalty.models import Card, Lifecycle, RfmSegment
from tests.loyalty.staff_screens.helpers import at, english

pytestmark = pytest.mark.django_db

COUNTER = reverse("staff:home")


@pytest.fixture
def scored(member):
    """The member as the nightly lifecycle_and_rfm job leaves them."""
    Card.objects.filter(pk=member.pk).update(
        lifecycle=Lifecycle.DORMANT,
        rfm_segment=RfmSegment.IMPORTANT_WIN_BACK,
        rfm_r=2,
        rfm_f=3,
        rfm_m=5,
        total_spent=Decimal("2345.60"),
        last_purchase_at=at(2026, 2, 3, 23, 30),  # the 3rd in Shanghai, the 3rd 15:30 UTC
    )
    return member


def _badge(page: str, kind: str) -> str:
    start = page.rindex("<span", 0, page.index(f'id="member-{kind}"'))
    return page[start : page.index("</span>", start)]


def test_the_counter_card_shows_the_stage_segment_spend_and_last_purchase(clerk, scored):
    page = english(clerk).get(COUNTER, {"q": "13800138000"}, HTTP_HX_REQUEST="true")
    page = page.content.decode()
    lifecycle, rfm = _badge(page, "lifecycle"), _badge(page, "rfm")
    assert "Dormant" in lifecycle and "bg-warning-subtle" in lifecycle
    assert "Important customers to win back" in rfm
    assert 'title="RFM segment (R 2 · F 3 · M 5)"' in rfm
    spend = page[page.index('id="member-spend"') :]
    spend = spend[: spend.index("</div>")]
    assert "¥2345.60" in spend and "2026-02-03" in spend


def test_the_lookup_reads_them_with_the_card(clerk, scored, django_assert_max_num_queries):
    client = english(clerk)
    client.get(COUNTER, {"q": "13800138000"}, HTTP_HX_REQUEST="true")  # settings and tiers kept
    # session, user with staff profile, member with card and tier: no query for the badges
    with django_assert_max_num_queries(3):
        response = client.get(COUNTER, {"q": "13800138000"}, HTTP_HX_REQUEST="true")
    assert [b.kind for b in response.context["badges"]] == ["lifecycle", "rfm"]


def test_no_badges_before_the_first_nightly_run(clerk, member):
    Card.objects.filter(pk=member.pk).update(lifecycle="", rfm_segment="")
    response = english(clerk).get(COUNTER, {"q": "13800138000"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert 'id="member-lifecycle"' not in page and 'id="member-rfm"' not in page
    assert "last purchase —" in page


def test_a_member_who_never_bought_has_a_stage_and_no_segment(clerk, member):
    Card.objects.filter(pk=member.pk).update(lifecycle=Lifecycle.PROSPECT, rfm_segment="")
    response = english(clerk).get(COUNTER, {"q": "13800138000"}, HTTP_HX_REQUEST="true")
    assert [b.kind for b in response.context["badges"]] == ["lifecycle"]


def test_an_unsaved_card_has_no_badges(member):
    # card_of's stand-in for a member a bulk path left without a card: not scored.
    assert stage_badges(Card(member=member)) == []


def test_the_360_page_shows_them_too(clerk, scored):
    response = english(clerk).get(reverse("staff:member", args=[scored.member_no]))
    page = response.content.decode()
    assert "Dormant" in _badge(page, "lifecycle")
    assert "Important customers to win back" in _badge(page, "rfm")
    last = page[page.index('id="last-purchase"') :]
    assert "2026-02-03" in last[: last.index("</div>")]


def test_the_members_admin_page_shows_them(owner, scored):
    url = reverse("admin:members_member_change", args=[scored.pk])
    page = english(owner).get(url).content.decode()
    panel = page[page.index("Card, points and tier") :]
    for shown in ("Dormant", "Important customers to win back", "(R 2 · F 3 · M 5)", "2026-02-03"):
        assert shown in panel, shown
