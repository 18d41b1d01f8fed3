"""scripts/check-deploy's Checker: the six steps, run in order."""

import sys

from .base import VENV_PYTHON
from .django_check import DjangoCheck
from .env_file import EnvFile
from .gunicorn_config import GunicornConfig
from .nginx_site import NginxSite
from .rendering import Rendering
from .systemd_units import SystemdUnits


class Checker(Rendering, SystemdUnits, GunicornConfig, NginxSite, EnvFile, DjangoCheck):
    def run(self) -> int:
        if not VENV_PYTHON.exists():
            self.fail(f"{VENV_PYTHON} is missing: run `make install` first")
            return 1
        if self.render():
            self.check_units()
            bind = self.check_gunicorn()
            self.check_nginx(bind or "127.0.0.1:8000")
            if self.check_env():
                self.check_django()
        if self.failures:
            print(
                f"check-deploy: {len(self.failures)} problem(s), see FAIL lines above",
                file=sys.stderr,
            )
            return 1
        print("check-deploy: the deployment templates are good")
        return 0
