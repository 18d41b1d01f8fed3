"""Helpers and fixtures of the staff-screen tests (counter, member 360)."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from loyalty.models import CouponTemplate, Reward
from loyalty.services import points_award
from members.models import Role
from members.services import staff_create
from tests.conftest import PASSWORD
from tests.factories import MemberFactory

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


@pytest.fixture
def member(store):
    return MemberFactory(phone="13800138000", name="李雷", store=store)


@pytest.fixture
def theirs(other_store):
    """A member of another store: clerks and managers of `store` must never reach them."""
    return MemberFactory(phone="13900139000", name="韩梅梅", store=other_store)


@pytest.fixture
def other_clerk(other_store):
    return staff_create(username="clerk2", password=PASSWORD, role=Role.CLERK, store=other_store)


ROLES = ["owner", "manager", "clerk"]


@pytest.fixture
def as_role(request, owner, manager, clerk):
    """as_role("clerk") -> an English client logged in with that role."""
    users = {"owner": owner, "manager": manager, "clerk": clerk}
    return lambda role: english(users[role])
