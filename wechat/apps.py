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
        from members.member_auth import JOIN_HOOKS, member_logged_in
        from members.roles import contribute

        from . import checks, tasks
        from .channels import WeChatTemplateChannel
        from .oauth import bind_on_login, oauth_hook
        from .segment_fields import WECHAT_SUBSCRIBED

        contribute(ROLE_PERMISSIONS)
        # The registry is a set: registering again (ready() run twice) adds nothing.
        register_check(checks.wechat_safe_mode_check, Tags.security, "wechat", deploy=True)
        if WECHAT_SUBSCRIBED.name not in FIELDS:
            register_field(WECHAT_SUBSCRIBED)
        if "wechat" not in CHANNELS:
            register(WeChatTemplateChannel())
        if oauth_hook not in JOIN_HOOKS:
            JOIN_HOOKS.append(oauth_hook)
        member_logged_in.connect(bind_on_login, dispatch_uid="wechat.bind_on_login")
        jobs.register(
            "prune_wechat_callbacks",
            tasks.prune_wechat_callbacks,
            "30 3 * * *",
            "03:30 daily: forget WeChat callbacks and used callback URLs older than two days "
            "(their retries are over)",
        )
