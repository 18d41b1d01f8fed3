"""Run the fake WeChat server (development without internet; `make run` starts it)."""

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from wechat.demo import fake_cards
from wechat.fake_server import FakeWeChat, card


class Command(BaseCommand):
    help = (
        "Serve a fake WeChat API on 127.0.0.1 (token, users, templates, QR, menu, OAuth, "
        "the mini-program's login and phone number, the member card, WeChat Pay v3 notices). "
        "The member cards the database says WeChat holds are loaded at start."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, port, host, **options):
        logging.getLogger("huiyuan.fake_wechat").setLevel(logging.INFO)
        # The mini-program is a second app with a secret (and a token) of its own.
        apps = {}
        if settings.WECHAT_MP_APP_ID:
            apps[settings.WECHAT_MP_APP_ID] = settings.WECHAT_MP_APP_SECRET
        fake = FakeWeChat(
            app_id=settings.WECHAT_APP_ID, secret=settings.WECHAT_APP_SECRET, apps=apps
        )
        # What WeChat would already hold: the published member card and activated codes
        # (the demo's), so updates to them are answered as WeChat would.
        held = fake_cards()
        card.load(fake, held)
        server = fake.serve(port=port, host=host)
        self.stdout.write(
            f"Fake WeChat on http://{host}:{server.server_port} (log: /_fake/log); "
            f"{len(held)} member cards in 卡包 loaded"
        )
        self.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.shutdown()
