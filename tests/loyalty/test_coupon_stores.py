"""Coupon templates limited to stores (issue 24): the admin ticks the stores, and the one
check of a coupon's use (loyalty.coupons.why_unusable) refuses it elsewhere, so the
counter (preview, confirmation, 核销 without a purchase) and the POS API (check, purchase,
redeem) all say where it can be used; no store ticked: every store."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from loyalty.benefits.issuing import coupon_issue
from loyalty.errors import CouponNotValidHere
from loyalty.models import Coupon, CouponTemplate, Purchase
from loyalty.purchases import purchase_record
from members.models import Role
from members.services import staff_create
from tests.centre import sign_in, text_of
from tests.conftest import PASSWORD
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import english

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db

# The refusal as the API and the services say it (the merchant's zh-hans) and as the
# counter shows it to the English-speaking clerk of these screen tests.
ELSEWHERE = "该券不适用于本店（适用门店：徐汇店）"
ELSEWHERE_EN = "This coupon cannot be used at this store (valid at: 徐汇店)."


@pytest.fixture
def only_there(other_store):
    """立减 10 元, usable at 徐汇店 (SH02) only."""
    tpl = CouponTemplate.objects.create(
        name="徐汇专享 10 元", kind="cash", value=Decimal("10"), valid_days=30, per_member_limit=0
    )
    tpl.stores.set([other_store])
    return tpl


@pytest.fixture
def coupon(only_there, member):
    return coupon_issue(template=only_there, member=member)[0]


def assert_still_usable(coupon):
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.ISSUED and coupon.purchase_id is None


# --- the service --------------------------------------------------------------------


def test_a_purchase_elsewhere_is_refused_and_writes_nothing(member, store, coupon):
    with pytest.raises(CouponNotValidHere) as refused:
        purchase_record(
            member=member, amount="50", external_ref="P-1", store=store, coupon_code=coupon.code
        )
    assert refused.value.message == ELSEWHERE
    assert refused.value.code == "coupon_not_valid_here"
    assert refused.value.details == {"coupon_code": coupon.code, "stores": ["徐汇店"]}
    assert not Purchase.objects.exists()
    assert_still_usable(coupon)


def test_a_purchase_of_no_store_cannot_use_a_store_limited_coupon(member, coupon):
    with pytest.raises(CouponNotValidHere, match="该券仅限以下门店使用：徐汇店"):
        purchase_record(member=member, amount="50", external_ref="P-1", coupon_code=coupon.code)
    assert_still_usable(coupon)


def test_at_one_of_its_stores_it_is_used(member, other_store, coupon):
    bought, _ = purchase_record(
        member=member, amount="50", external_ref="P-1", store=other_store, coupon_code=coupon.code
    )
    assert bought.coupon_discount == Decimal("10.00")
    assert Coupon.objects.get(pk=coupon.pk).redeemed_store == other_store


def test_no_store_ticked_is_every_store_and_no_store(member, store):
    anywhere = CouponTemplate.objects.create(
        name="通用 5 元", kind="cash", value=Decimal("5"), valid_days=30, per_member_limit=0
    )
    a, _ = coupon_issue(template=anywhere, member=member)
    b, _ = coupon_issue(template=anywhere, member=member)
    purchase_record(member=member, amount="20", external_ref="P-1", store=store, coupon_code=a.code)
    purchase_record(member=member, amount="20", external_ref="P-2", coupon_code=b.code)
    assert Coupon.objects.filter(status=Coupon.Status.REDEEMED).count() == 2


# --- the counter --------------------------------------------------------------------


def purchase_url(member):
    return reverse("staff:purchase", args=[member.member_no])


def test_the_counter_preview_says_where_it_can_be_used(clerk, member, coupon):
    response = english(clerk).get(purchase_url(member), {"amount": "50", "coupon": coupon.code})
    assert response.status_code == 200
    assert response.context["quote"] is None
    assert ELSEWHERE_EN in response.content.decode()


def test_the_counter_confirmation_is_refused(clerk, member, coupon):
    client = english(clerk)
    preview = client.get(purchase_url(member), {"amount": "50"})  # a token of this form
    data = {"amount": "50", "coupon": coupon.code, "points": "0", "token": preview.context["token"]}
    response = client.post(purchase_url(member), data)
    assert response.status_code == 200
    assert ELSEWHERE_EN in response.content.decode()
    assert not Purchase.objects.exists()
    assert_still_usable(coupon)


def test_the_counter_refuses_to_verify_it_without_a_purchase(clerk, coupon):
    data = {"code": coupon.code, "confirm": "1"}  # past the confirmation of a use alone
    response = english(clerk).post(reverse("staff:verify"), data, follow=True)
    assert ELSEWHERE_EN in [str(m) for m in response.context["messages"]]
    assert_still_usable(coupon)


def test_a_clerk_of_one_of_its_stores_verifies_it(other_store, only_there):
    their_clerk = staff_create(username="clerk2", password=PASSWORD, role=Role.CLERK,
                               store=other_store)  # fmt: skip
    theirs = MemberFactory(phone="13900139000", store=other_store)
    coupon = coupon_issue(template=only_there, member=theirs)[0]
    english(their_clerk).post(reverse("staff:verify"), {"code": coupon.code, "confirm": "1"})
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.REDEEMED and coupon.redeemed_store == other_store


# --- the POS API --------------------------------------------------------------------


def test_the_api_refuses_a_purchase_with_its_own_code(pos, member, coupon):
    response = pos.buy(member, "POS-1", "50.00", coupon_code=coupon.code)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "coupon_not_valid_here" and body["stores"] == ["徐汇店"]
    assert body["message"] == ELSEWHERE and body["coupon_code"] == coupon.code
    assert not Purchase.objects.exists()
    assert_still_usable(coupon)


def test_the_api_refuses_to_redeem_it_here(pos, coupon):
    response = pos.post(f"/coupons/{coupon.code}/redeem")
    assert response.status_code == 422
    assert response.json()["code"] == "coupon_not_valid_here"
    assert_still_usable(coupon)


def test_the_api_check_says_it_is_not_usable_here(pos, other_pos, coupon):
    here = pos.get(f"/coupons/{coupon.code}", {"amount": "50"}).json()
    assert (here["usable"], here["reason"], here["discount"]) == (False, ELSEWHERE, None)
    there = other_pos.get(f"/coupons/{coupon.code}", {"amount": "50"}).json()
    assert (there["usable"], there["discount"]) == (True, "10.00")


def test_the_api_of_one_of_its_stores_accepts_it(other_pos, member, coupon):
    response = other_pos.buy(member, "POS-2", "50.00", coupon_code=coupon.code)
    assert response.status_code == 201, response.json()
    assert response.json()["coupon_discount"] == "10.00"


# --- the admin and the member centre ------------------------------------------------


def _change_form_data(response) -> dict:
    """The admin change form's fields as the browser would send them back."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None:
            continue
        if isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = str(value)
    return data


def test_the_owner_ticks_the_stores_in_the_admin(owner_client, store, other_store):
    tpl = CouponTemplate.objects.create(name="店庆券", kind="cash", value=10, valid_days=30)
    url = reverse("admin:loyalty_coupontemplate_change", args=[tpl.pk])
    page = owner_client.get(url)
    html = page.content.decode()
    assert html.count('type="checkbox" name="stores"') == 2  # ticked in place, no picker
    assert "静安店" in html and "徐汇店" in html
    data = {**_change_form_data(page), "stores": [str(store.pk), str(other_store.pk)]}
    response = owner_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert set(tpl.stores.all()) == {store, other_store}
    data["stores"] = []
    owner_client.post(url, data)
    assert not tpl.stores.exists()
    listing = owner_client.get(reverse("admin:loyalty_coupontemplate_changelist"))
    assert f"stores__id__exact={other_store.pk}" in listing.content.decode()  # the filter


def test_the_member_centre_says_where_it_can_be_used(member, coupon, django_assert_max_num_queries):
    me = sign_in(Client(headers={"Accept-Language": "en"}), member)
    with django_assert_max_num_queries(13):
        page = text_of(me.get("/me/coupons/"))
    assert coupon.display_code in page and "Only at: 徐汇店" in page
