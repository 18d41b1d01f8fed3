"""The loyalty app's models: core.py (cards, tiers, purchases, the points ledger) and
benefits.py (coupons, rewards, check-in, referrals)."""

from .benefits import *  # noqa: F403
from .benefits import __all__ as _benefits
from .core import (
    MONEY,
    ApiKey,
    Card,
    EarnRule,
    GrowthEntry,
    JobRun,
    Lifecycle,
    LoyaltySettings,
    PointsEntry,
    Purchase,
    Refund,
    Tier,
    TierChange,
)
from .imports import ExportJob, ImportJob, ImportRowError, OpeningBalance

__all__ = [
    "MONEY",
    "ApiKey",
    "Card",
    "EarnRule",
    "GrowthEntry",
    "JobRun",
    "Lifecycle",
    "LoyaltySettings",
    "PointsEntry",
    "Purchase",
    "Refund",
    "Tier",
    "TierChange",
    *_benefits,
    "ExportJob",
    "ImportJob",
    "ImportRowError",
    "OpeningBalance",
]
