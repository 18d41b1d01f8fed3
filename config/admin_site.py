"""The admin site as the merchant reads it: their sections first, the system's last.

Django sorts the admin's apps and models by name, which put 任务队列 (django-q2) and
登录保护 (django-axes) above 会员. Here the apps come in the order of the business
(members, loyalty, campaigns, WeChat), then anything else, then the system's apps; and
the models of each app in the order a merchant sets them up and uses them. A model
not listed comes after the listed ones of its app, by name.

Installed by config.apps.AdminConfig (INSTALLED_APPS), so ``admin.site`` is this site.
"""

from django.contrib.admin import AdminSite

APP_ORDER = ["members", "loyalty", "campaigns", "wechat"]
# Last, in this order: accounts and permissions, login protection, the task queue.
SYSTEM_APPS = ["auth", "axes", "django_q"]

MODEL_ORDER = {
    "members": ["Member", "Tag", "Store", "User", "StaffProfile", "PrivacyNotice", "AuditEntry"],
    "loyalty": [
        # Set up: the rules, tiers and benefits.
        "LoyaltySettings",
        "Tier",
        "EarnRule",
        "CouponTemplate",
        "Coupon",
        "Reward",
        "Redemption",
        "TopUpOffer",
        "StoredValueEntry",
        "CountCardTemplate",
        "CountCard",
        "CountCardEntry",
        # What happened: cards, purchases and their ledgers.
        "Card",
        "Purchase",
        "Refund",
        "PointsEntry",
        "GrowthEntry",
        "TierChange",
        "CheckIn",
        "Referral",
        # Tools and the system: files in and out, POS keys, scheduled jobs.
        "ImportJob",
        "ImportTierAlias",
        "ExportJob",
        "ApiKey",
        "JobRun",
    ],  # fmt: skip
    "campaigns": [
        "Campaign",
        "Segment",
        "Message",
        "CampaignMember",
        "SegmentRun",
        "MarketingSettings",
    ],  # fmt: skip
    "wechat": ["Follower", "QrScene", "TemplateText"],
}


def app_rank(app_label: str) -> tuple[int, int]:
    if app_label in APP_ORDER:
        return (0, APP_ORDER.index(app_label))
    if app_label in SYSTEM_APPS:
        return (2, SYSTEM_APPS.index(app_label))
    return (1, 0)


def model_rank(app_label: str, object_name: str) -> int:
    order = MODEL_ORDER.get(app_label, [])
    return order.index(object_name) if object_name in order else len(order)


class HuiyuanAdminSite(AdminSite):
    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)  # by name: the tie-breaker
        apps.sort(key=lambda app: app_rank(app["app_label"]))
        for app in apps:
            app["models"].sort(key=lambda m: model_rank(app["app_label"], m["object_name"]))
        return apps
