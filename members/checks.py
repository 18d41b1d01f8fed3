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
