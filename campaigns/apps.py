from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# campaigns' permissions of each staff role (members/roles.py).
ROLE_PERMISSIONS = {
    "owner": ["campaigns.*"],
    # the dashboard and the segments, of their store; campaigns (the audience of their
    # store in the preview, the progress; not the report, which counts every store)
    "manager": [
        "campaigns.view_dailystats",
        "campaigns.view_segment",
        "campaigns.view_segmentrun",
        "campaigns.view_campaign",
        "campaigns.view_variant",
    ],
}


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        # ready() may run more than once (tests): every connection has a dispatch_uid
        # and every registry is added to only when it lacks campaigns' entry.
        from loyalty import jobs
        from loyalty import signals as loyalty_signals
        from loyalty.counter import selectors as staff_selectors
        from loyalty.imports.signals import import_finished
        from members.privacy import EXPORT_SECTIONS
        from members.roles import contribute
        from members.signals import demo_seeded, member_erased

        from . import channels, dashboard, notices, privacy, staff_timeline, tasks
        from .marketing import journeys
        from .marketing import sending as campaign_sending
        from .marketing.demo import seed_campaigns
        from .segments import services as segment_services
        from .segments.demo import seed_segments

        contribute(ROLE_PERMISSIONS)

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
            "stored_value_changed",
            "count_card_changed",
            "count_cards_expired",
            "count_cards_expiring",
            "coupons_expiring",
        ]
        for name in events:
            getattr(loyalty_signals, name).connect(
                getattr(notices, name), dispatch_uid=f"campaigns.{name}"
            )
        loyalty_signals.welcomed.connect(notices.welcome, dispatch_uid="campaigns.welcome")
        # The channels notices leave by: the member centre's inbox, the log; and marketing
        # SMS, for campaigns only (never a notice's: channels_for_notices leaves it out).
        for channel in (
            channels.InboxChannel(),
            channels.ConsoleChannel(),
            channels.SmsMarketingChannel(),
        ):
            if channel.name not in channels.CHANNELS:
                channels.register(channel)
        # Privacy: messages are personal data — exported on request, deleted on erasure.
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
        jobs.register(
            "segments_refresh",
            segment_services.segments_refresh,
            "40 2 * * *",
            "02:40 daily: rule tags made equal to their segments, every segment counted",
        )
        jobs.register(
            "send_campaigns",
            campaign_sending.send_due_campaigns,
            "* * * * *",
            "every minute: broadcasts whose time has come, sent (queued to the outbox)",
            quiet=True,
        )
        jobs.register(
            "requeue_segment_runs",
            segment_services.requeue_segment_runs,
            "* * * * *",
            "every minute: segment runs left queued (their task lost while Redis was down) "
            "queued again",
            quiet=True,
        )
        jobs.register(
            "campaign_journeys",
            journeys.campaign_journeys,
            "15 9 * * *",
            "09:15 daily: each active journey sent to the members whose trigger fired",
        )
        # An import wrote members or purchases of past days: the dashboard's figures again.
        import_finished.connect(dashboard.recompute_after_import, dispatch_uid="campaigns.import")
        demo_seeded.connect(seed_segments, dispatch_uid="campaigns.seed_segments")
        demo_seeded.connect(seed_campaigns, dispatch_uid="campaigns.seed_campaigns")
        # The member 360 timeline shows the member's messages too.
        if staff_timeline.timeline_messages not in staff_selectors.TIMELINE_SOURCES:
            staff_selectors.TIMELINE_SOURCES.append(staff_timeline.timeline_messages)
