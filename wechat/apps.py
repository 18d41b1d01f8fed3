from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# wechat's permissions of each staff role (members/roles.py): the owner's alone.
ROLE_PERMISSIONS = {"owner": ["wechat.*"]}


class WechatConfig(AppConfig):
    name = "wechat"
    verbose_name = _("WeChat")

    def ready(self):
        # ready() may run more than once (tests): every connection has a dispatch_uid
        # and every registry is added to only when it lacks wechat's entry.
        from django.core.checks import Tags
        from django.core.checks import register as register_check

        from campaigns.channels import CHANNELS, register
        from campaigns.segments.fields import FIELDS
        from campaigns.segments.fields import register as register_field
        from loyalty import jobs
        from loyalty import signals as loyalty_signals
        from members.member_auth import JOIN_HOOKS, member_logged_in
        from members.posters import POSTER_EXTRAS
        from members.roles import contribute
        from members.selectors import MEMBER_CODE_FINDERS
        from members.signals import demo_seeded, member_erased

        from . import card_sync, checks, demo, member_card, tasks
        from .channels import WeChatTemplateChannel
        from .mp.services import mp_member_erased
        from .oauth import bind_on_login, oauth_hook
        from .segment_fields import WECHAT_SUBSCRIBED

        contribute(ROLE_PERMISSIONS)
        # The registry is a set: registering again (ready() run twice) adds nothing.
        register_check(checks.wechat_safe_mode_check, Tags.security, "wechat", deploy=True)
        register_check(checks.wechat_pay_v3_check, Tags.security, "wechat", deploy=True)
        if WECHAT_SUBSCRIBED.name not in FIELDS:
            register_field(WECHAT_SUBSCRIBED)
        if "wechat" not in CHANNELS:
            register(WeChatTemplateChannel())
        if oauth_hook not in JOIN_HOOKS:
            JOIN_HOOKS.append(oauth_hook)
        member_logged_in.connect(bind_on_login, dispatch_uid="wechat.bind_on_login")
        # The member card in 卡包 follows every change of points, stored value and tier.
        for signal, receiver in (
            (loyalty_signals.purchase_recorded, card_sync.on_purchase),
            (loyalty_signals.refund_recorded, card_sync.on_refund),
            (loyalty_signals.points_changed, card_sync.on_points),
            (loyalty_signals.stored_value_changed, card_sync.on_stored_value),
            (loyalty_signals.count_card_changed, card_sync.on_count_card),
            (loyalty_signals.tier_changed, card_sync.on_tier),
            (loyalty_signals.tiers_downgraded, card_sync.on_tiers_downgraded),
        ):
            signal.connect(receiver, dispatch_uid=f"wechat.card_sync.{receiver.__name__}")
        if member_card.member_no_of_code not in MEMBER_CODE_FINDERS:
            MEMBER_CODE_FINDERS.append(member_card.member_no_of_code)
        if member_card.poster_claim not in POSTER_EXTRAS:
            POSTER_EXTRAS.append(member_card.poster_claim)
        member_erased.connect(mp_member_erased, dispatch_uid="wechat.mp_member_erased")
        member_erased.connect(member_card.holdings_erased, dispatch_uid="wechat.holdings_erased")
        demo_seeded.connect(demo.seed_member_card, dispatch_uid="wechat.seed_member_card")
        jobs.register(
            "send_card_updates",
            tasks.send_card_updates,
            "* * * * *",
            "every minute: member card changes waiting for WeChat (a lost task's) pushed",
            quiet=True,
        )
        jobs.register(
            "reconcile_member_cards",
            tasks.reconcile_member_cards,
            "40 4 * * *",
            "04:40 daily: member cards in 卡包 compared with the ledger and repaired; "
            "claims not activated tried again",
        )
        jobs.register(
            "prune_mp_tokens",
            tasks.prune_mp_tokens,
            "35 3 * * *",
            "03:35 daily: mini-program sessions expired over 30 days ago deleted",
        )
        jobs.register(
            "prune_wechat_callbacks",
            tasks.prune_wechat_callbacks,
            "30 3 * * *",
            "03:30 daily: forget WeChat callbacks and used callback URLs older than two days "
            "(their retries are over)",
        )
