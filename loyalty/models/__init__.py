"""The loyalty app's models: core.py (settings, tiers, cards, earn rules, purchases and
refunds, API keys, job runs), ledgers.py (the points and growth value ledgers, tier
history), prepaid.py (stored value and its offers), count_cards.py (count cards, 次卡),
benefits.py (coupons, rewards, check-in, referrals) and imports.py (imports and
exports)."""

from .benefits import *  # noqa: F403
from .benefits import __all__ as _benefits
from .core import (
    MONEY,
    ApiKey,
    Card,
    EarnRule,
    JobRun,
    LoyaltySettings,
    Purchase,
    Refund,
    Tier,
)
from .count_cards import COUNT_CARD_TENDERS, CountCard, CountCardEntry, CountCardTemplate
from .imports import ExportJob, ImportJob, ImportRowError, ImportTierAlias, OpeningBalance
from .ledgers import GrowthEntry, PointsEntry, TierChange
from .prepaid import StoredValueEntry, Tender, TopUpOffer
from .stages import RFM_HIGH, RFM_SEGMENT_OF, Lifecycle, RfmSegment, rfm_segment

__all__ = [
    "MONEY",
    "ApiKey",
    "COUNT_CARD_TENDERS",
    "Card",
    "CountCard",
    "CountCardEntry",
    "CountCardTemplate",
    "EarnRule",
    "GrowthEntry",
    "JobRun",
    "Lifecycle",
    "LoyaltySettings",
    "PointsEntry",
    "Purchase",
    "RFM_HIGH",
    "RFM_SEGMENT_OF",
    "Refund",
    "RfmSegment",
    "StoredValueEntry",
    "Tender",
    "TopUpOffer",
    "Tier",
    "TierChange",
    "rfm_segment",
    *_benefits,
    "ExportJob",
    "ImportJob",
    "ImportRowError",
    "ImportTierAlias",
    "OpeningBalance",
]
