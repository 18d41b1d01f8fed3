"""A member of the chain is served at every store's counter (issue 24).

An exact key (phone, member number or the card's code, the dynamic code of the member
centre, a coupon code) finds any store's member; partial searches stay in the clerk's
store; a franchise store (Store.serves_own_members_only) keeps to its own members, both
ways. The purchase belongs to the store where it happened, the member's home store and
guide stay, and serving another store's member is audited. Also: the staff 403 and 404
pages, and a coupon redeemed without a purchase only after a confirmation.
"""

import datetime as dt
import logging
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from loyalty.benefits.issuing import coupon_issue
from loyalty.models import Card, Coupon, LoyaltySettings, Purchase
from members.dynamic_code import code_for
from members.models import AuditEntry, Role
from members.services import staff_create
from tests.conftest import PASSWORD
from tests.factories import MemberFactory, StoreFactory
from tests.loyalty.staff_screens.helpers import english, fund, template

pytestmark = pytest.mark.django_db

COUNTER = reverse("staff:home")


@pytest.fixture
def jingan(db):
    return StoreFactory(code="SH-JA", name="静安旗舰店")


@pytest.fixture
def hangzhou(db):
    return StoreFactory(code="HZ-XH", name="杭州西湖店")


@pytest.fixture
def clerk_a(jingan):
    return staff_create(username="clerk-ja", password=PASSWORD, role=Role.CLERK, store=jingan)


@pytest.fixture
def guide_b(hangzhou):
    return staff_create(username="guide-hz", password=PASSWORD, role=Role.CLERK, store=hangzhou)


@pytest.fixture
def theirs(hangzhou, guide_b):
    """A member of 杭州西湖店, recruited by its clerk."""
    return MemberFactory(phone="13800138000", name="韩梅梅", store=hangzhou, guide=guide_b)


def found(client, q, **headers):
    response = client.get(COUNTER, {"q": q}, **headers)
    assert response.status_code == 200
    return response


