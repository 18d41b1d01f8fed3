"""Helpers of the staff-screen tests (counter, member 360, dashboard)."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.test import Client

from loyalty.ledger import points_award
from loyalty.models import CouponTemplate, Reward

SH = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def template(**fields) -> CouponTemplate:
    defaults = {"name": "立减 10 元", "kind": "cash", "value": Decimal("10"), "valid_days": 30}
    obj = CouponTemplate(**{**defaults, **fields})
    obj.full_clean()
    obj.save()
    return obj


def reward(**fields) -> Reward:
    defaults = {"name": "保温杯", "kind": Reward.Kind.GOODS, "points_cost": 300}
    obj = Reward(**{**defaults, **fields})
    obj.full_clean()
    obj.save()
    return obj


def fund(member, points: int) -> None:
    points_award(
        member=member,
        points=points,
        key=f"fund:{member.pk}:{points}",
        reason="期初",
        expires_at=at(2099, 1, 1),
    )


def english(user) -> Client:
    """A logged-in client that asks for English, so assertions read the msgids."""
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client
