"""Growth value (成长值) from actions, not only purchases (seed 001: 签到、分享等行为获取成长值):
each check-in and each one-time action add the settings' growth; on the growth basis a
member who reaches a tier's threshold goes up at once, with a TierChange row."""

import datetime as dt

import pytest
import time_machine
from django.test import Client

from loyalty.benefits.engagement import award_action, checkin
from loyalty.models import GrowthEntry, LoyaltySettings, PointsEntry, TierChange
from loyalty.tiers import growth_award
from tests.centre import sign_in
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def growth_basis(conf, tiers):
    """Tiers by growth value; the second tier at 10."""
    conf.tier_basis = LoyaltySettings.TierBasis.GROWTH
    conf.checkin_growth, conf.action_growth = 5, 10
    conf.save()
    second = list(tiers.values())[1]
    second.qualify_threshold = 10
    second.save()
    return second


@pytest.fixture
def me(member):
    return sign_in(Client(headers={"Accept-Language": "en"}), member)


def test_a_check_in_adds_growth_and_two_reach_the_next_tier(me, member, growth_basis):
    me.post("/me/checkin/")
    card = card_of(member)
    assert card.growth_value == 5 and card.tier != growth_basis
    entry = GrowthEntry.objects.get(member=member)
    assert entry.idempotency_key.endswith(":growth") and entry.balance_after == 5

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)):
        checkin(member=member)
    card = card_of(member)
    assert card.growth_value == 10 and card.tier == growth_basis
    change = TierChange.objects.get(member=member, to_tier=growth_basis)
    assert change.reason == TierChange.Reason.UPGRADE


def test_the_profile_gives_its_growth_once(me, member, growth_basis):
    data = {"name": "韩梅梅", "gender": "F", "birthday": "1995-03-08"}
    me.post("/me/profile/", data)
    me.post("/me/profile/", {**data, "birthday": "1995-03-09"})
    rows = GrowthEntry.objects.filter(member=member)
    assert [(r.delta, r.idempotency_key) for r in rows] == [
        (10, f"action:{member.phone_hash}:profile:growth")
    ]
    assert card_of(member).tier == growth_basis  # 10 reaches the second tier at once
    assert PointsEntry.objects.filter(member=member, source="action:profile").count() == 1


def test_growth_without_points_is_still_given(member, conf):
    conf.action_growth = 7
    conf.save()
    assert award_action(member=member, action="follow", points=0, reason="关注公众号") == (
        None,
        False,
    )
    assert card_of(member).growth_value == 7


def test_growth_award_is_once_per_key_and_none_for_nothing(member, conf):
    first, created = growth_award(member=member, growth=3, key="k1", reason="x")
    again, created_again = growth_award(member=member, growth=3, key="k1", reason="x")
    assert created and not created_again and again.pk == first.pk
    assert growth_award(member=member, growth=0, key="k2", reason="x") == (None, False)
    assert card_of(member).growth_value == 3


def test_zero_settings_add_no_growth(me, member, conf):
    assert conf.checkin_growth == 0 and conf.action_growth == 0  # the defaults
    me.post("/me/checkin/")
    me.post("/me/profile/", {"name": "韩梅梅", "gender": "F", "birthday": "1995-03-08"})
    assert not GrowthEntry.objects.filter(member=member).exists()
