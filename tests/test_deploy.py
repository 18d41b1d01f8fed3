"""The deployment templates in deploy/ (docs/deploy.md), checked by scripts/check-deploy:
the templates as they are pass; a broken one fails, naming what is wrong."""

import importlib.machinery
import importlib.util
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from loyalty.imports.forms import MAX_BYTES as IMPORT_MAX_BYTES

# Nothing here touches the suite's database: once, in the SQLite pass (CI's time).
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="database-free: run in the SQLite pass"
)
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check-deploy"
DEPLOY = ROOT / "deploy"


def check_deploy(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def script_module():
    loader = importlib.machinery.SourceFileLoader("check_deploy", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


@pytest.fixture
def deploy_copy(tmp_path):
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_templates_pass():
    done = check_deploy()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "check-deploy: the deployment templates are good" in done.stdout
    assert "FAIL" not in output
    assert "System check identified no issues" in done.stdout


def test_an_env_file_without_secret_key_fails(deploy_copy):
    edit(deploy_copy / "huiyuan.env.example", "\nSECRET_KEY=\n", "\n")
    done = check_deploy("--deploy-dir", deploy_copy)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "FAIL: the env file does not list SECRET_KEY" in output
    # and Django itself refuses to start without it
    assert "SECRET_KEY must be set when DEBUG is false" in output


def test_a_placeholder_left_and_a_big_wechat_body_fail(deploy_copy):
    edit(deploy_copy / "huiyuan-web.service", "User=@USER@", "User=@APP_USER@")
    edit(deploy_copy / "huiyuan.conf", "client_max_body_size 64k;", "client_max_body_size 50m;")
    done = check_deploy("--deploy-dir", deploy_copy)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "huiyuan-web.service:" in output and "unknown placeholder @APP_USER@" in output
    assert "placeholder @APP_USER@ left after rendering" in output
    assert "/wechat/callback/ (location /wechat/) takes bodies up to 52428800 bytes" in output


def test_an_env_file_with_the_console_sms_backend_fails_check_deploy(tmp_path):
    env = (DEPLOY / "huiyuan.env.example").read_text(encoding="utf-8")
    module = script_module()
    for key in ("SECRET_KEY", "PHONE_HASH_KEY", "FIELD_ENCRYPTION_KEYS"):
        env = env.replace(f"\n{key}=\n", f"\n{key}={module.Checker.sample_value(key)}\n")
    env = env.replace(
        "SMS_BACKEND=members.sms.TencentCloudBackend", "SMS_BACKEND=members.sms.ConsoleBackend"
    )
    (tmp_path / "env").write_text(env, encoding="utf-8")
    done = check_deploy("--env", tmp_path / "env")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    # --env: an empty [required] value is a failure, not filled in
    assert "the env file leaves TENCENT_SMS_SECRET_ID empty" in output
    assert "members.W002" in output  # check --deploy: codes would only reach the log


def test_the_nginx_site_names_the_apps_own_paths():
    """The URIs check-deploy asks nginx about are the app's, and the site has them."""
    module = script_module()
    site = (DEPLOY / "huiyuan.conf").read_text(encoding="utf-8")
    upload = reverse("admin:loyalty_importjob_add")
    assert upload == module.IMPORT_UPLOAD_URI
    assert f"location = {upload} {{" in site
    assert module.Checker.size("510m") >= IMPORT_MAX_BYTES
    wechat = {reverse("wechat:callback"), reverse("wechat:pay_notify")}
    assert wechat | {reverse("sms_inbound")} == set(module.SMALL_BODY_URIS)
    assert all(uri.startswith("/wechat/") for uri in wechat)
    assert "location /wechat/ {" in site and "location /sms/inbound/ {" in site
    # nginx proxies /static/: the app serves them (WhiteNoise), as docs/operations.md says
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE
    assert getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", 2621440) == (
        module.DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE
    )


@pytest.mark.parametrize(
    ("url", "cores", "workers"),
    [
        ("", 2, 2),
        ("sqlite:////var/lib/huiyuan/huiyuan.sqlite3", 4, 4),
        ("postgres:///huiyuan", 2, 2),
        ("postgres://huiyuan@127.0.0.1:5432/huiyuan", 4, 4),
        ("postgres://huiyuan@%2Fvar%2Frun%2Fpostgresql/huiyuan", 2, 2),
        ("postgres://huiyuan:pw@db:5432/huiyuan", 8, 16),
        ("postgres://huiyuan@127.0.1.1/huiyuan", 2, 2),
        ("postgres:///huiyuan?host=db.internal", 2, 4),
        ("postgres://huiyuan@[::1]:5432/huiyuan", 2, 2),
    ],
)
def test_gunicorn_workers_per_core_as_measured(url, cores, workers):
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert config["workers_for"](url, cores) == workers


def conf_settings(path: Path) -> dict[str, str]:
    """name -> value of a postgresql.conf (comments and quotes off)."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, value = (part.strip() for part in line.split("=", 1))
            found[name] = value.strip("'")
    return found


@pytest.mark.skipif(not Path("/usr/lib/postgresql").exists(), reason="no PostgreSQL server")
def test_the_postgresql_settings_start_a_server_that_uses_them():
    """deploy/postgresql.conf, included as docs/deploy.md installs it, starts PostgreSQL
    (a misspelt name or a bad value would stop it), and each setting is in force."""
    import tempfile

    from bench.pgcluster import PRODUCTION_CONF, Cluster

    wanted = conf_settings(PRODUCTION_CONF)
    assert {"shared_buffers", "max_wal_size", "jit", "wal_compression"} <= wanted.keys()
    root = Path(tempfile.mkdtemp(prefix="huiyuan-pgconf-"))
    root.chmod(0o755)  # PostgreSQL's own user walks into it (pytest's tmp_path is private)
    cluster = Cluster(root, conf=PRODUCTION_CONF)
    try:
        for name, value in wanted.items():
            shown = cluster.sql(
                "SELECT setting, unit, source FROM pg_settings WHERE name = %s", [name]
            )
            assert shown, name
            setting, unit, source = shown[0]
            assert source == "configuration file", (name, source)
            assert pg_value(value) == pg_value(setting, unit), (name, value, setting, unit)
    finally:
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)


UNITS = {"kB": 1024, "MB": 1024**2, "GB": 1024**3, "8kB": 8192, "ms": 0.001, "s": 1,
         "min": 60}  # fmt: skip


def pg_value(value: str, unit: str | None = None):
    """A setting as a comparable value: sizes in bytes, times in seconds, else the text."""
    import re

    if unit:
        return float(value) * UNITS[unit]
    found = re.fullmatch(r"(\d+)\s*(kB|MB|GB|ms|s|min)", value)
    if found:
        return float(found[1]) * UNITS[found[2]]
    return {"true": "on", "false": "off"}.get(value, value)
