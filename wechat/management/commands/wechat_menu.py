"""Push the official account's menu (settings.WECHAT_MENU: 注册会员, 会员中心, 签到)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from wechat import client


class Command(BaseCommand):
    help = "Create the official account's custom menu from settings.WECHAT_MENU."

    def handle(self, *args, **options):
        try:
            client.menu_create(settings.WECHAT_MENU)
        except client.WeChatError as exc:
            raise CommandError(f"WeChat refused the menu: {exc}") from exc
        names = ", ".join(b["name"] for b in settings.WECHAT_MENU["button"])
        self.stdout.write(self.style.SUCCESS(f"Menu pushed: {names}"))
