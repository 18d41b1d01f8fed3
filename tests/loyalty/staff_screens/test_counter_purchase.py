"""Recording a purchase at the counter: the form, the preview (purchase_quote), the
confirmation (once per form token, whatever the clicks) and the receipt."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.benefits.issuing import coupon_issue
from loyalty.models import Coupon, LoyaltySettings, Purchase
from loyalty.purchases import purchase_refund
from members.models import AuditEntry
from tests.loyalty.staff_screens.helpers import english, fund, template

pytestmark = pytest.mark.django_db


def purchase_url(m):
    return reverse("staff:purchase", args=[m.member_no])


def token_of(page: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', page).group(1)


def test_the_form_shows_the_balance_and_the_cap(member, clerk):
    fund(member, 800)
    page = english(clerk).get(purchase_url(member)).content.decode()
    assert "Balance 800 points" in page and "at most 50% of the bill" in page
    assert 'name="amount"' in page and "autofocus" in page


def test_the_preview_shows_discount_points_cash_and_earnings_before_anything_is_written(
    member, clerk
):
    fund(member, 1000)
    coupon, _ = coupon_issue(template=template(value=Decimal("10")), member=member)
    response = english(clerk).get(
        purchase_url(member), {"amount": "100", "coupon": coupon.code, "points": "500"}
    )
    quote = response.context["quote"]
    assert (quote.coupon_discount, quote.points_used, quote.points_value) == (
        Decimal("10.00"),
        500,
        Decimal("5.00"),
    )
    assert quote.cash_paid == Decimal("85.00") and quote.points_earned == 85
    page = response.content.decode()
    assert "¥85.00" in page and "+85" in page and "Up to 1000 points on this bill" in page
    assert not Purchase.objects.exists()
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.ISSUED


def test_points_over_the_cap_are_refused_in_the_preview(member, clerk):
    fund(member, 10_000)
    response = english(clerk).get(purchase_url(member), {"amount": "100", "points": "6000"})
    assert response.context["quote"] is None
    assert "At most 5000 points can pay this bill" in response.content.decode()


def test_confirm_records_once_and_shows_the_receipt(member, clerk, store):
    fund(member, 1000)
    # Found by number, spending without a confirmation (the rule: test_chain_counter).
    LoyaltySettings.objects.filter(pk=1).update(spend_needs_dynamic_code=False)
    coupon, _ = coupon_issue(template=template(value=Decimal("10")), member=member)
    client = english(clerk)
    preview = client.get(
        purchase_url(member),
        {"amount": "100", "category": "咖啡", "coupon": coupon.code, "points": "500"},
    )
    data = {
        "amount": "100.00",
        "category": "咖啡",
        "coupon": coupon.code,
        "points": "500",
        "token": token_of(preview.content.decode()),
    }
    first = client.post(purchase_url(member), data)
    twice = client.post(purchase_url(member), data)  # the double click
    bought = Purchase.objects.get()
    assert first["Location"] == twice["Location"] == reverse("staff:receipt", args=[bought.pk])
    assert (bought.cash_paid, bought.points_used, bought.store, bought.staff) == (
        Decimal("85.00"),
        500,
        store,
        clerk,
    )
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
    entry = AuditEntry.objects.get(action="purchase.record")
    assert entry.actor == clerk and entry.changes["paid"] == [None, "85.00"]
    receipt = client.get(first["Location"]).content.decode()
    assert "¥85.00" in receipt and "+85" in receipt and "立减 10 元" in receipt


def test_a_confirmation_without_its_token_records_nothing(member, clerk):
    response = english(clerk).post(purchase_url(member), {"amount": "10"})
    assert response.status_code == 200 and not Purchase.objects.exists()
    assert "This form has expired" in response.content.decode()


def test_a_forged_token_is_refused(member, clerk):
    english(clerk).post(purchase_url(member), {"amount": "10", "token": "../../x"})
    assert not Purchase.objects.exists()


def test_another_members_coupon_is_not_offered_nor_accepted(member, clerk, store):
    from tests.factories import MemberFactory

    other = MemberFactory(phone="13700137000", store=store)
    theirs, _ = coupon_issue(template=template(), member=other)
    response = english(clerk).get(purchase_url(member), {"amount": "50", "coupon": theirs.code})
    assert response.context["quote"] is None and "coupon" in response.context["form"].errors


def test_the_receipt_shows_the_points_owed_after_a_refund(member, clerk):
    client = english(clerk)
    preview = client.get(purchase_url(member), {"amount": "500"})
    client.post(
        purchase_url(member), {"amount": "500", "token": token_of(preview.content.decode())}
    )
    bought = Purchase.objects.get()
    # The 500 points earned are spent elsewhere, then the purchase is refunded.
    from loyalty.ledger import points_spend

    points_spend(member=member, points=500, key="spent", reason="礼品")
    purchase_refund(purchase=bought, actor=clerk)
    page = client.get(reverse("staff:receipt", args=[bought.pk])).content.decode()
    assert 'id="receipt-owed"' in page and "500 points owed" in page


def test_receipt_query_count_is_pinned(member, clerk, django_assert_max_num_queries):
    client = english(clerk)
    preview = client.get(purchase_url(member), {"amount": "20"})
    client.post(purchase_url(member), {"amount": "20", "token": token_of(preview.content.decode())})
    url = reverse("staff:receipt", args=[Purchase.objects.get().pk])
    with django_assert_max_num_queries(9):
        assert client.get(url).status_code == 200


def test_preview_query_count_is_pinned(member, clerk, django_assert_max_num_queries):
    fund(member, 1000)
    for n in range(3):
        coupon_issue(template=template(name=f"券{n}"), member=member)
    client = english(clerk)
    # session, user, profile, member, visible, 2 x permissions, coupons, settings, card,
    # earn rules, and the category suggestions (2): whatever the member holds.
    with django_assert_max_num_queries(13):
        response = client.get(purchase_url(member), {"amount": "100", "points": "100"})
    assert response.context["quote"] is not None
