"""Coupons: issue (stock, limits, audience), validity in Shanghai days, discounts,
use in a purchase and outside one (核销), void, refund, the expiry job."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from loyalty.benefits.issuing import CouponNotIssued, coupon_issue
from loyalty.coupons import (
    coupon_check,
    coupon_redeem,
    coupon_void,
    coupons_expire,
    discount_for,
    template_usage,
    usable_coupons,
)
from loyalty.errors import CouponNotUsable
from loyalty.models import Coupon, CouponEvent, CouponTemplate, Purchase
from loyalty.purchases import purchase_record, purchase_refund
from loyalty.tiers import tier_set
from tests.factories import MemberFactory, TagFactory
from tests.loyalty.conftest import card_of

SH = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    """The messages asserted below are the English msgids (the site default is Chinese)."""
    from django.utils import translation

    with translation.override("en"):
        yield


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def template(**fields) -> CouponTemplate:
    defaults = {"name": "立减 10 元", "kind": "cash", "value": Decimal("10"), "valid_days": 30}
    obj = CouponTemplate(**{**defaults, **fields})
    obj.full_clean()
    obj.save()
    return obj


# --- issuing ---------------------------------------------------------------------


def test_it_issues_a_coupon_with_a_readable_unique_code(member):
    coupon, created = coupon_issue(template=template(), member=member)
    assert created and coupon.status == Coupon.Status.ISSUED
    assert len(coupon.code) == Coupon.CODE_LENGTH
    assert not set(coupon.code) & set("01OILU")  # nothing to mishear or misread
    assert coupon.display_code == f"{coupon.code[:5]}-{coupon.code[5:]}"
    assert list(coupon.events.values_list("kind", flat=True)) == ["issued"]
    assert CouponTemplate.objects.get(pk=coupon.template_id).issued_count == 1


def test_it_stops_at_the_stock(store):
    tpl = template(stock=2, per_member_limit=0)
    members = [MemberFactory(store=store) for _ in range(3)]
    coupon_issue(template=tpl, member=members[0])
    coupon_issue(template=tpl, member=members[1])
    with pytest.raises(CouponNotIssued, match="out of stock"):
        coupon_issue(template=tpl, member=members[2])
    assert Coupon.objects.filter(template=tpl).count() == 2


def test_it_holds_the_per_member_limit(member):
    tpl = template(per_member_limit=2)
    coupon_issue(template=tpl, member=member)
    second, _ = coupon_issue(template=tpl, member=member)
    with pytest.raises(CouponNotIssued, match="most coupons"):
        coupon_issue(template=tpl, member=member)
    # A voided coupon no longer counts against the limit.
    coupon_void(coupon=second, actor=None, reason="发错了")
    coupon_issue(template=tpl, member=member)
    assert member.coupons.exclude(status="void").count() == 2


def test_a_key_issues_once(member):
    tpl = template(per_member_limit=0)
    first, created = coupon_issue(template=tpl, member=member, key="birthday:2026:1")
    again, created_again = coupon_issue(template=tpl, member=member, key="birthday:2026:1")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk and Coupon.objects.count() == 1


def test_it_issues_only_to_the_audience(member, tiers, owner):
    tpl = template(audience=CouponTemplate.Audience.TIERS)
    tpl.tiers.set([tiers["金卡"]])
    with pytest.raises(CouponNotIssued, match="may not receive"):
        coupon_issue(template=tpl, member=member)
    tier_set(member=member, tier=tiers["金卡"], actor=owner)
    coupon_issue(template=tpl, member=member)

    vip = TagFactory(name="VIP")
    by_tag = template(name="VIP 专享", audience=CouponTemplate.Audience.TAGS)
    by_tag.tags.set([vip])
    with pytest.raises(CouponNotIssued):
        coupon_issue(template=by_tag, member=member)
    member.tags.add(vip)
    coupon_issue(template=by_tag, member=member)


def test_an_inactive_or_finished_template_issues_nothing(member):
    with pytest.raises(CouponNotIssued, match="not active"):
        coupon_issue(template=template(active=False), member=member)
    ended = template(valid_days=None, valid_until=dt.date(2026, 1, 31))
    with pytest.raises(CouponNotIssued, match="window has ended"):
        coupon_issue(template=ended, member=member, now=at(2026, 2, 1, 0, 0))


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"kind": "percent", "value": Decimal("1.5")}, "value"),
        ({"kind": "threshold", "value": Decimal("20"), "min_spend": Decimal("10")}, "min_spend"),
        ({"kind": "gift", "value": Decimal("0")}, "gift_name"),
        ({"valid_days": None}, "valid_days"),
        ({"valid_until": dt.date(2026, 12, 31)}, "valid_until"),
    ],
)
def test_a_template_that_makes_no_sense_is_refused_with_a_clear_error(db, fields, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        template(**fields)
    assert field in exc.value.message_dict


# --- validity in Shanghai days ------------------------------------------------------


def test_valid_until_the_last_second_of_the_last_shanghai_day(member):
    tpl = template(
        valid_days=None, valid_from=dt.date(2026, 12, 1), valid_until=dt.date(2026, 12, 31)
    )
    coupon, _ = coupon_issue(template=tpl, member=member, now=at(2026, 11, 20, 12, 0))
    assert coupon_check(code=coupon.code, now=at(2026, 11, 30, 23, 59, 59)).reason.startswith(
        "This coupon can be used from 2026-12-01"
    )
    assert coupon_check(code=coupon.code, now=at(2026, 12, 1, 0, 0)).usable
    assert coupon_check(code=coupon.code, now=at(2026, 12, 31, 23, 59, 59)).usable
    # 2027-01-01 00:00 Shanghai is still 2026-12-31 in UTC: the coupon is over all the same.
    late = coupon_check(code=coupon.code, now=at(2027, 1, 1, 0, 0))
    assert not late.usable and "2026-12-31" in late.reason


def test_valid_days_count_the_day_of_issue(member):
    coupon, _ = coupon_issue(
        template=template(valid_days=3), member=member, now=at(2026, 3, 1, 23, 30)
    )
    assert coupon.valid_until == at(2026, 3, 4, 0, 0)  # 1, 2 and 3 March


def test_the_expiry_job_marks_them_once_and_is_safe_to_rerun(store):
    tpl = template(valid_days=1, per_member_limit=0)
    members = [MemberFactory(store=store) for _ in range(3)]
    old = [coupon_issue(template=tpl, member=m, now=at(2026, 5, 1, 9))[0] for m in members]
    fresh, _ = coupon_issue(template=tpl, member=members[0], now=at(2026, 5, 2, 9))
    assert coupons_expire(now=at(2026, 5, 2, 0, 0), batch=2) == 3
    assert coupons_expire(now=at(2026, 5, 2, 0, 0)) == 0
    assert set(Coupon.objects.filter(status="expired").values_list("pk", flat=True)) == {
        c.pk for c in old
    }
    assert CouponEvent.objects.filter(kind="expired").count() == 3
    assert Coupon.objects.get(pk=fresh.pk).status == "issued"


# --- discounts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, base, off",
    [
        ({"kind": "cash", "value": Decimal("10")}, "38.00", "10.00"),
        ({"kind": "cash", "value": Decimal("10")}, "6.50", "6.50"),  # never more than the bill
        ({"kind": "percent", "value": Decimal("0.88")}, "99.99", "12.00"),  # 11.9988 half up
        ({"kind": "percent", "value": Decimal("0.5"), "max_discount": Decimal("30")}, "100", "30"),
        ({"kind": "gift", "value": Decimal("32"), "gift_name": "中杯"}, "50", "0"),
    ],
)
def test_discount_for_each_kind(fields, base, off):
    assert discount_for(CouponTemplate(**fields), Decimal(base)) == Decimal(off)


def test_a_purchase_uses_the_coupon_once(member, store, assert_ledger_ok):
    tpl = template(kind="threshold", value=Decimal("20"), min_spend=Decimal("100"))
    coupon, _ = coupon_issue(template=tpl, member=member)
    purchase, created = purchase_record(
        member=member, amount="120.00", external_ref="C-1", store=store, coupon_code=coupon.code
    )
    assert created
    assert (purchase.coupon_discount, purchase.cash_paid) == (Decimal("20.00"), Decimal("100.00"))
    assert purchase.points_earned == 100  # points on the cash paid, after the coupon
    coupon.refresh_from_db()
    assert coupon.status == "redeemed" and coupon.purchase == purchase
    assert coupon.redeemed_store == store and coupon.discount == Decimal("20.00")
    with pytest.raises(CouponNotUsable, match="already used"):
        purchase_record(member=member, amount="120.00", external_ref="C-2", coupon_code=coupon.code)
    assert not Purchase.objects.filter(external_ref="C-2").exists()  # nothing half-written
    assert_ledger_ok()


def test_the_threshold_is_met_after_the_tier_discount(member, tiers, owner):
    tier_set(member=member, tier=tiers["金卡"], actor=owner)  # 95%
    tpl = template(kind="threshold", value=Decimal("20"), min_spend=Decimal("100"))
    coupon, _ = coupon_issue(template=tpl, member=member)
    with pytest.raises(CouponNotUsable, match="at least 100"):
        purchase_record(member=member, amount="105.00", external_ref="T-1", coupon_code=coupon.code)
    purchase, _ = purchase_record(
        member=member, amount="106.00", external_ref="T-2", coupon_code=coupon.code
    )
    assert purchase.tier_discount == Decimal("5.30") and purchase.coupon_discount == 20
    assert purchase.cash_paid == Decimal("80.70")


def test_a_category_coupon_applies_only_to_its_category(member):
    tpl = template(kind="percent", value=Decimal("0.85"), categories="咖啡豆, 周边")
    coupon, _ = coupon_issue(template=tpl, member=member)
    with pytest.raises(CouponNotUsable, match="only for: 周边、咖啡豆"):
        purchase_record(
            member=member,
            amount="50.00",
            external_ref="K-1",
            category="咖啡",
            coupon_code=coupon.code,
        )
    purchase, _ = purchase_record(
        member=member,
        amount="50.00",
        external_ref="K-2",
        category="咖啡豆",
        coupon_code=coupon.code,
    )
    assert purchase.coupon_discount == Decimal("7.50")


def test_another_members_coupon_is_refused(member, store):
    other = MemberFactory(store=store)
    coupon, _ = coupon_issue(template=template(), member=other)
    with pytest.raises(CouponNotUsable, match="another member"):
        purchase_record(member=member, amount="50", external_ref="X-1", coupon_code=coupon.code)
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"


def test_points_pay_only_what_the_coupon_left(member, conf):
    from loyalty.ledger import points_award

    points_award(member=member, points=10_000, key="opening", reason="期初")
    coupon, _ = coupon_issue(template=template(value=Decimal("20")), member=member)
    # 50 - 20 = 30 left; half of that (the cap) is 15 yuan = 1500 points.
    purchase, _ = purchase_record(
        member=member, amount="50", external_ref="P-1", coupon_code=coupon.code, points_to_use=1500
    )
    assert (purchase.points_value, purchase.cash_paid) == (Decimal("15.00"), Decimal("15.00"))


def test_a_full_refund_gives_the_coupon_back_while_it_is_valid(member, assert_ledger_ok):
    coupon, _ = coupon_issue(template=template(), member=member)
    purchase, _ = purchase_record(
        member=member, amount="30", external_ref="R-1", coupon_code=coupon.code
    )
    purchase_refund(purchase=purchase, amount=Decimal("5.00"), key="part")
    assert Coupon.objects.get(pk=coupon.pk).status == "redeemed"  # a partial refund keeps it used
    purchase_refund(purchase=purchase, key="rest")
    coupon.refresh_from_db()
    assert coupon.status == "issued" and coupon.purchase is None
    assert list(coupon.events.values_list("kind", flat=True)) == ["issued", "redeemed", "restored"]
    assert card_of(member).points_balance == 0
    assert_ledger_ok()


# --- 核销 outside a purchase, void -------------------------------------------------------


def test_a_gift_coupon_is_verified_once_at_the_counter(member, store, clerk):
    tpl = template(kind="gift", value=Decimal("32"), gift_name="中杯饮品")
    coupon, _ = coupon_issue(template=tpl, member=member)
    used = coupon_redeem(code=coupon.display_code.lower(), store=store, actor=clerk)
    assert used.status == "redeemed" and used.redeemed_by == clerk
    assert used.discount == Decimal("32.00")
    with pytest.raises(CouponNotUsable, match="already used"):
        coupon_redeem(code=coupon.code, store=store, actor=clerk)


def test_an_unknown_code_is_a_not_found(db):
    from loyalty.errors import CouponNotFound

    with pytest.raises(CouponNotFound):
        coupon_redeem(code="NOPE-NOPE", store=None)


def test_void_needs_a_reason_and_a_usable_coupon(member, owner):
    from django.core.exceptions import ValidationError

    coupon, _ = coupon_issue(template=template(), member=member)
    with pytest.raises(ValidationError):
        coupon_void(coupon=coupon, actor=owner, reason=" ")
    coupon_void(coupon=coupon, actor=owner, reason="客诉补偿错发")
    assert coupon.status == "void" and coupon.events.last().note == "客诉补偿错发"
    with pytest.raises(CouponNotUsable, match="voided"):
        coupon_redeem(code=coupon.code, store=None)
    with pytest.raises(CouponNotUsable):
        coupon_void(coupon=coupon, actor=owner, reason="again")


def test_usable_coupons_soonest_to_expire_first(member):
    with time_machine.travel(at(2026, 6, 1, 10), tick=False):
        late, _ = coupon_issue(template=template(name="A", valid_days=30), member=member)
        soon, _ = coupon_issue(template=template(name="B", valid_days=3), member=member)
        used, _ = coupon_issue(
            template=template(name="C", kind="gift", gift_name="g"), member=member
        )
        coupon_redeem(code=used.code, store=None)
        assert list(usable_coupons(member.pk)) == [soon, late]


def test_the_usage_report_counts_and_sums(store):
    tpl = template(per_member_limit=0, valid_days=1)
    member = MemberFactory(store=store)
    coupon_issue(template=tpl, member=member, now=at(2026, 1, 1, 9))
    coupon_issue(template=tpl, member=member, now=at(2026, 1, 1, 9))
    today, _ = coupon_issue(template=tpl, member=member)
    purchase_record(member=member, amount="40", external_ref="U-1", coupon_code=today.code)
    coupons_expire()
    row = template_usage(CouponTemplate.objects.filter(pk=tpl.pk)).get()
    assert (row.n_issued, row.n_redeemed, row.n_expired) == (3, 1, 2)
    assert row.discount_given == Decimal("10.00")
