"""LoyaltySettings.points_rounding: how a purchase's points become whole points."""

from decimal import Decimal

import pytest

from loyalty.models import LoyaltySettings

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db


def _rounding(mode: str, per_yuan: str = "2") -> None:
    LoyaltySettings.current()
    LoyaltySettings.objects.update(points_rounding=mode, points_per_yuan=Decimal(per_yuan))


@pytest.mark.parametrize(
    ("mode", "amount", "points"),
    [
        ("down", "99.90", 199),  # 199.8 -> 199
        ("half_up", "99.90", 200),  # 199.8 -> 200
        ("half_up", "99.70", 199),  # 199.4 -> 199
        ("half_up", "0.25", 1),  # 0.5 -> 1
        ("whole_yuan", "99.90", 198),  # 每满1元: 99 whole yuan x 2
        ("whole_yuan", "0.99", 0),
    ],
)
def test_the_setting_decides_the_fraction(pos, shopper, mode, amount, points, assert_ledger_ok):
    _rounding(mode)
    response = pos.buy(shopper, f"R-{mode}-{amount}", amount)
    assert response.status_code == 201
    assert response.json()["points_earned"] == points
    assert response.json()["points_balance"] == points


def test_rounding_applies_after_the_multipliers(pos, shopper):
    from loyalty.models import EarnRule

    _rounding("half_up", per_yuan="1")
    EarnRule.objects.create(name="咖啡豆1.5倍", category="咖啡豆", multiplier=Decimal("1.5"))
    # 9.00 x 1 x 1.5 = 13.5 -> 14 (rounded once, at the end)
    assert pos.buy(shopper, "R-M", "9.00", category="咖啡豆").json()["points_earned"] == 14


def test_the_setting_is_on_the_settings_page(owner_client):
    LoyaltySettings.current()
    page = owner_client.get("/admin/loyalty/loyaltysettings/1/change/").content.decode()
    assert 'name="points_rounding"' in page
