"""The secrets are checked at start: in production (DEBUG false) a published or malformed
SECRET_KEY, PHONE_HASH_KEY or FIELD_ENCRYPTION_KEYS is an error (members.E001-E003) that
stops every command that runs the system checks; `check --deploy` with DEBUG on warns of
the same (members.W005-W007)."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

ROOT = Path(__file__).resolve().parent.parent.parent

GOOD_FIELD_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7!kq2-" + "p9" * 30,
    "ALLOWED_HOSTS": "members.example.com",
    "FIELD_ENCRYPTION_KEYS": GOOD_FIELD_KEY,
    "PHONE_HASH_KEY": "a-long-random-phone-hash-key-from-the-vault",
}
# What config/settings.py falls back to under DEBUG (published with the code).
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-in-production-0123456789abcdefghij"


def _manage(*args, env_extra, tmp_path):
    leaked = ("DATABASE_URL", "DEBUG", "TESTING", "DJANGO_ALLOW_ASYNC_UNSAFE", "SECRET_KEY")
    leaked += ("FIELD_ENCRYPTION_KEYS", "PHONE_HASH_KEY")
    env = {k: v for k, v in os.environ.items() if k not in leaked}
    env.update(env_extra, DATA_DIR=str(tmp_path), TESTING="false")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        ("SECRET_KEY", DEV_SECRET_KEY, "members.E001"),
        ("PHONE_HASH_KEY", "huiyuan-bench-phone-hash-key", "members.E002"),  # 28 bytes
        ("FIELD_ENCRYPTION_KEYS", base64.urlsafe_b64encode(b"k" * 16).decode(), "members.E003"),
        ("FIELD_ENCRYPTION_KEYS", f"{GOOD_FIELD_KEY},not-base64-at-all!", "members.E003"),
    ],
)
def test_a_published_or_malformed_secret_stops_a_production_start(tmp_path, setting, value, error):
    """Plain `check` (what migrate, runserver and qcluster run first), no --deploy."""
    result = _manage("check", env_extra={**PRODUCTION_ENV, setting: value}, tmp_path=tmp_path)
    assert result.returncode != 0 and error in result.stderr, result.stderr
    assert value not in result.stderr  # a finding never prints the secret itself


def test_migrate_refuses_to_run_with_a_short_phone_hash_key(tmp_path):
    env = {**PRODUCTION_ENV, "PHONE_HASH_KEY": "short"}
    result = _manage("migrate", "--noinput", env_extra=env, tmp_path=tmp_path)
    assert result.returncode != 0 and "members.E002" in result.stderr
    assert "Applying" not in result.stdout


def test_development_starts_and_check_deploy_names_the_development_secrets(tmp_path):
    """`make run` (DEBUG on, the defaults) starts; `check --deploy` there warns of the
    development SECRET_KEY and the short development PHONE_HASH_KEY."""
    assert _manage("check", env_extra={"DEBUG": "true"}, tmp_path=tmp_path).returncode == 0
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env_extra={"DEBUG": "true"},
        tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    assert "members.W005" in result.stderr and "members.W006" in result.stderr
    assert "members.E00" not in result.stderr


def test_check_deploy_in_process_reports_each_finding(settings):
    """call_command as an operator's script would: DEBUG off (as under the test runner).
    Good secrets pass; each bad one is named, never printed."""
    settings.DEBUG = False
    settings.SECRET_KEY = PRODUCTION_ENV["SECRET_KEY"]
    settings.PHONE_HASH_KEY = "y" * 32
    settings.FIELD_ENCRYPTION_KEYS = [GOOD_FIELD_KEY]
    call_command("check", tags=["security"])  # raises SystemCheckError on an error

    settings.SECRET_KEY = DEV_SECRET_KEY
    settings.PHONE_HASH_KEY = "x" * 31
    settings.FIELD_ENCRYPTION_KEYS = [GOOD_FIELD_KEY, "c2hvcnQ="]
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", deploy=True)
    text = str(raised.value)
    assert "members.E001" in text and "members.E002" in text and "members.E003" in text
    assert "key 2 is 5 bytes" in text and "c2hvcnQ=" not in text
