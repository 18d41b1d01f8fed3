from django.conf import settings
from django.core.checks import Warning, register


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
