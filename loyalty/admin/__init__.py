"""The loyalty admin (会员权益), one module a part: configuration.py (settings, tiers,
earn rules, API keys, job runs), ledgers.py (cards, purchases, refunds, the points and
growth value ledgers, tier history), benefits.py (coupons, rewards, check-ins,
referrals), prepaid.py (top-up offers, the stored value ledger), count_cards.py (count
card templates, cards and their ledger), transfers.py (imports and exports); base.py
holds what they share.

Importing the package registers them all (Django's admin autodiscover does). What loyalty
adds to the member's admin page (panels.py, the Import and Export buttons) is added by
LoyaltyConfig.ready(), not here.
"""

from .base import MemberSearchMixin, ReadOnlyAdmin, member_search
from .benefits import (
    CheckInAdmin,
    CouponAdmin,
    CouponEventInline,
    CouponIssueForm,
    CouponTemplateAdmin,
    ReasonActionForm,
    RedemptionAdmin,
    ReferralAdmin,
    RewardAdmin,
)
from .configuration import (
    ApiKeyAdmin,
    ApiKeyForm,
    EarnRuleAdmin,
    JobRunAdmin,
    LoyaltySettingsAdmin,
    TierAdmin,
)
from .count_cards import CountCardAdmin, CountCardEntryAdmin, CountCardTemplateAdmin
from .ledgers import (
    CardAdmin,
    CardForm,
    GrowthEntryAdmin,
    PointsEntryAdmin,
    PurchaseAdmin,
    RefundAdmin,
    RefundInline,
    TierChangeAdmin,
)
from .panels import loyalty_panel
from .prepaid import StoredValueEntryAdmin, TopUpOfferAdmin
from .transfers import ExportJobAdmin, ImportJobAdmin

__all__ = [
    "ApiKeyAdmin",
    "ApiKeyForm",
    "CardAdmin",
    "CardForm",
    "CheckInAdmin",
    "CouponAdmin",
    "CouponEventInline",
    "CouponIssueForm",
    "CouponTemplateAdmin",
    "CountCardAdmin",
    "CountCardEntryAdmin",
    "CountCardTemplateAdmin",
    "EarnRuleAdmin",
    "ExportJobAdmin",
    "GrowthEntryAdmin",
    "ImportJobAdmin",
    "JobRunAdmin",
    "LoyaltySettingsAdmin",
    "MemberSearchMixin",
    "PointsEntryAdmin",
    "PurchaseAdmin",
    "ReadOnlyAdmin",
    "StoredValueEntryAdmin",
    "TopUpOfferAdmin",
    "ReasonActionForm",
    "RedemptionAdmin",
    "ReferralAdmin",
    "RefundAdmin",
    "RefundInline",
    "RewardAdmin",
    "TierAdmin",
    "TierChangeAdmin",
    "loyalty_panel",
    "member_search",
]
