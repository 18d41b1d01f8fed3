"""Referral (邀请有礼): the link, the referrer's reward on registration, both sides' reward
on the friend's first purchase, once; no reward for a self-referral or past the monthly cap."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from loyalty.benefits.engagement import is_self_referral, referral_register
from loyalty.models import PointsEntry, Referral
from loyalty.purchases import purchase_record, purchase_refund
from members.models import Member
from members.services import (
    member_by_referral_code,
    member_create,
    member_referral_code,
    member_update,
)
from tests.factories import MemberFactory, next_phone
from tests.loyalty.conftest import card_of
from tests.loyalty.test_concurrency import CLIENTS, run_at_once

SH = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db


def at(*args, tz=SH) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


@pytest.fixture
def rewards(conf):
    conf.referral_points_on_registration = 50
    conf.referral_points_referrer_first_purchase = 100
    conf.referral_points_friend_first_purchase = 30
    conf.referral_monthly_cap = 2
    conf.save()
    return conf


@pytest.fixture
def referrer(member):
    return member


def friend_of(referrer, when: dt.datetime | None = None) -> Member:
    if when is None:
        return MemberFactory(referred_by=referrer, store=referrer.store)
    with time_machine.travel(when, tick=False):
        return MemberFactory(referred_by=referrer, store=referrer.store)


def referral_points(member) -> list[int]:
    return list(
        PointsEntry.objects.filter(member=member, idempotency_key__startswith="referral:")
        .order_by("id")
        .values_list("delta", flat=True)
    )


# --- the code ----------------------------------------------------------------------


def test_the_referral_code_is_stable_and_finds_its_member(referrer, store):
    code = member_referral_code(referrer)
    assert code == member_referral_code(Member.objects.get(pk=referrer.pk))
    assert Member.objects.get(pk=referrer.pk).referral_code == code
    assert member_by_referral_code(code) == referrer
    # As typed from a poster: lower case, a dash, spaces.
    assert member_by_referral_code(f" {code[:3].lower()}-{code[3:]} ") == referrer
    other = MemberFactory(store=store)
    assert member_referral_code(other) != code
    assert member_by_referral_code("") is None
    assert member_by_referral_code("ZZZZZZZ" if code != "ZZZZZZZ" else "YYYYYYY") is None


def test_an_erased_members_code_finds_nobody(referrer):
    code = member_referral_code(referrer)
    Member.objects.filter(pk=referrer.pk).update(status=Member.Status.ERASED)
    assert member_by_referral_code(code) is None


# --- registration --------------------------------------------------------------------


def test_a_friend_registered_with_the_code_is_linked_and_rewards_the_referrer(
    referrer, rewards, assert_ledger_ok
):
    found = member_by_referral_code(member_referral_code(referrer))
    friend = friend_of(found)
    referral = Referral.objects.get()
    assert (referral.referrer, referral.invitee, referral.status) == (
        referrer,
        friend,
        Referral.Status.REWARDED,
    )
    assert referral.registered_points == 50 and referral.first_purchase_at is None
    entry = PointsEntry.objects.get(member=referrer)
    assert (entry.kind, entry.delta, entry.idempotency_key) == (
        "earn",
        50,
        f"referral:{friend.phone_hash}:registered",
    )
    assert (card_of(referrer).points_balance, card_of(friend).points_balance) == (50, 0)
    assert_ledger_ok()


def test_registering_the_friend_again_gives_nothing_more(referrer, rewards, assert_ledger_ok):
    friend = friend_of(referrer)
    first = Referral.objects.get()
    assert referral_register(invitee=friend) == first
    assert referral_register(invitee=friend, now=at(2027, 1, 15, 10)) == first
    assert Referral.objects.count() == 1
    assert referral_points(referrer) == [50]
    assert_ledger_ok()


def test_a_member_without_a_referrer_makes_no_referral(member, rewards):
    assert referral_register(invitee=member) is None
    assert not Referral.objects.exists()


# --- first purchase ----------------------------------------------------------------------


def test_the_first_purchase_rewards_both_once(referrer, rewards, assert_ledger_ok):
    friend = friend_of(referrer)
    with time_machine.travel(at(2026, 12, 5, 14), tick=False):
        purchase, _ = purchase_record(member=friend, amount="10.00", external_ref="F-1")
    assert referral_points(friend) == [30] and referral_points(referrer) == [50, 100]
    assert card_of(friend).points_balance == 10 + 30
    assert purchase.points_balance_after == 40  # the receipt shows the bonus too
    assert Referral.objects.get().first_purchase_at == at(2026, 12, 5, 14)

    purchase_record(member=friend, amount="20.00", external_ref="F-2")
    assert referral_points(friend) == [30] and referral_points(referrer) == [50, 100]
    assert card_of(friend).points_balance == 10 + 30 + 20
    assert card_of(referrer).points_balance == 150
    assert_ledger_ok()


def test_a_friend_who_deletes_the_account_and_joins_again_earns_nobody_anything_more(
    referrer, rewards, assert_ledger_ok
):
    from members.services import member_erase, member_join

    friend = friend_of(referrer)
    phone = friend.phone
    purchase_record(member=friend, amount="10.00", external_ref="F-1")
    assert referral_points(referrer) == [50, 100]
    member_erase(member=friend, actor=None)

    again, created = member_join(phone=phone, consent_version="v1", referred_by=referrer)
    assert created and again.pk != friend.pk
    rejoined = Referral.objects.get(invitee=again)
    assert rejoined.registered_points == 0
    assert rejoined.status == Referral.Status.REJOINED  # not shown as "rewarded"
    purchase_record(member=again, amount="10.00", external_ref="F-2")
    assert referral_points(referrer) == [50, 100]  # neither reward a second time
    assert referral_points(again) == []  # nor the friend's first-purchase bonus
    welcome = sum(PointsEntry.objects.filter(member=again, source="welcome").values_list(
        "delta", flat=True))  # fmt: skip
    assert card_of(again).points_balance == 10 + welcome  # the purchase's own points
    assert_ledger_ok()


def test_a_first_purchase_refunded_and_made_again_is_not_rewarded_again(
    referrer, rewards, assert_ledger_ok
):
    friend = friend_of(referrer)
    first, _ = purchase_record(member=friend, amount="10.00", external_ref="F-1")
    purchase_refund(purchase=first)
    # The refund takes both first-purchase rewards back (buy-then-refund earns nothing).
    assert referral_points(friend) == [30, -30]
    assert referral_points(referrer) == [50, 100, -100]
    assert card_of(friend).purchase_count == 0
    purchase_record(member=friend, amount="10.00", external_ref="F-2")  # "first" again
    assert referral_points(friend) == [30, -30] and referral_points(referrer) == [50, 100, -100]
    assert card_of(referrer).points_balance == 50
    assert_ledger_ok()


def test_a_referral_reward_already_spent_is_owed_back(referrer, rewards, assert_ledger_ok):
    from loyalty.ledger import points_spend

    friend = friend_of(referrer)
    first, _ = purchase_record(member=friend, amount="10.00", external_ref="F-1")
    points_spend(member=referrer, points=150, key="spent", reason="兑换")
    purchase_refund(purchase=first)
    card = card_of(referrer)
    assert (card.points_balance, card.points_debt) == (0, 100)
    assert_ledger_ok()


def test_rewards_set_to_zero_give_nothing_but_keep_the_link(referrer, conf, assert_ledger_ok):
    conf.referral_points_on_registration = 0
    conf.referral_points_referrer_first_purchase = 0
    conf.referral_points_friend_first_purchase = 0
    conf.save()
    friend = friend_of(referrer)
    purchase_record(member=friend, amount="10.00", external_ref="F-1")
    referral = Referral.objects.get()
    assert referral.status == Referral.Status.REWARDED and referral.first_purchase_at
    assert referral_points(referrer) == referral_points(friend) == []
    assert_ledger_ok()


# --- self-referral ----------------------------------------------------------------------


def person(pk, *, phone_hash=None, openid=None, unionid="") -> Member:
    return Member(pk=pk, phone_hash=phone_hash, wechat_openid=openid, wechat_unionid=unionid)


@pytest.mark.parametrize(
    ("referrer", "invitee"),
    [
        (person(1), person(1)),
        (person(1, phone_hash="h-138"), person(2, phone_hash="h-138")),
        (person(1, openid="o-abc"), person(2, openid="o-abc")),
        (person(1, unionid="u-abc"), person(2, unionid="u-abc")),
        (
            person(1, phone_hash="h-1", unionid="u-abc"),
            person(2, phone_hash="h-2", unionid="u-abc"),
        ),
    ],
    ids=["same member", "same phone", "same openid", "same unionid", "other phone, same unionid"],
)
def test_the_same_person_on_both_sides_is_a_self_referral(referrer, invitee):
    assert is_self_referral(referrer, invitee)


@pytest.mark.parametrize(
    ("referrer", "invitee"),
    [
        (person(1, phone_hash="h-1"), person(2, phone_hash="h-2")),
        (person(1), person(2)),  # no phone (erased), no WeChat on either side
        (person(1, openid="o-1", unionid="u-1"), person(2, openid="o-2", unionid="u-2")),
    ],
    ids=["two phones", "nothing to compare", "two WeChat accounts"],
)
def test_two_people_are_not_a_self_referral(referrer, invitee):
    assert not is_self_referral(referrer, invitee)


def test_a_friend_on_the_referrers_wechat_account_earns_nobody_anything(
    referrer, rewards, store, assert_ledger_ok
):
    # The referrer bound WeChat; the "friend" is a second phone on the same WeChat
    # account. Registration cannot take a unionid yet, so the link and the unionid are
    # set as the WeChat sign-up would, and referral_register runs as its receiver does.
    Member.objects.filter(pk=referrer.pk).update(wechat_unionid="u-lilei")
    twin = MemberFactory(store=store)
    Member.objects.filter(pk=twin.pk).update(wechat_unionid="u-lilei", referred_by=referrer)
    twin.refresh_from_db()

    referral = referral_register(invitee=twin)
    assert referral.status == Referral.Status.REFUSED and referral.registered_points == 0
    purchase_record(member=twin, amount="10.00", external_ref="T-1")
    assert referral_points(referrer) == referral_points(twin) == []
    assert card_of(twin).points_balance == 10  # the purchase's own points only
    assert Referral.objects.get().first_purchase_at is None
    assert_ledger_ok()


@pytest.mark.xfail(
    strict=True,
    raises=TypeError,
    reason=(
        "members.services.member_create takes no WeChat openid/unionid, so a WeChat "
        "sign-up can only bind them after member_registered has run referral_register: "
        "the openid/unionid self-referral rule never applies at registration"
    ),
)
def test_a_wechat_sign_up_on_the_referrers_account_is_refused_at_registration(referrer, rewards):
    Member.objects.filter(pk=referrer.pk).update(wechat_unionid="u-lilei")
    twin = member_create(
        phone=next_phone(),
        referred_by=referrer,
        source=Member.Source.WECHAT,
        wechat_unionid="u-lilei",
    )
    assert twin.referral.status == Referral.Status.REFUSED
    assert referral_points(referrer) == []


def test_a_member_naming_themself_as_referrer_earns_nothing(member, rewards, assert_ledger_ok):
    member = member_update(member=member, actor=None, referred_by=member)
    assert member.referred_by_id == member.pk
    purchase_record(member=member, amount="10.00", external_ref="S-1")
    assert referral_register(invitee=member).status == Referral.Status.REFUSED
    assert referral_points(member) == []
    assert card_of(member).points_balance == 10
    assert_ledger_ok()


# --- the monthly cap ----------------------------------------------------------------------


def test_the_cap_counts_per_shanghai_month(referrer, rewards, assert_ledger_ok):
    friend_of(referrer, at(2026, 11, 1, 0, 0, 0))
    friend_of(referrer, at(2026, 11, 30, 12))
    # 23:59:59 and 00:00:00 Shanghai: both 30 November in UTC, two different months here.
    third = friend_of(referrer, at(2026, 11, 30, 15, 59, 59, tz=dt.UTC))
    fourth = friend_of(referrer, at(2026, 11, 30, 16, 0, 0, tz=dt.UTC))

    assert third.referral.status == Referral.Status.OVER_CAP
    assert third.referral.registered_points == 0
    assert fourth.referral.status == Referral.Status.REWARDED
    assert referral_points(referrer) == [50, 50, 50]
    assert card_of(referrer).points_balance == 150
    assert_ledger_ok()


def test_the_month_is_shanghais_whatever_timezone_a_request_activated(referrer, rewards):
    friend_of(referrer, at(2026, 11, 30, 12))
    friend_of(referrer, at(2026, 11, 30, 12))
    with timezone.override(ZoneInfo("Europe/London")):  # still 30 November there
        december = friend_of(referrer, at(2026, 12, 1, 0, 30))
    assert december.referral.status == Referral.Status.REWARDED


def test_october_does_not_count_towards_november(referrer, rewards):
    friend_of(referrer, at(2026, 10, 31, 23, 59, 59))
    friend_of(referrer, at(2026, 10, 31, 23, 59, 59))
    fresh = friend_of(referrer, at(2026, 11, 1, 0, 0, 0))
    assert fresh.referral.status == Referral.Status.REWARDED
    assert referral_points(referrer) == [50, 50, 50]


def test_a_friend_past_the_cap_still_gets_the_first_purchase_points(
    referrer, rewards, assert_ledger_ok
):
    rewards.referral_monthly_cap = 1
    rewards.save()
    friend_of(referrer)
    late = friend_of(referrer)
    assert late.referral.status == Referral.Status.OVER_CAP
    purchase_record(member=late, amount="10.00", external_ref="L-1")
    assert referral_points(late) == [30]
    assert referral_points(referrer) == [50]  # nothing for the over-cap friend's purchase
    assert_ledger_ok()


def test_a_refused_referral_does_not_use_up_the_cap(referrer, rewards, store):
    rewards.referral_monthly_cap = 1
    rewards.save()
    Member.objects.filter(pk=referrer.pk).update(wechat_unionid="u-lilei")
    twin = MemberFactory(store=store)
    Member.objects.filter(pk=twin.pk).update(wechat_unionid="u-lilei", referred_by=referrer)
    assert referral_register(invitee=Member.objects.get(pk=twin.pk)).status == "refused"
    assert friend_of(referrer).referral.status == Referral.Status.REWARDED


def test_a_rejoined_friend_does_not_use_up_the_cap(referrer, rewards, assert_ledger_ok):
    from members.services import member_erase, member_join

    rewards.referral_monthly_cap = 2
    rewards.save()
    friend = friend_of(referrer)
    phone = friend.phone
    member_erase(member=friend, actor=None)
    again, _created = member_join(phone=phone, consent_version="v1", referred_by=referrer)
    assert again.referral.status == Referral.Status.REJOINED
    assert friend_of(referrer).referral.status == Referral.Status.REWARDED  # the 2nd of 2
    assert referral_points(referrer) == [50, 50]
    assert_ledger_ok()


def test_a_friend_who_left_before_buying_and_rejoined_still_brings_the_purchase_rewards(
    referrer, rewards, assert_ledger_ok
):
    """Joined (the referrer got the registration points), deleted the account before a
    first purchase, joined again, then bought: that first purchase is rewarded, once."""
    from members.services import member_erase, member_join

    friend = friend_of(referrer)
    phone = friend.phone
    member_erase(member=friend, actor=None)
    again, _created = member_join(phone=phone, consent_version="v1", referred_by=referrer)
    assert again.referral.status == Referral.Status.REJOINED
    purchase_record(member=again, amount="10.00", external_ref="F-1")
    purchase_record(member=again, amount="10.00", external_ref="F-2")
    assert referral_points(referrer) == [50, 100]  # no second registration reward
    assert referral_points(again) == [30]
    assert_ledger_ok()


def test_a_rejoin_is_known_without_registration_points(referrer, rewards, assert_ledger_ok):
    """With no points for a registration there is no ledger row to go by: the referral
    keeps the person, so the rejoin is neither rewarded later nor counted in the cap."""
    from members.services import member_erase, member_join

    rewards.referral_points_on_registration = 0
    rewards.referral_monthly_cap = 1
    rewards.save()
    friend = friend_of(referrer)
    phone = friend.phone
    member_erase(member=friend, actor=None)
    rewards.referral_points_on_registration = 50
    rewards.save()
    again, _created = member_join(phone=phone, consent_version="v1", referred_by=referrer)
    assert again.referral.status == Referral.Status.REJOINED
    assert referral_points(referrer) == []
    assert friend_of(referrer).referral.status == Referral.Status.OVER_CAP  # the 1 is used
    assert_ledger_ok()


def test_the_migration_gives_earlier_referrals_their_person(referrer, rewards):
    from importlib import import_module

    from django.apps import apps

    from members.services import member_erase

    kept, erased = friend_of(referrer), friend_of(referrer)
    member_erase(member=erased, actor=None)
    Referral.objects.update(person="")
    import_module("loyalty.migrations.0011_referral_rejoined").fill_person(apps, None)
    assert Referral.objects.get(invitee=kept).person == kept.phone_hash
    assert Referral.objects.get(invitee=erased).person == f"member-{erased.pk}"


def test_a_cap_of_zero_means_no_cap(referrer, rewards):
    rewards.referral_monthly_cap = 0
    rewards.save()
    friends = [friend_of(referrer) for _ in range(4)]
    assert {f.referral.status for f in friends} == {Referral.Status.REWARDED}
    assert card_of(referrer).points_balance == 4 * 50


@pytest.mark.django_db(transaction=True)
def test_sixteen_friends_registering_at_once_stop_at_the_cap(store, assert_ledger_ok):
    from loyalty.models import LoyaltySettings

    conf = LoyaltySettings.current()
    conf.referral_monthly_cap, conf.referral_points_on_registration = 5, 50
    conf.save()
    referrer = MemberFactory(store=store)
    phones = [next_phone() for _ in range(CLIENTS)]

    results = run_at_once(
        lambda i: MemberFactory(phone=phones[i], referred_by=referrer, store=store)
    )
    assert all(isinstance(r, Member) for r in results), results
    statuses = sorted(Referral.objects.values_list("status", flat=True))
    assert statuses == sorted(["rewarded"] * 5 + ["over_cap"] * (CLIENTS - 5))
    assert card_of(referrer).points_balance == 5 * 50
    assert_ledger_ok()


@pytest.mark.django_db(transaction=True)
def test_sixteen_registrations_of_one_friend_at_once_reward_once(store, assert_ledger_ok):
    from loyalty.models import LoyaltySettings

    conf = LoyaltySettings.current()
    conf.referral_points_on_registration = 50
    conf.save()
    referrer = MemberFactory(store=store)
    friend = MemberFactory(store=store)
    Member.objects.filter(pk=friend.pk).update(referred_by=referrer)
    friend.refresh_from_db()

    results = run_at_once(lambda i: referral_register(invitee=friend))
    assert all(isinstance(r, Referral) for r in results), results
    assert Referral.objects.count() == 1
    assert card_of(referrer).points_balance == 50
    assert_ledger_ok()


@pytest.mark.django_db(transaction=True)
def test_sixteen_first_uses_of_the_code_at_once_make_one_code(store):
    referrer = MemberFactory(store=store)

    results = run_at_once(lambda i: member_referral_code(Member.objects.get(pk=referrer.pk)))
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 1
    assert Member.objects.get(pk=referrer.pk).referral_code == results[0]
