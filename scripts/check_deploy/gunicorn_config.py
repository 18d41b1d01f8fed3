"""Step 3 of scripts/check-deploy: deploy/gunicorn.conf.py loads, binds locally, and takes
its workers from WEB_CONCURRENCY, else from the cores and the database."""

import subprocess

from .base import VENV_PYTHON, Context


class GunicornConfig(Context):
    def gunicorn_settings(self, environment: dict[str, str]) -> dict[str, str]:
        code = (
            "import runpy, sys; ns = runpy.run_path(sys.argv[1]); "
            "print(ns['bind']); print(ns['workers']); print(ns['cores']())"
        )
        done = subprocess.run(
            [str(VENV_PYTHON), "-c", code, str(self.rendered["gunicorn.conf.py"])],
            env={"PATH": "/usr/bin:/bin", **environment},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            self.fail(f"deploy/gunicorn.conf.py does not load: {done.stderr.strip()}")
            return {}
        bind, workers, cores = done.stdout.split()
        return {"bind": bind, "workers": workers, "cores": cores}

    def check_gunicorn(self) -> str:
        postgres = self.gunicorn_settings({"DATABASE_URL": "postgres:///huiyuan"})
        if not postgres:
            return ""
        remote = self.gunicorn_settings({"DATABASE_URL": "postgres://u:p@db.internal/huiyuan"})
        sqlite = self.gunicorn_settings({"DATABASE_URL": "sqlite:////tmp/x.sqlite3"})
        fixed = self.gunicorn_settings({"DATABASE_URL": "", "WEB_CONCURRENCY": "3"})
        cores = int(postgres["cores"])
        if int(sqlite.get("workers", 0)) != cores:
            self.fail(f"gunicorn on SQLite: {sqlite.get('workers')} workers, not 1 per core")
        if int(postgres["workers"]) != cores:
            self.fail(
                f"gunicorn on this host's PostgreSQL: {postgres['workers']} workers, not 1 per core"
            )
        if int(remote.get("workers", 0)) != 2 * cores:
            self.fail(
                f"gunicorn on another host's PostgreSQL: {remote.get('workers')} workers, "
                "not 2 per core"
            )
        if fixed.get("workers") != "3":
            self.fail("gunicorn does not take its workers from WEB_CONCURRENCY")
        if not postgres["bind"].startswith(("127.0.0.1:", "[::1]:", "unix:")):
            self.fail(f"gunicorn binds {postgres['bind']}: not local, so nginx can be bypassed")
        self.ok(
            f"gunicorn.conf.py: bind {postgres['bind']}, workers {cores} on SQLite and this "
            f"host's PostgreSQL, {2 * cores} on another's ({cores} cores), "
            "WEB_CONCURRENCY wins"
        )
        return postgres["bind"]
