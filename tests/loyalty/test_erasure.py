"""A member deletes their account (/me/privacy/delete/): the points, coupons and rewards
awaiting pickup they were told are lost are forfeited, in the erasure's transaction,
through the ledger (check_ledger still balances), and only once."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from campaigns.dashboard import dashboard_aggregates, figures
from campaigns.models import Message
from loyalty.benefits.issuing import coupon_issue
from loyalty.benefits.rewards import reward_redeem
from loyalty.coupons import coupon_redeem
from loyalty.erasure import Forfeited, loyalty_erase
from loyalty.errors import CouponNotUsable
from loyalty.ledger import ledger_problems, points_award, points_spend
from loyalty.models import Card, Coupon, CouponEvent, PointsEntry, Redemption, Reward
from loyalty.purchases import purchase_record, purchase_refund
from members.models import AuditEntry, Member
from members.services import member_erase
from tests.centre import sign_in
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import english, fund, reward, template

pytestmark = pytest.mark.django_db
DELETE = "/me/privacy/delete/"
VERIFY = "/staff/verify/"


@pytest.fixture
def web(db):
    return Client(headers={"Accept-Language": "en"})


@pytest.fixture
def holder(member, store):
    """李雷 with points from a purchase and a gift, two coupons, a cup awaiting pickup and
    a coupon bought with points."""
    purchase_record(member=member, amount="88.00", external_ref="POS-1", store=store)
    fund(member, 1000)
    coupon_issue(template=template(), member=member)
    coupon_issue(
        template=template(name="拿铁", kind="gift", gift_name="拿铁", value=0), member=member
    )
    reward_redeem(member=member, reward=reward(stock=5), key="form-cup")
    coupon_reward = reward(
        name="5 元券", kind=Reward.Kind.COUPON, points_cost=100, coupon_template=template(value=5)
    )
    reward_redeem(member=member, reward=coupon_reward, key="form-coupon")
    return member


def delete_account(web, member):
    sign_in(web, member)
    response = web.post(DELETE, {"confirm": "on"})
    assert response.status_code == 302 and response["Location"] == "/join/"
    return Member.objects.get(pk=member.pk)


def card_of(member) -> Card:
    return Card.objects.get(pk=member.pk)


def check_ledger() -> int:
    """check_ledger's exit status (it exits 1 on drift, returns on a sound ledger)."""
    try:
        call_command("check_ledger", stdout=io.StringIO(), stderr=io.StringIO())
    except SystemExit as exc:
        return exc.code
    return 0


def snapshot(member) -> dict:
    return {
        "points": list(PointsEntry.objects.filter(member=member).values_list("pk", "remaining")),
        "coupons": list(Coupon.objects.filter(member=member).values_list("pk", "status")),
        "events": CouponEvent.objects.filter(coupon__member=member).count(),
        "redemptions": list(Redemption.objects.filter(member=member).values_list("pk", "status")),
        "audit": AuditEntry.objects.filter(object_id=str(member.pk)).count(),
        "card": Card.objects.filter(pk=member.pk).values().get(),
    }


def test_the_points_are_forfeited_through_the_ledger(web, holder):
    before = card_of(holder).points_balance
    assert before > 0

    erased = delete_account(web, holder)

    card = card_of(erased)
    assert (card.points_balance, card.points_debt) == (0, 0)
    forfeit = PointsEntry.objects.get(idempotency_key=f"erase:{erased.pk}")
    # What was there plus the points of the cup that was not picked up (given back first).
    assert forfeit.kind == PointsEntry.Kind.ADJUST and forfeit.delta == -(before + 300)
    assert forfeit.balance_after == 0 and forfeit.actor is None
    assert not PointsEntry.objects.filter(member=erased, remaining__gt=0).exists()
    assert PointsEntry.objects.filter(member=erased).count() > 1  # the history stays
    assert not ledger_problems() and check_ledger() == 0


def test_the_coupons_are_voided_and_refused_at_the_counter(web, holder, clerk):
    codes = list(Coupon.objects.filter(member=holder).values_list("code", flat=True))
    assert len(codes) == 3  # two given, one bought with points

    erased = delete_account(web, holder)

    for coupon in Coupon.objects.filter(member=erased):
        assert coupon.status == Coupon.Status.VOID
        assert coupon.events.filter(kind=CouponEvent.Kind.VOIDED).count() == 1
    counter = english(clerk)
    for code in codes:
        page = counter.post(VERIFY, {"code": code}, follow=True).content.decode()
        assert "This coupon has been voided." in page
        with pytest.raises(CouponNotUsable):  # the POS API's path, with no member given
            coupon_redeem(code=code, store=None)
    assert not Coupon.objects.filter(member=erased).exclude(status=Coupon.Status.VOID).exists()
    assert not AuditEntry.objects.filter(action="coupon.redeem").exists()


