"""The owner's stored-value report (/dashboard/stored-value/): what is owed per store,
each day's movements and the purchases' payment split, checked against the ledger."""

from decimal import Decimal

import pytest
from django.urls import reverse

from campaigns.prepaid_report import movements, outstanding
from loyalty.models import Card, LoyaltySettings, TopUpOffer
from loyalty.purchases import purchase_record, purchase_refund
from loyalty.stored_value import stored_value_cash_out, stored_value_top_up
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import english

pytestmark = pytest.mark.django_db
URL = reverse("dashboard:stored_value")
D = Decimal


@pytest.fixture
def ledger(store, other_store, owner):
    """Top-ups, spends, a refund and a cash-out in two stores."""
    LoyaltySettings.objects.filter(pk=1).update(stored_value_confirm_limit=D("10000"))
    TopUpOffer.objects.create(code="500-50", name="充500送50", pay_amount=D("500"), bonus=D("50"))
    a, b, c = (MemberFactory(store=s) for s in (store, store, other_store))
    stored_value_top_up(member=a, amount=D("500"), external_ref="t1", offer_code="500-50")
    stored_value_top_up(member=b, amount=D("200"), external_ref="t2")
    stored_value_top_up(member=c, amount=D("300"), external_ref="t3")
    spend = purchase_record(member=a, amount=D("110"), external_ref="p1",
                            stored_value_to_use=D("110"))[0]  # fmt: skip
    purchase_record(member=b, amount=D("80"), external_ref="p2", stored_value_to_use=D("30"))
    purchase_record(member=c, amount=D("40"), external_ref="p3")
    purchase_refund(purchase=spend, amount=D("55"), key="r1", reason="退一半")
    stored_value_cash_out(member=b, actor=owner, reason="搬家")
    return a, b, c


def test_owed_now_equals_the_cards_per_store(ledger, store, other_store):
    held = outstanding()
    cards = {m.pk: Card.objects.get(pk=m.pk).stored_value for m in ledger}
    assert held["total"]["total"] == sum(cards.values())
    assert held["total"]["members"] == 2  # b cashed out
    by_store = {row["store"]: row["total"] for row in held["stores"]}
    assert by_store == {store.name: cards[ledger[0].pk], other_store.name: D("300.00")}
    a = Card.objects.get(pk=ledger[0].pk)
    assert held["total"]["bonus"] == a.stored_bonus
    assert outstanding(other_store.pk)["total"]["total"] == D("300.00")


def test_the_periods_movements_add_up(ledger):
    from django.utils import timezone

    today = timezone.localdate()
    moved = movements(today, today)["total"]
    assert moved["top_ups"] == D("1000.00") and moved["bonus_given"] == D("50.00")
    assert moved["spent"] == D("140.00") and moved["refunded"] == D("55.00")
    assert moved["cashed_out"] == D("170.00") and moved["forfeited"] == D("0.00")
    assert moved["paid_stored_value"] == D("140.00")
    assert moved["paid_money"] == D("90.00")  # 50 of p2 and 40 of p3
    owed = outstanding()["total"]["total"]
    assert owed == (moved["top_ups"] + moved["bonus_given"] - moved["spent"] + moved["refunded"]
                    - moved["cashed_out"] - moved["forfeited"])  # fmt: skip


def test_the_page_for_the_owner_and_a_managers_own_store(ledger, owner, manager, clerk):
    page = english(owner).get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Owed now" in text and 'id="sv-stores"' in text and "1,000.00" in text
    mine = english(manager).get(URL).content.decode()
    assert "300.00" not in mine.split('id="sv-stores"')[1]  # the other store's member
    assert english(clerk).get(URL).status_code == 403


def test_the_dashboard_links_to_it(owner):
    assert URL in english(owner).get(reverse("dashboard:home")).content.decode()


def test_a_bad_range_is_the_default_range_not_a_500(owner):
    assert english(owner).get(URL, {"from": "nonsense", "to": "2026-02-31"}).status_code == 200


def test_the_dashboard_tile_shows_what_is_owed_from_the_nightly_figures(ledger, owner):
    from django.utils import timezone

    from campaigns.dashboard import dashboard_aggregates, figures

    dashboard_aggregates(timezone.localdate())
    today = timezone.localdate()
    assert figures(first=today, last=today).stored_value_owed == outstanding()["total"]["total"]
    page = english(owner).get(reverse("dashboard:home")).content.decode()
    assert "stored value ¥795.00" in page
