from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from loyalty import jobs
        from loyalty import signals as loyalty_signals
        from loyalty.counter import selectors as staff_selectors

        from . import dashboard, notices, staff_timeline, tasks

        # Loyalty events become notices in the outbox, written inside the transaction of
        # their cause (loyalty/signals.py); the send_messages job delivers them.
        events = [
            "points_expiring",
            "tier_downgrade_warning",
            "tier_changed",
            "tiers_downgraded",
            "coupon_issued",
            "points_changed",
            "purchase_recorded",
        ]
        for name in events:
            getattr(loyalty_signals, name).connect(
                getattr(notices, name), dispatch_uid=f"campaigns.{name}"
            )
        loyalty_signals.welcomed.connect(notices.welcome, dispatch_uid="campaigns.welcome")
        # Privacy: messages are personal data — exported on request, deleted on erasure.
        from members.privacy import EXPORT_SECTIONS
        from members.signals import member_erased

        from . import privacy

        member_erased.connect(privacy.erase_messages, dispatch_uid="campaigns.erase")
        if privacy.messages_export not in EXPORT_SECTIONS:
            EXPORT_SECTIONS.append(privacy.messages_export)
        jobs.register(
            "send_messages",
            tasks.send_messages,
            "* * * * *",
            "every minute: send due messages, retry failed ones, free stuck ones",
            quiet=True,
        )
        jobs.register(
            "dashboard_aggregates",
            dashboard.dashboard_aggregates,
            "30 1 * * *",
            "01:30 daily: dashboard figures of the last 3 days and today, and any day missing",
        )
        # The member 360 timeline shows the member's messages too.
        if staff_timeline.timeline_messages not in staff_selectors.TIMELINE_SOURCES:
            staff_selectors.TIMELINE_SOURCES.append(staff_timeline.timeline_messages)
