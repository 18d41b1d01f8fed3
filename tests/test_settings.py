"""Settings behave as documented: production env passes check --deploy, bad env fails loudly."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7!kq2-" + "p9" * 30,
    "ALLOWED_HOSTS": "members.example.com",
    "FIELD_ENCRYPTION_KEYS": "q1D8pOObcC1xu0Rk2JJ1s8hp3v3t9xK0Jm3wD2mXl7E=",
    "PHONE_HASH_KEY": "a-long-random-phone-hash-key-from-the-vault",
    "TRUSTED_PROXIES": "1",
    "SMS_BACKEND": "members.sms.TencentCloudBackend",
    "TENCENT_SMS_SECRET_ID": "AKIDexample",
    "TENCENT_SMS_SECRET_KEY": "example-secret",
    "TENCENT_SMS_SDK_APP_ID": "1400000000",
    "TENCENT_SMS_SIGN_NAME": "慧员",
    "TENCENT_SMS_TEMPLATE_ID": "100000",
}


def _manage(*args, env_extra, tmp_path):
    leaked = ("DATABASE_URL", "DEBUG", "TESTING", "DJANGO_ALLOW_ASYNC_UNSAFE")
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


def test_a_production_env_passes_check_deploy_with_no_warnings(tmp_path):
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env_extra=PRODUCTION_ENV, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_keys_in_production_are_a_deploy_warning(tmp_path):
    env = {
        **PRODUCTION_ENV,
        "FIELD_ENCRYPTION_KEYS": "ZGV2LW9ubHktZmllbGQta2V5LWh1aXl1YW4tMDAwMDE=",
    }
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env_extra=env, tmp_path=tmp_path
    )
    assert result.returncode != 0 and "members.W001" in result.stderr


def test_production_without_secrets_refuses_to_start(tmp_path):
    env = {"DEBUG": "false", "ALLOWED_HOSTS": "members.example.com"}
    result = _manage("check", env_extra=env, tmp_path=tmp_path)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_a_bad_boolean_fails_loudly(tmp_path):
    result = _manage("check", env_extra={"DEBUG": "perhaps"}, tmp_path=tmp_path)
    assert result.returncode != 0


def test_production_without_an_sms_provider_or_proxy_setting_is_a_deploy_warning(tmp_path):
    """Customers sign in by SMS code: the console backend is for development only; and
    behind nginx TRUSTED_PROXIES=0 would make the per-address code limit site-wide."""
    env = {k: v for k, v in PRODUCTION_ENV.items() if k not in ("SMS_BACKEND", "TRUSTED_PROXIES")}
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env_extra=env, tmp_path=tmp_path
    )
    assert result.returncode != 0
    assert "members.W002" in result.stderr and "members.W004" in result.stderr


def test_an_sms_provider_missing_settings_is_a_deploy_warning(tmp_path):
    env = {**PRODUCTION_ENV, "TENCENT_SMS_SECRET_KEY": ""}
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env_extra=env, tmp_path=tmp_path
    )
    assert result.returncode != 0 and "members.W003" in result.stderr
    assert "TENCENT_SMS_SECRET_KEY" in result.stderr
