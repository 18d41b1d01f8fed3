from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# loyalty's permissions of each staff role (members/roles.py), given to the role groups
# by members' sync_role_groups. "loyalty.*" means all of loyalty's.
ROLE_PERMISSIONS = {
    "owner": ["loyalty.*"],
    "manager": [
        "loyalty.view_loyaltysettings",  # the configuration: read, the owner changes it
        "loyalty.view_tier",
        "loyalty.view_earnrule",
        "loyalty.view_card",
        "loyalty.view_purchase",
        "loyalty.add_purchase",
        "loyalty.add_refund",
        "loyalty.view_refund",
        "loyalty.view_pointsentry",
        "loyalty.view_growthentry",
        "loyalty.view_tierchange",
        "loyalty.adjust_points",
        "loyalty.issue_coupon",
        "loyalty.view_coupon",
        "loyalty.change_coupon",
        "loyalty.view_couponevent",
        "loyalty.view_coupontemplate",
        "loyalty.view_reward",
        "loyalty.view_redemption",
        "loyalty.change_redemption",
        "loyalty.view_checkin",
        "loyalty.view_referral",
        "loyalty.view_topupoffer",
        "loyalty.view_storedvalueentry",
        "loyalty.add_storedvalueentry",  # top-ups at the counter
        "loyalty.cash_out_stored_value",  # 退卡: managers and owners only
        "loyalty.view_countcardtemplate",
        "loyalty.view_countcard",
        "loyalty.add_countcard",  # sell a count card at the counter
        "loyalty.view_countcardentry",
        "loyalty.add_countcardentry",  # use one
        "loyalty.refund_count_card",  # refund the unused uses: managers and owners only
    ],
    "clerk": [
        "loyalty.view_card",
        "loyalty.add_purchase",
        "loyalty.view_purchase",
        "loyalty.add_refund",  # refunds at the counter, their store's members only
        "loyalty.view_coupon",
        "loyalty.change_coupon",  # 核销 a coupon without a purchase
        "loyalty.view_redemption",
        "loyalty.change_redemption",  # hand over a reward (pickup code)
        "loyalty.view_storedvalueentry",
        "loyalty.add_storedvalueentry",  # top-ups at the counter
        "loyalty.view_countcard",
        "loyalty.add_countcard",  # sell a count card at the counter
        "loyalty.add_countcardentry",  # use one
    ],
}

