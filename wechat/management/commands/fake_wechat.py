"""Run the fake WeChat server (development without internet; `make run` starts it)."""

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from wechat.fake_server import FakeWeChat


class Command(BaseCommand):
    help = "Serve a fake WeChat API on 127.0.0.1 (token, users, templates, QR, menu, OAuth)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, port, host, **options):
        logging.getLogger("huiyuan.fake_wechat").setLevel(logging.INFO)
        fake = FakeWeChat(app_id=settings.WECHAT_APP_ID, secret=settings.WECHAT_APP_SECRET)
        server = fake.serve(port=port, host=host)
        self.stdout.write(f"Fake WeChat on http://{host}:{server.server_port} (log: /_fake/log)")
        self.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.shutdown()
