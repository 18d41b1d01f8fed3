"""loyalty.rules.shown_rules: the screens' short-lived copy of the settings and tiers
(the same kept rules purchase_rules() checks against its stamp)."""

import pytest

from loyalty import rules
from loyalty.models import LoyaltySettings, Tier


@pytest.mark.django_db
def test_a_save_in_this_process_shows_at_once(django_assert_num_queries):
    conf = LoyaltySettings.current()
    assert rules.shown_rules().conf.points_per_cash_yuan == conf.points_per_cash_yuan
    with django_assert_num_queries(0):
        rules.shown_rules()  # the copy
    conf.points_per_cash_yuan = 250
    conf.save()
    assert rules.shown_rules().conf.points_per_cash_yuan == 250


@pytest.mark.django_db
def test_tiers_follow_saves_and_deletes():
    Tier.objects.all().delete()
    Tier.objects.create(level=1, name="银卡")
    assert [t.name for t in rules.shown_rules().tiers] == ["银卡"]
    gold = Tier.objects.create(level=2, name="金卡", qualify_threshold=1000)
    assert [t.name for t in rules.shown_rules().tiers] == ["银卡", "金卡"]
    gold.delete()
    assert [t.name for t in rules.shown_rules().tiers] == ["银卡"]


@pytest.mark.django_db
def test_another_processs_change_shows_within_the_refresh_time(monkeypatch):
    """A change this process did not see (another worker's, or a queryset update) is read
    again once the copy is REFRESH_SECONDS old."""
    clock = [1000.0]
    monkeypatch.setattr(rules.time, "monotonic", lambda: clock[0])
    LoyaltySettings.current()
    before = rules.shown_rules().conf.points_per_cash_yuan
    LoyaltySettings.objects.filter(pk=1).update(points_per_cash_yuan=before + 7)
    clock[0] += rules.REFRESH_SECONDS - 0.1
    assert rules.shown_rules().conf.points_per_cash_yuan == before
    clock[0] += 0.2
    assert rules.shown_rules().conf.points_per_cash_yuan == before + 7


@pytest.mark.django_db
def test_one_cache_shown_and_purchase_rules_are_the_same_rows(django_assert_num_queries):
    """The screens and the purchases keep one copy: what a purchase read is what the
    card shows, with no second read of the same rows."""
    shown = rules.shown_rules()
    with django_assert_num_queries(1):  # the stamp: the rows are not read again
        assert rules.purchase_rules() is shown


@pytest.mark.django_db
def test_shown_rules_include_the_tiers_coupon_templates(django_assert_num_queries):
    rules.shown_rules()
    with django_assert_num_queries(0):
        for tier in rules.shown_rules().tiers:
            _ = tier.birthday_coupon, tier.monthly_coupon
