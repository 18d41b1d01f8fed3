"""System checks of the members app (registered by MembersConfig.ready()).

The secrets (SECRET_KEY, PHONE_HASH_KEY, FIELD_ENCRYPTION_KEYS) are checked twice:
- at every start in production (DEBUG false): errors, so `migrate`, `runserver`,
  `qcluster` and every management command refuse to run with a published or malformed
  secret (members.E001-E003; not deploy-tagged, silent under DEBUG);
- by `check --deploy` whatever DEBUG says: the same findings as warnings
  (members.W005-W007) when DEBUG is on, since then the errors stay silent.
"""

import base64
import binascii

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

# The development SECRET_KEY written in config/settings.py (its default under DEBUG):
# published with the code, so it signs nothing in production.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-in-production-0123456789abcdefghij"
# An HMAC-SHA256 key shorter than the hash is weaker than it, and the key is all that
# keeps the hashes of the few billion possible mobile numbers from being computed offline.
PHONE_HASH_KEY_MIN_BYTES = 32
FIELD_KEY_BYTES = 32  # AES-256-GCM (members/crypto.py)


def _field_key_problems(keys) -> list[str]:
    """What is wrong with FIELD_ENCRYPTION_KEYS, read as members/crypto.py reads them."""
    if not keys:
        return ["FIELD_ENCRYPTION_KEYS is empty."]
    problems = []
    for number, text in enumerate(keys, start=1):
        try:
            key = base64.urlsafe_b64decode(str(text).strip())
        except (binascii.Error, ValueError):
            problems.append(f"FIELD_ENCRYPTION_KEYS key {number} is not base64.")
            continue
        if len(key) != FIELD_KEY_BYTES:
            problems.append(
                f"FIELD_ENCRYPTION_KEYS key {number} is {len(key)} bytes, "
                f"not {FIELD_KEY_BYTES} (url-safe base64 of 32 random bytes)."
            )
    return problems


KEYS_HINT = "Generate it as docs/operations.md shows and set it from the environment."
# Each finding's id: an error at start in production, a warning from check --deploy.
SECRET_CHECK_IDS = {
    "secret_key": ("members.E001", "members.W005"),
    "phone_hash_key": ("members.E002", "members.W006"),
    "field_keys": ("members.E003", "members.W007"),
}


def secret_problems() -> list[tuple[str, str, str]]:
    """(finding, message, hint) for each published or malformed secret in settings."""
    found = []
    if settings.SECRET_KEY == DEV_SECRET_KEY:
        message = "SECRET_KEY is the development key published in config/settings.py."
        found.append(("secret_key", message, KEYS_HINT))
    size = len(str(settings.PHONE_HASH_KEY or "").encode())
    if size < PHONE_HASH_KEY_MIN_BYTES:
        message = f"PHONE_HASH_KEY is {size} bytes, shorter than {PHONE_HASH_KEY_MIN_BYTES}."
        hint = (
            f"{KEYS_HINT} Before the first member is stored: a new key means "
            "recomputing every phone hash (manage.py reencrypt_members)."
        )
        found.append(("phone_hash_key", message, hint))
    for message in _field_key_problems(settings.FIELD_ENCRYPTION_KEYS):
        found.append(("field_keys", message, KEYS_HINT))
    return found


@register(Tags.security)
def production_secrets_check(app_configs, **kwargs):
    """In production (DEBUG false), at every start: a published or malformed secret is
    an error, found before the first request or the first phone stored."""
    if settings.DEBUG:
        return []
    return [
        Error(message, hint=hint, id=SECRET_CHECK_IDS[finding][0])
        for finding, message, hint in secret_problems()
    ]


@register(Tags.security, deploy=True)
def deploy_secrets_check(app_configs, **kwargs):
    """`check --deploy` with DEBUG on: the same findings, as warnings (with DEBUG off the
    errors above already say it)."""
    if not settings.DEBUG:
        return []
    return [
        Warning(message, hint=hint, id=SECRET_CHECK_IDS[finding][1])
        for finding, message, hint in secret_problems()
    ]


@register(deploy=True)
def encryption_keys_check(app_configs, **kwargs):
    """`check --deploy` warns when the development encryption keys are in use."""
    if settings.DEV_ENCRYPTION_KEYS_IN_USE:
        return [
            Warning(
                "The development FIELD_ENCRYPTION_KEYS / PHONE_HASH_KEY are in use.",
                hint="Set both from the environment (see docs/operations.md).",
                id="members.W001",
            )
        ]
    return []


LOCAL_SMS_BACKENDS = ("members.sms.ConsoleBackend", "members.sms.LocmemBackend")


@register(deploy=True)
def sms_backend_check(app_configs, **kwargs):
    """`check --deploy`: customers can only register and sign in with an SMS code, so a
    production site needs a backend that sends one, and one that is fully configured."""
    from django.core.exceptions import ImproperlyConfigured

    from .sms import get_backend

    if settings.SMS_BACKEND in LOCAL_SMS_BACKENDS:
        return [
            Warning(
                f"SMS_BACKEND is {settings.SMS_BACKEND}: codes only reach the server log, "
                "so customers cannot register or sign in.",
                hint="Set SMS_BACKEND=members.sms.TencentCloudBackend and the TENCENT_SMS_* "
                "settings (docs/operations.md).",
                id="members.W002",
            )
        ]
    try:
        get_backend()
    except (ImproperlyConfigured, ImportError) as exc:
        return [Warning(f"The SMS backend cannot start: {exc}", id="members.W003")]
    return []


@register(deploy=True)
def trusted_proxies_check(app_configs, **kwargs):
    """`check --deploy`: production runs behind a proxy (SECURE_PROXY_SSL_HEADER); with
    TRUSTED_PROXIES=0 every customer seems to come from the proxy's address, and the
    per-address limit on SMS codes (20 an hour) becomes a limit for the whole site."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and settings.TRUSTED_PROXIES == 0:
        return [
            Warning(
                "TRUSTED_PROXIES is 0 behind a proxy: the per-address SMS code limit would "
                "count every customer as the proxy's one address.",
                hint="Set TRUSTED_PROXIES to the number of proxies that append to "
                "X-Forwarded-For (1 for nginx in front of gunicorn).",
                id="members.W004",
            )
        ]
    return []
