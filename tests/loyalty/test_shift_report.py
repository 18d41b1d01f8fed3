"""The shift report (交班 / 日结) at /staff/shift/ (loyalty/counter/shift.py), against a
day made by hand: two clerks of 静安店, a clerk of 徐汇店 and the POS API, with purchases
(a coupon, points, stored value), a refund, top-ups, a count card sold and used, a coupon
verified without a purchase; and the purchase of the evening before, which is not the
day's. A clerk sees their own figures, a manager their store per clerk, owners every store.
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.benefits.issuing import coupon_issue
from loyalty.count_cards import count_card_sell, count_card_use
from loyalty.coupons import coupon_redeem
from loyalty.models import CountCardTemplate, Purchase
from loyalty.purchases import purchase_record, purchase_refund
from loyalty.stored_value import stored_value_top_up
from members.models import Role
from members.services import staff_create
from tests.conftest import PASSWORD
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import at, english, fund, template

pytestmark = pytest.mark.django_db

DAY = {"start": "2026-03-10", "end": "2026-03-10"}
SHIFT = reverse("staff:shift")
PRINT = reverse("staff:shift_print")


@pytest.fixture
def day(store, other_store, clerk, manager, owner):
    """The day of 2026-03-10 (Shanghai), as the docstring tells."""
    clerk3 = staff_create(username="clerk3", password=PASSWORD, role=Role.CLERK, store=store,
                          display_name="小张")  # fmt: skip
    clerk2 = staff_create(username="clerk2", password=PASSWORD, role=Role.CLERK,
                          store=other_store, display_name="小徐")  # fmt: skip
    m1 = MemberFactory(phone="13800138000", name="李雷", store=store)
    m2 = MemberFactory(phone="13900139000", name="韩梅梅", store=other_store)
    fund(m1, 1000)
    eve = at(2026, 3, 9, 18, 0)
    ten_off, _ = coupon_issue(template=template(value=Decimal("10")), member=m1, now=eve)
    gift_tpl = template(name="赠饮券", kind="gift", gift_name="中杯", value=Decimal("15"))
    gift, _ = coupon_issue(template=gift_tpl, member=m1, now=eve)
    CountCardTemplate.objects.create(code="wash10", name="10 次洗剪吹", uses=10,
                                     price=Decimal("298"), valid_months=12)  # fmt: skip
    # The evening before: not the day's. (No tier discount on any bill of the day.)
    purchase_record(member=m1, amount="999", external_ref="EVE", store=store, staff=clerk,
                    now=at(2026, 3, 9, 23, 59), occurred_at=at(2026, 3, 9, 23, 59))  # fmt: skip

    def buy(ref, member, amount, hour, *, where, who, **fields):
        when = at(2026, 3, 10, hour, 0)
        return purchase_record(member=member, amount=amount, external_ref=ref, store=where,
                               staff=who, now=when, occurred_at=when, apply_tier_discount=False,
                               **fields)[0]  # fmt: skip

    # clerk (静安店): a top-up, a purchase with a coupon and points, one with stored value,
    # a count card use, then the first purchase refunded in full.
    stored_value_top_up(member=m1, amount="200", external_ref="T1", tender="cash", store=store,
                        actor=clerk, now=at(2026, 3, 10, 9, 0))  # fmt: skip
    p1 = buy("P1", m1, "100", 10, where=store, who=clerk, coupon_code=ten_off.code,
             points_to_use=500)  # fmt: skip
    buy("P2", m1, "60", 11, where=store, who=clerk, stored_value_to_use="60")
    # clerk3 (静安店): a purchase, a count card sold (WeChat Pay), a gift coupon alone.
    buy("P3", m1, "40", 12, where=store, who=clerk3)
    card, _ = count_card_sell(member=m1, template_code="wash10", external_ref="CC1",
                              tender="wechat_pay", store=store, actor=clerk3,
                              now=at(2026, 3, 10, 12, 30))  # fmt: skip
    coupon_redeem(code=gift.code, store=store, actor=clerk3, now=at(2026, 3, 10, 13, 0))
    count_card_use(member=m1, card_id=card.pk, key="U1", store=store, actor=clerk,
                   now=at(2026, 3, 10, 14, 0))  # fmt: skip
    purchase_refund(purchase=p1, key="R1", actor=clerk, reason="退货",
                    now=at(2026, 3, 10, 15, 0))  # fmt: skip
    # 徐汇店's clerk, and the POS API of 静安店 (no staff member).
    buy("P4", m2, "70", 16, where=other_store, who=clerk2)
    stored_value_top_up(member=m2, amount="100", external_ref="T2", tender="alipay",
                        store=other_store, actor=clerk2, now=at(2026, 3, 10, 16, 30))  # fmt: skip
    buy("P5", m1, "30", 17, where=store, who=None, channel=Purchase.Channel.API)
    return {"clerk3": clerk3, "clerk2": clerk2}


def report_of(client, **params):
    response = client.get(SHIFT, {**DAY, **params})
    assert response.status_code == 200
    return response.context["report"]


def tenders(report) -> dict:
    return {t.code: (t.taken, t.paid_back) for t in report.tenders}


def D(text) -> Decimal:
    return Decimal(text)


def test_a_clerk_sees_their_own_shift(day, clerk):
    r = report_of(english(clerk))
    p = r.purchases
    assert (p["n"], p["gross"], p["coupon_discount"], p["points_used"], p["points_value"]) == (
        2, D("160.00"), D("10.00"), 500, D("5.00"),
    )  # fmt: skip
    assert (p["paid"], p["stored_value"], p["money"]) == (D("145.00"), D("60.00"), D("85.00"))
    assert (r.refunds["n"], r.refunds["amount"], r.refunds["points_returned"]) == (
        1, D("85.00"), 500,
    )  # fmt: skip
    assert r.net_paid == D("60.00")
    assert (r.coupons["n"], r.coupons["with_purchase"], r.coupons["given_back"]) == (1, 1, 1)
    sv = r.stored_value
    assert (sv["n_top_ups"], sv["top_up"], sv["spent"]) == (1, D("200.00"), D("60.00"))
    assert r.count_cards["uses"] == 1 and r.count_cards["n_sold"] == 0
    assert tenders(r) == {
        "cash": (D("200.00"), D("0.00")),
        "stored_value": (D("60.00"), D("0.00")),
        "unrecorded": (D("85.00"), D("85.00")),
    }
    assert r.money_net == D("200.00")  # stored value is not money at the till
    assert r.by_staff == [] and r.by_store == []  # no breakdown of one's own


def test_a_clerk_cannot_ask_for_another_clerk_or_store(day, clerk, other_store):
    client = english(clerk)
    mine = report_of(client)
    theirs = report_of(client, staff=day["clerk3"].pk, store=other_store.pk)
    assert theirs.purchases == mine.purchases and theirs.purchases["n"] == 2
    page = client.get(SHIFT, DAY).content.decode()
    assert 'name="staff"' not in page and 'name="store"' not in page


def test_a_manager_sees_their_store_per_clerk(day, manager):
    r = report_of(english(manager))
    p = r.purchases
    assert (p["n"], p["gross"], p["paid"], p["money"]) == (
        4, D("230.00"), D("215.00"), D("155.00"),
    )  # fmt: skip
    assert (r.coupons["n"], r.coupons["alone"]) == (2, 1)
    assert (r.count_cards["n_sold"], r.count_cards["sold"], r.count_cards["uses"]) == (
        1, D("298.00"), 1,
    )  # fmt: skip
    assert tenders(r) == {
        "cash": (D("200.00"), D("0.00")),
        "wechat_pay": (D("298.00"), D("0.00")),
        "stored_value": (D("60.00"), D("0.00")),
        "unrecorded": (D("155.00"), D("85.00")),
    }
    assert r.money_net == D("568.00")
    rows = {row["name"]: (row["purchases"], row["paid"], row["refunded"], row["top_up"],
                          row["coupons"], row["uses"]) for row in r.by_staff}  # fmt: skip
    assert rows == {
        "clerk": (2, D("145.00"), D("85.00"), D("200.00"), 1, 1),
        "小张": (1, D("40.00"), D("0.00"), D("0.00"), 1, 0),
        "No staff member (POS API, WeChat Pay)": (1, D("30.00"), D("0.00"), D("0.00"), 0, 0),
    }
    assert r.by_store == []  # one store


def test_a_manager_picks_one_clerk_of_their_store_only(day, manager):
    client = english(manager)
    r = report_of(client, staff=day["clerk3"].pk)
    assert (r.purchases["n"], r.purchases["paid"], r.count_cards["sold"]) == (
        1, D("40.00"), D("298.00"),
    )  # fmt: skip
    page = client.get(SHIFT, DAY).content.decode()
    assert "小张" in page and "小徐" not in page  # the choices: their store's staff
    refused = client.get(SHIFT, {**DAY, "staff": day["clerk2"].pk})
    assert refused.status_code == 200 and refused.context["report"] is None
    assert "Select a valid choice" in refused.content.decode()


def test_an_owner_sees_every_store_or_one(day, owner, other_store):
    client = english(owner)
    r = report_of(client)
    assert (r.purchases["n"], r.purchases["paid"]) == (5, D("285.00"))
    assert tenders(r)["alipay"] == (D("100.00"), D("0.00"))
    by_store = {row["name"]: (row["purchases"], row["paid"], row["top_up"]) for row in r.by_store}
    assert by_store == {
        "静安店": (4, D("215.00"), D("200.00")),
        "徐汇店": (1, D("70.00"), D("100.00")),
    }
    xuhui = report_of(client, store=other_store.pk)
    assert (xuhui.purchases["n"], xuhui.purchases["paid"], xuhui.stored_value["top_up"]) == (
        1, D("70.00"), D("100.00"),
    )  # fmt: skip
    assert xuhui.by_store == [] and [row["name"] for row in xuhui.by_staff] == ["小徐"]
    mixed = client.get(SHIFT, {**DAY, "store": other_store.pk, "staff": day["clerk3"].pk})
    assert mixed.context["report"] is None
    assert "小张 does not work at 徐汇店." in mixed.content.decode()


def test_the_range_takes_the_evening_before_too(day, clerk):
    r = report_of(english(clerk), start="2026-03-09")
    assert (r.purchases["n"], r.purchases["paid"]) == (3, D("1144.00"))


def test_today_is_the_default(clerk, member, store):
    purchase_record(member=member, amount="12.50", external_ref="NOW", store=store, staff=clerk)
    response = english(clerk).get(SHIFT)
    r = response.context["report"]
    assert (r.purchases["n"], r.purchases["paid"]) == (1, D("12.50"))
    assert 'id="shift-paid">¥12.50' in response.content.decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-03-10", "end": "2026-03-01"}, "The first day is after the last day."),
        ({"start": "2026-01-01", "end": "2026-06-30"}, "Choose at most 92 days at once."),
        ({"start": "10/03/2026"}, "Enter a valid date."),
        ({"start": "2026-02-30"}, "Enter a valid date."),
        ({"start": "9999-12-31", "end": "9999-12-31"}, "Choose days between 2000-01-01 and"),
        ({"start": "0001-01-01", "end": "0001-01-02"}, "Choose days between 2000-01-01 and"),
    ],
)
def test_bad_input_is_a_clear_message(clerk, params, message):
    response = english(clerk).get(SHIFT, params)
    assert response.status_code == 200 and response.context["report"] is None
    assert message in response.content.decode()


def test_the_print_view_is_a_slip_of_the_chosen_width(day, manager):
    client = english(manager)
    slip = client.get(PRINT, {**DAY, "width": "80"}).content.decode()
    assert 'class="shift-slip shift-slip-80"' in slip and "data-print" in slip
    assert "css/shift.css" in slip and "js/print.js" in slip
    assert "¥215.00" in slip and "小张" in slip
    narrow = client.get(PRINT, DAY).content.decode()
    assert 'class="shift-slip shift-slip-58"' in narrow  # 58 mm unless asked
    bad = client.get(PRINT, {**DAY, "width": "99"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()


def test_the_screen_links_to_the_slips_and_the_counter_links_to_it(day, clerk):
    client = english(clerk)
    page = client.get(SHIFT, DAY).content.decode()
    assert f"{PRINT}?start=2026-03-10&amp;end=2026-03-10&amp;width=58" in page
    assert "width=80" in page
    assert f'href="{SHIFT}" id="shift-link"' in client.get(reverse("staff:home")).content.decode()


def test_the_report_reads_a_fixed_number_of_queries(day, owner, django_assert_max_num_queries):
    client = english(owner)
    client.get(SHIFT, DAY)  # the session and permissions, once
    with django_assert_max_num_queries(30):
        client.get(SHIFT, DAY)


def test_strangers_are_sent_to_log_in(client):
    response = client.get(SHIFT)
    assert response.status_code == 302 and "login" in response["Location"]