# What staff read for loyalty's actions in the audit trail (members.audit.ACTION_LABELS:
# members owns the table, every app names its own actions).
AUDIT_ACTIONS = {
    "purchase.record": _("Purchase recorded at the counter"),
    "purchase.refund": _("Purchase refunded"),
    "points.adjust": _("Points adjusted by hand"),
    "tier.set": _("Tier set by staff"),
    "coupon.redeem": _("Coupon verified (核销)"),
    "coupon.issue": _("Coupon issued by staff"),
    "redemption.fulfil": _("Reward handed over"),
    "stored_value.cash_out": _("Stored value cashed out"),
    "stored_value.top_up": _("Stored value topped up at the counter"),
    "count_card.sell": _("Count card sold at the counter"),
    "count_card.refund": _("Count card refunded"),
}


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty")

    def ready(self):
        # ready() may run more than once (tests): every connection has a dispatch_uid
        # and every registry is added to only when it lacks loyalty's entry.
        self.connect_signals()
        self.fill_registries()

    def connect_signals(self):
        from django.db.models.signals import post_delete, post_save

        from members.signals import demo_seeded, member_erased, member_registered, member_updated

        from . import receivers, rules, signals
        from .models import EarnRule, LoyaltySettings, Tier

        # Inside the registration transaction: the card exists whenever the member does.
        member_registered.connect(receivers.create_card, dispatch_uid="loyalty.create_card")
        member_registered.connect(receivers.welcome, dispatch_uid="loyalty.welcome")
        member_registered.connect(receivers.reward_referrer, dispatch_uid="loyalty.reward_referrer")
        member_updated.connect(receivers.reward_profile, dispatch_uid="loyalty.reward_profile")
        # Inside the erasure transaction: points forfeited, coupons voided, pickups
        # cancelled. Connected before campaigns' erase_messages (INSTALLED_APPS order),
        # so the notices these changes write are deleted with the member's other messages.
        member_erased.connect(receivers.erase, dispatch_uid="loyalty.erase")
        demo_seeded.connect(receivers.seed_demo, dispatch_uid="loyalty.seed_demo")
        # The kernel's purchase reaches the benefits above it by these, inside its
        # transaction, on the locked card (loyalty/signals.py): no import upwards.
        signals.first_purchase.connect(
            receivers.reward_first_purchase, dispatch_uid="loyalty.reward_first_purchase"
        )
        signals.purchase_refunded.connect(
            receivers.take_back_referral, dispatch_uid="loyalty.take_back_referral"
        )
        signals.stored_value_changed.connect(
            receivers.top_up_gifts, dispatch_uid="loyalty.top_up_gifts"
        )

        # The rules kept in this process (loyalty/rules.py) are forgotten at once when
        # this process saves or deletes one of their rows.
        for model in (LoyaltySettings, Tier, EarnRule):
            for signal in (post_save, post_delete):
                uid = f"loyalty.rules.{model.__name__}"
                signal.connect(rules.forget, sender=model, dispatch_uid=uid)

    def fill_registries(self):
        """loyalty's entries in the registries of members (below) and its own jobs."""
        from members.admin import AUDIT_TEXT, MEMBER_LIST, MEMBER_PANELS, MEMBER_TRANSFER
        from members.audit import ACTION_LABELS
        from members.privacy import ERASE_HOLDS, EXPORT_SECTIONS
        from members.roles import contribute

        from . import jobs
        from .admin.member_list import add_member_list_entries
        from .admin.panels import loyalty_panel
        from .centre.views import loyalty_export
        from .counter.audit_sentences import audit_sentence
        from .imports.admin import may_import, member_export_view, member_import_view
        from .imports.requeue import requeue_waiting
        from .imports.retention import prune_transfers
        from .stored_value import prepaid_erase_hold

        contribute(ROLE_PERMISSIONS)
        ACTION_LABELS.update(AUDIT_ACTIONS)
        # The member's card, points, purchases and coupons in "download my data".
        if loyalty_export not in EXPORT_SECTIONS:
            EXPORT_SECTIONS.append(loyalty_export)
        # Stored value is the member's money: paid back (退卡) before the account can go.
        if prepaid_erase_hold not in ERASE_HOLDS:
            ERASE_HOLDS.append(prepaid_erase_hold)
        # The member's admin page: card, points and tier history; the member list's
        # Import and Export buttons open loyalty's screens (the card's figures go along).
        if loyalty_panel not in MEMBER_PANELS:
            MEMBER_PANELS.append(loyalty_panel)
        # Its change history in the counter's sentences, not the raw diffs.
        AUDIT_TEXT["sentence"] = audit_sentence
        MEMBER_TRANSFER.update(
            {"import": member_import_view, "export": member_export_view, "may_import": may_import}
        )
        # The member list's card columns and filters: tier, points, spend, last purchase,
        # lifecycle stage and RFM segment.
        add_member_list_entries(MEMBER_LIST)

        jobs.register(
            "expire_points",
            jobs.expire_points,
            "5 0 * * *",
            "00:05 daily: expire lots past their date",
        )
        jobs.register(
            "notify_expiring_points",
            jobs.notify_expiring_points,
            "0 10 * * *",
            "10:00 daily: tell members of points expiring within notice_days (once per expiry day)",
        )
        jobs.register(
            "review_tiers",
            jobs.review_tiers,
            "20 0 * * *",
            "00:20 daily: downgrades for inactivity and at the 保级 review, advance warnings",
        )
        jobs.register(
            "birthday_benefits",
            jobs.birthday_benefits,
            "0 9 * * *",
            "09:00 daily: the tier's birthday coupon, birthday_days_before the birthday",
        )
        jobs.register(
            "monthly_tier_coupons",
            jobs.monthly_tier_coupons,
            "0 8 1 * *",
            "08:00 on the 1st: each tier's monthly coupons",
        )
        jobs.register(
            "lifecycle_and_rfm",
            jobs.lifecycle_and_rfm,
            "40 0 * * *",
            "00:40 daily: lifecycle stage, RFM scores and RFM segment on every card",
        )
        jobs.register(
            "expire_count_cards",
            jobs.expire_count_cards,
            "10 0 * * *",
            "00:10 daily: count cards (次卡) past their date expire, with their entry",
        )
        jobs.register(
            "notify_expiring_count_cards",
            jobs.notify_expiring_count_cards,
            "5 10 * * *",
            "10:05 daily: tell members of count cards ending within count_card_notice_days "
            "(once per card)",
        )
        jobs.register(
            "expire_coupons",
            jobs.expire_coupons,
            "0 1 * * *",
            "01:00 daily: usable coupons past their last day expire",
        )
        jobs.register(
            "notify_expiring_coupons",
            jobs.notify_expiring_coupons,
            "10 10 * * *",
            "10:10 daily: tell members of coupons ending within coupon_notice_days "
            "(once per coupon)",
        )
        jobs.register(
            "prune_transfers",
            prune_transfers,
            "30 3 * * *",
            "03:30 daily: delete import and export files and refused rows older than "
            "TRANSFER_RETENTION_DAYS (the job history stays)",
        )
        jobs.register(
            "requeue_waiting",
            requeue_waiting,
            "* * * * *",
            "every minute: queue again the tasks of imports and exports waiting over 2 minutes "
            "(lost while the broker was down)",
            quiet=True,
        )