def test_rewards_awaiting_pickup_are_cancelled_and_go_back_to_stock(web, holder, clerk):
    cup = Redemption.objects.get(member=holder, status=Redemption.Status.AWAITING_PICKUP)

    delete_account(web, holder)

    cup.refresh_from_db()
    assert cup.status == Redemption.Status.CANCELLED and cup.cancelled_at is not None
    assert Reward.objects.get(pk=cup.reward_id).redeemed_count == 0
    # The points come back to the card, then go with the rest of the balance.
    back = PointsEntry.objects.get(idempotency_key="reward:form-cup:cancel")
    assert back.delta == 300 and back.remaining == 0
    page = english(clerk).post(VERIFY, {"code": cup.pickup_code}, follow=True).content.decode()
    assert "not awaiting pickup" in page
    cup.refresh_from_db()
    assert cup.status == Redemption.Status.CANCELLED


def test_erasing_twice_changes_nothing_more(web, holder, clerk):
    erased = delete_account(web, holder)
    after = snapshot(erased)

    member_erase(member=erased, actor=clerk)
    # Even run again on its own, the loyalty part finds nothing left to forfeit.
    assert loyalty_erase(member=erased, actor=clerk) == Forfeited()

    assert snapshot(erased) == after
    assert check_ledger() == 0


def test_points_owed_are_written_off(web, member):
    purchase, _ = purchase_record(member=member, amount="100", external_ref="P")
    points_spend(member=member, points=90, key="reward", reason="兑换")
    purchase_refund(purchase=purchase)
    assert (card_of(member).points_balance, card_of(member).points_debt) == (0, 90)

    erased = delete_account(web, member)

    assert (card_of(erased).points_balance, card_of(erased).points_debt) == (0, 0)
    assert PointsEntry.objects.get(idempotency_key=f"erase:{erased.pk}:debt").delta == 90
    assert not PointsEntry.objects.filter(idempotency_key=f"erase:{erased.pk}").exists()
    assert check_ledger() == 0


def test_lots_already_due_expire_and_the_rest_is_forfeited(web, member):
    now = timezone.now()
    points_award(member=member, points=40, key="old", reason="旧", expires_at=now)
    fund(member, 60)

    erased = delete_account(web, member)

    entries = PointsEntry.objects.filter(member=erased, delta__lt=0)
    assert sorted(entries.values_list("kind", "delta")) == [("adjust", -60), ("expire", -40)]
    assert card_of(erased).points_balance == 0 and check_ledger() == 0


def test_the_staff_who_erase_a_member_are_named_on_the_entries(holder, clerk):
    result = member_erase(member=holder, actor=clerk)

    assert PointsEntry.objects.get(idempotency_key=f"erase:{result.pk}").actor == clerk
    voided = CouponEvent.objects.filter(coupon__member=result, kind=CouponEvent.Kind.VOIDED)
    assert voided.count() == 3 and set(voided.values_list("actor", flat=True)) == {clerk.pk}
    cup = Redemption.objects.get(member=result, reward__kind=Reward.Kind.GOODS)
    assert cup.handled_by == clerk


def test_no_notice_of_the_forfeit_is_left_for_the_erased_member(web, holder):
    erased = delete_account(web, holder)

    assert not Message.objects.filter(member=erased).exists()


def test_the_erased_balance_leaves_the_points_outstanding(web, holder, store):
    other = MemberFactory(store=store)
    fund(other, 500)

    delete_account(web, holder)
    today = timezone.localdate()
    dashboard_aggregates(today)

    outstanding = figures(first=today - dt.timedelta(days=30), last=today).liability_points
    assert outstanding == 500 == card_of(other).points_balance


def test_other_members_are_untouched(web, holder, store):
    other = MemberFactory(store=store)
    fund(other, 500)
    kept, _ = coupon_issue(template=template(), member=other)

    delete_account(web, holder)

    assert card_of(other).points_balance == 500
    assert coupon_redeem(code=kept.code, store=store).discount == Decimal("10.00")


def test_a_refund_after_the_erasure_gives_nothing_back_to_the_deleted_account(store):
    """Returns come in after a customer deleted their account: the points the refund
    gives back are forfeited at once and the coupon stays used."""
    from loyalty.ledger import points_award
    from loyalty.models import CouponTemplate
    from loyalty.purchases import purchase_record, purchase_refund
    from members.services import member_erase

    member = MemberFactory(store=store)
    points_award(member=member, points=500, key="seed", reason="seed")
    template = CouponTemplate.objects.create(name="5元券", kind="cash", value=5, valid_days=30)
    coupon, _ = coupon_issue(template=template, member=member)
    purchase, _ = purchase_record(member=member, amount="100", external_ref="R-ERASE",
                                  points_to_use=300, coupon_code=coupon.code)  # fmt: skip
    member_erase(member=member, actor=None)
    assert Card.objects.get(pk=member.pk).points_balance == 0

    purchase_refund(purchase=purchase, reason="退货")

    assert Card.objects.get(pk=member.pk).points_balance == 0
    forfeited = PointsEntry.objects.get(idempotency_key__startswith=f"erase:{member.pk}:refund:")
    assert forfeited.delta < 0
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.REDEEMED  # not handed back to a deleted account
    call_command("check_ledger", stdout=io.StringIO())  # exits 1 on drift
