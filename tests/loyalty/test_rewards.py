"""The rewards catalog (积分商城): redeem for points, stock and per-member limits, coupon
rewards at once, goods against a pickup code (once), cancel gives points and stock back."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from loyalty.benefits.rewards import (
    RedemptionNotFound,
    RedemptionNotPossible,
    RewardNotAvailable,
    available_rewards,
    redemption_cancel,
    redemption_fulfil,
    reward_redeem,
)
from loyalty.errors import NotEnoughPoints, ReferenceConflict
from loyalty.ledger import points_award
from loyalty.models import (
    CODE_ALPHABET,
    Coupon,
    CouponTemplate,
    PointsEntry,
    Redemption,
    Reward,
)
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of

SH = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def reward(**fields) -> Reward:
    defaults = {"name": "保温杯", "kind": Reward.Kind.GOODS, "points_cost": 300}
    obj = Reward(**{**defaults, **fields})
    obj.full_clean()
    obj.save()
    return obj


def coupon_reward(**fields) -> Reward:
    tpl = CouponTemplate.objects.create(
        name="立减 10 元", kind="cash", value=Decimal("10"), valid_days=30, per_member_limit=1
    )
    return reward(name="10 元券", kind=Reward.Kind.COUPON, coupon_template=tpl, **fields)


def fund(member, points: int) -> None:
    # Points that never run out, whatever day a test redeems on.
    points_award(
        member=member,
        points=points,
        key=f"fund:{member.pk}:{points}",
        reason="期初",
        expires_at=at(2099, 1, 1),
    )


def ledger(member) -> list[tuple[str, int]]:
    return list(
        PointsEntry.objects.filter(member=member).order_by("id").values_list("kind", "delta")
    )


def stock_taken(item: Reward) -> int:
    return Reward.objects.get(pk=item.pk).redeemed_count


# --- redeeming ---------------------------------------------------------------------


def test_it_spends_the_points_and_waits_for_pickup(member, assert_ledger_ok):
    fund(member, 1000)
    cup = reward(stock=10, cash_part=Decimal("9.90"))
    redemption, created = reward_redeem(member=member, reward=cup, key="form-1")
    assert created and redemption.status == Redemption.Status.AWAITING_PICKUP
    assert (redemption.points, redemption.cash_part) == (300, Decimal("9.90"))
    assert len(redemption.pickup_code) == Redemption.PICKUP_CODE_LENGTH
    assert set(redemption.pickup_code) <= set(CODE_ALPHABET)
    assert redemption.coupon is None and redemption.fulfilled_at is None
    assert ledger(member) == [("earn", 1000), ("redeem", -300)]
    spent = PointsEntry.objects.get(kind="redeem")
    assert (spent.idempotency_key, spent.source) == ("reward:form-1", f"reward:{cup.pk}")
    assert card_of(member).points_balance == 700
    assert stock_taken(cup) == 1
    assert_ledger_ok()


def test_not_enough_points_writes_nothing(member, assert_ledger_ok):
    fund(member, 299)
    cup = reward(stock=1)
    with pytest.raises(NotEnoughPoints):
        reward_redeem(member=member, reward=cup, key="form-1")
    assert not Redemption.objects.exists()
    assert ledger(member) == [("earn", 299)]
    assert card_of(member).points_balance == 299
    assert stock_taken(cup) == 0
    assert list(available_rewards()) == [cup]  # the last one is still there for others
    assert_ledger_ok()


def test_expired_points_do_not_pay_and_nothing_is_written(member):
    points_award(member=member, points=500, key="old", reason="x", expires_at=at(2026, 12, 1))
    cup = reward()
    with pytest.raises(NotEnoughPoints):
        reward_redeem(member=member, reward=cup, key="form-1", now=at(2026, 12, 1, 0, 0, 1))
    assert ledger(member) == [("earn", 500)] and stock_taken(cup) == 0
    redemption, _ = reward_redeem(member=member, reward=cup, key="form-1", now=at(2026, 11, 30))
    assert redemption.points == 300


def test_it_stops_at_the_stock(store, assert_ledger_ok):
    cup = reward(stock=2)
    members = [MemberFactory(store=store) for _ in range(3)]
    for m in members:
        fund(m, 1000)
    reward_redeem(member=members[0], reward=cup, key="a")
    reward_redeem(member=members[1], reward=cup, key="b")
    assert list(available_rewards()) == []
    with pytest.raises(RewardNotAvailable, match="保温杯"):
        reward_redeem(member=members[2], reward=cup, key="c")
    assert card_of(members[2]).points_balance == 1000
    assert stock_taken(cup) == 2 and Redemption.objects.count() == 2
    assert_ledger_ok()


def test_the_per_member_limit_counts_all_but_cancelled(member, store, assert_ledger_ok):
    fund(member, 1000)
    cup = reward(per_member_limit=2)
    first, _ = reward_redeem(member=member, reward=cup, key="a")
    reward_redeem(member=member, reward=cup, key="b")
    with pytest.raises(RewardNotAvailable):
        reward_redeem(member=member, reward=cup, key="c")
    assert card_of(member).points_balance == 400
    # Another member is not limited by this one's redemptions.
    other = MemberFactory(store=store)
    fund(other, 1000)
    reward_redeem(member=other, reward=cup, key="d")
    # A cancelled one frees its place.
    redemption_cancel(redemption=first, actor=None, reason="不要了")
    third, created = reward_redeem(member=member, reward=cup, key="c")
    assert created and card_of(member).points_balance == 400
    assert_ledger_ok()


def test_rewards_outside_their_window_or_inactive_cannot_be_redeemed(member):
    fund(member, 1000)
    spring = reward(name="春季限定", starts_at=at(2027, 3, 1), ends_at=at(2027, 6, 1))
    retired = reward(name="旧款", active=False)
    assert list(available_rewards(now=at(2027, 2, 28, 23, 59, 59))) == []
    assert list(available_rewards(now=at(2027, 3, 1))) == [spring]
    assert list(available_rewards(now=at(2027, 6, 1))) == []
    for item, when in [(spring, at(2027, 2, 28, 23)), (spring, at(2027, 6, 1)), (retired, None)]:
        with pytest.raises(RewardNotAvailable):
            reward_redeem(member=member, reward=item, key=f"k-{item.pk}", now=when)
    assert not Redemption.objects.exists()
    assert card_of(member).points_balance == 1000
    reward_redeem(member=member, reward=spring, key="in-season", now=at(2027, 5, 31, 23, 59))


def test_a_coupon_reward_issues_the_coupon_at_once(member, clerk, store, assert_ledger_ok):
    fund(member, 1000)
    voucher = coupon_reward(points_cost=200)
    redemption, created = reward_redeem(member=member, reward=voucher, key="form-1", actor=clerk)
    assert created and redemption.status == Redemption.Status.FULFILLED
    assert redemption.fulfilled_at is not None
    coupon = redemption.coupon
    assert (coupon.member, coupon.source, coupon.status) == (member, "reward", "issued")
    assert coupon.issued_by == clerk
    # Bought with points: the coupon template's own per-member limit does not apply.
    again, _ = reward_redeem(member=member, reward=voucher, key="form-2")
    assert Coupon.objects.filter(member=member).count() == 2 and again.coupon != coupon
    assert card_of(member).points_balance == 600
    # Nothing to hand over, nothing to cancel.
    with pytest.raises(RedemptionNotPossible):
        redemption_fulfil(code=redemption.pickup_code, store=store, actor=clerk)
    with pytest.raises(RedemptionNotPossible):
        redemption_cancel(redemption=redemption, actor=clerk, reason="x")
    assert_ledger_ok()


def test_a_coupon_reward_whose_coupon_cannot_be_issued_is_not_available(member):
    fund(member, 1000)
    voucher = coupon_reward(points_cost=200)
    CouponTemplate.objects.filter(pk=voucher.coupon_template_id).update(active=False)
    assert list(available_rewards()) == []
    with pytest.raises(RewardNotAvailable):
        reward_redeem(member=member, reward=voucher, key="form-1")
    CouponTemplate.objects.filter(pk=voucher.coupon_template_id).update(active=True, stock=0)
    assert list(available_rewards()) == []
    with pytest.raises(RewardNotAvailable):
        reward_redeem(member=member, reward=voucher, key="form-1")
    assert ledger(member) == [("earn", 1000)] and stock_taken(voucher) == 0


def test_a_coupon_reward_leaves_the_catalog_with_its_coupons_last_day(member):
    fund(member, 1000)
    tpl = CouponTemplate.objects.create(
        name="年末券", kind="cash", value=Decimal("10"), valid_until=dt.date(2026, 12, 31)
    )
    voucher = reward(name="年末券", kind=Reward.Kind.COUPON, coupon_template=tpl)
    assert list(available_rewards(now=at(2026, 12, 31, 23, 59, 59))) == [voucher]
    assert list(available_rewards(now=at(2027, 1, 1))) == []
    with pytest.raises(RewardNotAvailable):
        reward_redeem(member=member, reward=voucher, key="late", now=at(2027, 1, 1))
    redemption, _ = reward_redeem(
        member=member, reward=voucher, key="in-time", now=at(2026, 12, 31, 23, 59, 59)
    )
    assert redemption.coupon.valid_until == at(2027, 1, 1)


def test_the_same_key_twice_makes_one_redemption(member, assert_ledger_ok):
    fund(member, 1000)
    cup = reward()
    first, created = reward_redeem(member=member, reward=cup, key="form-1")
    again, created_again = reward_redeem(member=member, reward=cup, key="form-1")
    assert created and not created_again and again == first
    assert Redemption.objects.count() == 1 and stock_taken(cup) == 1
    assert ledger(member) == [("earn", 1000), ("redeem", -300)]
    assert_ledger_ok()


def test_a_key_reused_for_another_member_or_reward_is_a_conflict(member, store):
    fund(member, 1000)
    cup, bag = reward(), reward(name="帆布袋", points_cost=100)
    mine, _ = reward_redeem(member=member, reward=cup, key="form-1")
    other = MemberFactory(store=store)
    fund(other, 1000)
    with pytest.raises(ReferenceConflict):  # never hand one member another's pickup code
        reward_redeem(member=other, reward=cup, key="form-1")
    with pytest.raises(ReferenceConflict):
        reward_redeem(member=member, reward=bag, key="form-1")
    assert Redemption.objects.get() == mine
    assert card_of(other).points_balance == 1000


# --- pickup ---------------------------------------------------------------------------


def test_the_pickup_code_is_handed_over_exactly_once(member, store, clerk):
    fund(member, 1000)
    redemption, _ = reward_redeem(member=member, reward=reward(), key="form-1")
    code = redemption.pickup_code
    typed = f"{code[:4].lower()}-{code[4:]}"  # as read out and typed at the counter
    done = redemption_fulfil(code=typed, store=store, actor=clerk, now=at(2026, 12, 2, 15))
    assert done.status == Redemption.Status.FULFILLED
    assert (done.fulfilled_store, done.handled_by, done.fulfilled_at) == (
        store,
        clerk,
        at(2026, 12, 2, 15),
    )
    # The message names the status in the active language: fix it, whatever ran before.
    with translation.override("en"), pytest.raises(RedemptionNotPossible, match="Fulfilled"):
        redemption_fulfil(code=code, store=store, actor=clerk)
    with pytest.raises(RedemptionNotPossible):
        redemption_cancel(redemption=done, actor=clerk, reason="x")
    assert card_of(member).points_balance == 700  # handing over moves no points


def test_an_unknown_pickup_code_is_not_found(store, clerk):
    with pytest.raises(RedemptionNotFound) as missing:
        redemption_fulfil(code="ABCD2345", store=store, actor=clerk)
    assert missing.value.status == 404


# --- cancel ---------------------------------------------------------------------------


def test_cancel_gives_back_the_points_and_the_stock(member, clerk, store, assert_ledger_ok):
    fund(member, 1000)
    cup = reward(stock=1)
    redemption, _ = reward_redeem(member=member, reward=cup, key="form-1")
    assert list(available_rewards()) == []

    cancelled = redemption_cancel(redemption=redemption, actor=clerk, reason="缺货")
    assert cancelled.status == Redemption.Status.CANCELLED
    assert (cancelled.handled_by, cancelled.note) == (clerk, "缺货")
    assert cancelled.cancelled_at is not None
    assert ledger(member) == [("earn", 1000), ("redeem", -300), ("refund", 300)]
    back = PointsEntry.objects.get(kind="refund")
    assert back.idempotency_key == "reward:form-1:cancel" and back.actor == clerk
    assert card_of(member).points_balance == 1000
    assert stock_taken(cup) == 0 and list(available_rewards()) == [cup]

    with pytest.raises(RedemptionNotPossible):
        redemption_cancel(redemption=redemption, actor=clerk, reason="again")
    with pytest.raises(RedemptionNotPossible):
        redemption_fulfil(code=redemption.pickup_code, store=store, actor=clerk)
    assert card_of(member).points_balance == 1000 and stock_taken(cup) == 0
    assert_ledger_ok()
