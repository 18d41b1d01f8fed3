"""Step 6 of scripts/check-deploy: `manage.py check --deploy --fail-level WARNING` with the
env file's environment and nothing else, every path the app writes in the temporary
directory."""

import subprocess
from pathlib import Path

from .base import ROOT, VENV_PYTHON, Context

# Runs manage.py with the environment it is given and nothing else: the checkout's .env
# (read by settings for development) is skipped, as on a server, which has none.
RUNNER = """\
import runpy, sys
import environ
environ.Env.read_env = staticmethod(lambda *args, **kwargs: None)
import config.wsgi  # the application gunicorn loads, middleware and all
sys.argv = ["manage.py", *sys.argv[1:]]
runpy.run_path("manage.py", run_name="__main__")
"""


class DjangoCheck(Context):
    def check_django(self) -> None:
        data = Path(self.values["DATA_DIR"])
        environment = {"PATH": "/usr/bin:/bin", "HOME": str(self.tmp), "LANG": "C.UTF-8"}
        environment.update(self.env)
        # Never the developer's data: every path the app writes goes to the temporary tree.
        environment.update(
            {
                "DATA_DIR": str(data),
                "STATIC_ROOT": str(data / "staticfiles"),
                "MEDIA_ROOT": str(data / "media"),
                "BACKUP_DIR": str(data / "backups"),
            }
        )
        url = environment.get("DATABASE_URL", "")
        if not url or url.startswith(("sqlite", "spatialite")):
            environment["DATABASE_URL"] = f"sqlite:///{data / 'huiyuan.sqlite3'}"
        command = [str(VENV_PYTHON), "-c", RUNNER, "check", "--deploy", "--fail-level", "WARNING"]
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            self.fail("manage.py check --deploy --fail-level WARNING failed:\n" + output)
        else:
            database = environment["DATABASE_URL"].split(":", 1)[0]
            self.ok(
                f"manage.py check --deploy --fail-level WARNING ({database}"
                + (", redis" if environment.get("REDIS_URL") else "")
                + f"): {output}"
            )
