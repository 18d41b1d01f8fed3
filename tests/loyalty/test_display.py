"""loyalty.display: the screens' short-lived copies of the settings and tiers."""

import pytest

from loyalty import display
from loyalty.models import LoyaltySettings, Tier


@pytest.mark.django_db
def test_a_save_in_this_process_shows_at_once(django_assert_num_queries):
    conf = LoyaltySettings.current()
    assert display.settings().points_per_cash_yuan == conf.points_per_cash_yuan
    with django_assert_num_queries(0):
        display.settings()  # the copy
    conf.points_per_cash_yuan = 250
    conf.save()
    assert display.settings().points_per_cash_yuan == 250


@pytest.mark.django_db
def test_tiers_follow_saves_and_deletes():
    Tier.objects.all().delete()
    Tier.objects.create(level=1, name="银卡")
    assert [t.name for t in display.tiers()] == ["银卡"]
    gold = Tier.objects.create(level=2, name="金卡", qualify_threshold=1000)
    assert [t.name for t in display.tiers()] == ["银卡", "金卡"]
    gold.delete()
    assert [t.name for t in display.tiers()] == ["银卡"]


@pytest.mark.django_db
def test_another_processs_change_shows_within_the_refresh_time(monkeypatch):
    """A change this process did not see (another worker's, or a queryset update) is read
    again once the copy is REFRESH_SECONDS old."""
    clock = [1000.0]
    monkeypatch.setattr(display.time, "monotonic", lambda: clock[0])
    LoyaltySettings.current()
    before = display.settings().points_per_cash_yuan
    LoyaltySettings.objects.filter(pk=1).update(points_per_cash_yuan=before + 7)
    clock[0] += display.REFRESH_SECONDS - 0.1
    assert display.settings().points_per_cash_yuan == before
    clock[0] += 0.2
    assert display.settings().points_per_cash_yuan == before + 7
