from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from loyalty import jobs
        from loyalty import signals as loyalty_signals
        from members.signals import member_registered

        from . import notices, tasks

        # Loyalty events become notices in the outbox (sent on commit: after the fact).
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
        member_registered.connect(notices.welcome, dispatch_uid="campaigns.welcome")
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