def token_of(page: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', page).group(1)


def member_code_of(page: str) -> str:
    return re.search(r'name="member_code" value="([^"]*)"', page).group(1)


def franchise(store):
    store.serves_own_members_only = True
    store.save()


# --- finding ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["phone", "dashed phone", "member number", "dynamic code"])
def test_a_clerk_finds_another_stores_member_by_an_exact_key(key, clerk_a, theirs):
    q = {
        "phone": "13800138000",
        "dashed phone": "138-0013-8000",
        "member number": theirs.member_no,  # typed, or the card's QR and barcode
        "dynamic code": code_for(theirs),
    }[key]
    client = english(clerk_a)
    response = found(client, q, HTTP_HX_REQUEST="true")
    assert list(response.context["results"]) == [theirs]
    page = response.content.decode()
    assert 'id="member-card"' in page and 'id="member-other-store"' in page
    assert "杭州西湖店" in page  # the home store is shown
    # The card's extras and the counter card page follow the same rule.
    extras = client.get(reverse("staff:card_extras", args=[theirs.member_no]))
    assert extras.status_code == 200
    assert client.get(reverse("staff:card", args=[theirs.member_no])).status_code == 200


def test_a_clerk_finds_another_stores_coupon_by_its_code(clerk_a, theirs):
    coupon, _ = coupon_issue(template=template(name="免费拿铁"), member=theirs)
    response = found(english(clerk_a), coupon.display_code.lower())
    assert response.context["lookup"].coupon == coupon
    page = response.content.decode()
    assert "免费拿铁" in page and theirs.member_no in page and "杭州西湖店" in page


def test_partial_searches_stay_in_the_clerks_store(clerk_a, theirs, jingan):
    mine = MemberFactory(phone="13900138000", name="韩梅梅", store=jingan)
    client = english(clerk_a)
    for q in ("8000", "韩梅梅"):  # last 4 digits, a name: only this store's member
        assert list(found(client, q).context["results"]) == [mine], q
    # Browsing (my customers) neither; the full number finds the other one.
    assert theirs.member_no not in client.get(reverse("staff:my_customers")).content.decode()
    assert list(found(client, "13800138000").context["results"]) == [theirs]


def test_an_invalid_dynamic_code_says_so(clerk_a, theirs):
    code = code_for(theirs)
    forged = code[:-1] + str((int(code[-1]) + 1) % 10)
    response = found(english(clerk_a), forged)
    assert response.context["lookup"].kind == "dynamic" and not response.context["results"]
    assert "not valid or has expired" in response.content.decode()


# --- the franchise setting ----------------------------------------------------------------


def test_a_franchise_store_serves_only_its_own_members(clerk_a, jingan, theirs):
    franchise(jingan)
    client = english(clerk_a)
    coupon, _ = coupon_issue(template=template(), member=theirs)
    for q in ("13800138000", theirs.member_no, code_for(theirs), coupon.code):
        lookup = found(client, q).context["lookup"]
        assert not lookup.members and lookup.coupon is None, q
    response = client.get(reverse("staff:card", args=[theirs.member_no]))
    assert response.status_code == 403
    assert 'id="error-page"' in response.content.decode()


def test_a_franchise_stores_members_are_not_served_elsewhere(clerk_a, hangzhou, theirs):
    franchise(hangzhou)
    client = english(clerk_a)
    assert not found(client, "13800138000").context["results"]
    assert client.get(reverse("staff:purchase", args=[theirs.member_no])).status_code == 403


def test_the_franchise_setting_is_on_the_store_admin(admin_client, hangzhou):
    page = admin_client.get(reverse("admin:members_store_change", args=[hangzhou.pk]))
    assert 'name="serves_own_members_only"' in page.content.decode()


# --- serving: the purchase ----------------------------------------------------------------


def test_another_stores_member_buys_with_points_and_a_coupon(clerk_a, jingan, theirs, guide_b):
    """Found by the dynamic code (so the spend needs no other confirmation): the purchase
    is the serving store's, the member's home store and guide stay, all of it audited."""
    fund(theirs, 1000)
    coupon, _ = coupon_issue(template=template(value=Decimal("10")), member=theirs)
    client = english(clerk_a)
    found(client, code_for(theirs), HTTP_HX_REQUEST="true")
    url = reverse("staff:purchase", args=[theirs.member_no])
    preview = client.get(url, {"amount": "100", "coupon": coupon.code, "points": "500"})
    page = preview.content.decode()
    assert preview.context["quote"].points_used == 500
    assert 'id="dynamic-code-ok"' in page and 'name="confirmation_code"' not in page
    data = {
        "amount": "100.00",
        "coupon": coupon.code,
        "points": "500",
        "token": token_of(page),
        "member_code": member_code_of(page),
    }
    done = client.post(url, data)
    bought = Purchase.objects.get(member=theirs)
    assert done["Location"] == reverse("staff:receipt", args=[bought.pk])
    assert (bought.store, bought.staff, bought.points_used) == (jingan, clerk_a, 500)
    assert bought.cash_paid == Decimal("85.00")
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
    assert Card.objects.get(pk=theirs.pk).points_balance == 1000 - 500 + 85
    theirs.refresh_from_db()
    assert (theirs.store.name, theirs.guide) == ("杭州西湖店", guide_b)
    record = AuditEntry.objects.get(action="purchase.record")
    assert (record.actor, record.store) == (clerk_a, jingan)
    served = AuditEntry.objects.get(action="member.served_elsewhere")
    assert (served.actor, served.store, served.object_id) == (clerk_a, jingan, str(theirs.pk))
    assert served.changes == {"store": ["杭州西湖店", "静安旗舰店"]}
    # The serving store prints the receipt.
    assert client.get(done["Location"]).status_code == 200
    # The code was used by this purchase: scanned again, it confirms nothing more.
    again = client.get(url, {"amount": "10", "points": "100"}).content.decode()
    assert member_code_of(again) == "" and 'name="confirmation_code"' in again


def test_points_by_the_member_number_alone_need_the_members_confirmation(clerk_a, theirs):
    """The static number (a screenshot of the card) does not spend points by itself."""
    fund(theirs, 1000)
    client = english(clerk_a)
    found(client, theirs.member_no)
    url = reverse("staff:purchase", args=[theirs.member_no])
    page = client.get(url, {"amount": "100", "points": "500"}).content.decode()
    assert 'name="confirmation_code"' in page and "pay code or an SMS code" in page
    data = {"amount": "100.00", "points": "500", "token": token_of(page)}
    refused = client.post(url, data)
    assert refused.status_code == 200
    assert "with the member number or phone needs the member" in refused.content.decode()
    assert not Purchase.objects.exists()
    # With the setting off, the number is enough (merchants who want it so).
    LoyaltySettings.objects.filter(pk=1).update(spend_needs_dynamic_code=False)
    from loyalty import rules

    rules.forget()
    assert client.post(url, data).status_code == 302
    assert Purchase.objects.get().points_used == 500


def test_a_purchase_without_points_needs_no_confirmation(clerk_a, jingan, theirs):
    client = english(clerk_a)
    url = reverse("staff:purchase", args=[theirs.member_no])
    page = client.get(url, {"amount": "50"}).content.decode()
    assert 'name="confirmation_code"' not in page
    client.post(url, {"amount": "50.00", "token": token_of(page)})
    assert Purchase.objects.get().store == jingan


def test_serving_is_audited_once_a_day_and_not_for_the_own_store(clerk_a, jingan, theirs):
    mine = MemberFactory(phone="13900139000", store=jingan)
    client = english(clerk_a)
    for _ in range(3):
        found(client, "13800138000", HTTP_HX_REQUEST="true")
        client.get(reverse("staff:member", args=[theirs.member_no]))
    found(client, mine.member_no)
    rows = AuditEntry.objects.filter(action="member.served_elsewhere")
    assert rows.count() == 1 and rows.get().actor == clerk_a
    page = english(clerk_a).get(reverse("staff:member", args=[theirs.member_no]))
    assert "Served at another store" in page.content.decode()  # on the 360 timeline


def test_the_home_store_manages_the_member_the_others_serve(clerk_a, jingan, theirs):
    manager_a = staff_create(username="mgr-ja", password=PASSWORD, role=Role.MANAGER, store=jingan)
    client = english(manager_a)
    page = client.get(reverse("staff:member", args=[theirs.member_no]))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="other-store-note"' in body
    assert reverse("staff:member_edit", args=[theirs.member_no]) not in body
    assert 'name="delta"' not in body  # no points adjustment form
    adjust = client.post(
        reverse("staff:points_adjust", args=[theirs.member_no]),
        {"delta": "100", "reason": "补录", "token": "tok-0123456789abcdef"},
    )
    assert adjust.status_code == 403
    assert client.get(reverse("staff:member_edit", args=[theirs.member_no])).status_code == 403
    assert Card.objects.get(pk=theirs.pk).points_balance == 0


def test_the_home_store_still_reads_a_purchase_made_elsewhere(clerk_a, theirs, guide_b):
    client = english(clerk_a)
    page = client.get(reverse("staff:purchase", args=[theirs.member_no]), {"amount": "30"})
    client.post(
        reverse("staff:purchase", args=[theirs.member_no]),
        {"amount": "30.00", "token": token_of(page.content.decode())},
    )
    bought = Purchase.objects.get()
    assert english(guide_b).get(reverse("staff:receipt", args=[bought.pk])).status_code == 200
    # Refunded where it was bought (as the API; the shift report files it there).
    refund = reverse("staff:refund", args=[bought.pk])
    assert english(guide_b).get(refund).status_code == 403
    assert client.get(refund).status_code == 200
    other = StoreFactory(code="SZ", name="深圳店")
    stranger = staff_create(username="c-sz", password=PASSWORD, role=Role.CLERK, store=other)
    assert english(stranger).get(reverse("staff:receipt", args=[bought.pk])).status_code == 403


# --- the 403 and 404 pages ------------------------------------------------------------


def test_a_403_is_a_page_of_the_staff_layout_with_a_way_back(clerk_a, hangzhou, theirs):
    franchise(hangzhou)
    url = reverse("staff:member", args=[theirs.member_no])
    zh = Client()
    zh.force_login(clerk_a)
    response = zh.get(url)
    page = response.content.decode()
    assert response.status_code == 403
    assert 'lang="zh-hans"' in page and "门店前台" in page  # the staff navigation, in Chinese
    assert "403 Forbidden" not in page and f'href="{COUNTER}"' in page
    english_page = english(clerk_a).get(url).content.decode()
    assert "You may not open this page" in english_page and "Back to the counter" in english_page


def test_an_expected_403_is_logged_without_a_traceback(clerk_a, hangzhou, theirs, caplog):
    franchise(hangzhou)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        english(clerk_a).get(reverse("staff:card", args=[theirs.member_no]))
    rows = [r for r in caplog.records if r.name == "django.request"]
    assert len(rows) == 1 and rows[0].exc_info is None
    assert "Forbidden" in rows[0].getMessage()


@pytest.mark.parametrize(
    "url", ["/staff/m/NOSUCH/", "/staff/purchases/999999/", "/staff/no-such-page/"]
)
def test_a_404_is_a_page_of_the_staff_layout(clerk_a, url):
    zh = Client()
    zh.force_login(clerk_a)
    response = zh.get(url)
    page = response.content.decode()
    assert response.status_code == 404
    assert 'lang="zh-hans"' in page and "门店前台" in page and "Not Found</h1>" not in page
    assert 'id="error-page"' in page and f'href="{COUNTER}"' in page
    assert "Page not found" in english(clerk_a).get(url).content.decode()


def test_a_404_before_login_leads_to_the_login(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert f'href="{reverse("login")}"' in response.content.decode()


def test_the_apis_404_stays_json(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404  # the API's own error shape: code and message
    assert response.json() == {"code": "not_found", "message": "没有这个 API 地址。"}


def test_an_account_without_a_staff_profile_gets_the_403_page(db):
    from members.models import User

    user = User.objects.create_user("visitor", password="x-long-password-1")
    client = english(user)
    response = client.get(COUNTER)
    assert response.status_code == 403 and 'id="error-page"' in response.content.decode()


# --- the deliberate coupon redemption ------------------------------------------------


def test_enter_after_a_coupon_search_takes_the_purchase_path(clerk_a, theirs):
    coupon, _ = coupon_issue(template=template(name="免费拿铁"), member=theirs)
    page = found(english(clerk_a), coupon.code, HTTP_HX_REQUEST="true").content.decode()
    with_purchase = re.search(r'<a [^>]*id="coupon-with-purchase"[^>]*>', page).group(0)
    no_purchase = re.search(r'<button [^>]*id="coupon-no-purchase"[^>]*>', page).group(0)
    assert "autofocus" in with_purchase and "autofocus" not in no_purchase
    assert f"?coupon={coupon.code}" in with_purchase


def test_redeeming_without_a_purchase_asks_first(clerk_a, jingan, theirs):
    coupon, _ = coupon_issue(template=template(name="免费拿铁"), member=theirs)
    client = english(clerk_a)
    verify = reverse("staff:verify")
    asked = client.post(verify, {"code": coupon.code})  # the search result's button
    assert asked.status_code == 200 and 'id="verify-confirm"' in asked.content.decode()
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.ISSUED
    not_yes = client.post(verify, {"code": coupon.code, "confirm": ""})
    assert not_yes.status_code == 200
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.ISSUED
    done = client.post(verify, {"code": coupon.code, "confirm": "1"})
    assert done["Location"] == reverse("staff:card", args=[theirs.member_no])
    coupon.refresh_from_db()
    assert (coupon.status, coupon.redeemed_store) == (Coupon.Status.REDEEMED, jingan)
    assert not Purchase.objects.exists()


def test_a_code_that_expires_while_the_basket_is_rung_up_still_buys_without_spending(
    clerk_a, jingan, theirs, time_machine
):
    """The code is accepted for its minute and the next; a purchase that spends nothing
    does not need it, so one confirmed after it expired goes through (review of issue
    24); spending points with it then needs the member's confirmation."""
    fund(theirs, 1000)
    time_machine.move_to(timezone.now().replace(second=59), tick=False)
    client = english(clerk_a)
    found(client, code_for(theirs), HTTP_HX_REQUEST="true")
    url = reverse("staff:purchase", args=[theirs.member_no])
    page = client.get(url, {"amount": "100"}).content.decode()
    code = member_code_of(page)
    assert code
    time_machine.move_to(timezone.now() + dt.timedelta(seconds=70), tick=False)  # expired
    data = {"amount": "100.00", "token": token_of(page), "member_code": code}
    assert client.post(url, data).status_code == 302
    assert Purchase.objects.get().points_used == 0
    spend = {"amount": "100.00", "points": "100", "token": "x" + token_of(page)[1:],
             "member_code": code}  # fmt: skip
    refused = client.post(url, spend)
    assert refused.status_code == 200 and Purchase.objects.count() == 1
