"""One helper writes the audit trail; every app's services call it."""

from django.db import models

from .models import ACTION_LABELS as ACTION_LABELS  # the labels live beside AuditEntry
from .models import AuditEntry, Store


def field_label(model: type[models.Model], field: str) -> str:
    """The field's verbose name for display; the key itself when it is not a field."""
    try:
        return str(model._meta.get_field(field).verbose_name)
    except Exception:  # FieldDoesNotExist, or a summary key such as "added"
        return field


# Fields recorded masked: the audit trail must not undo encryption at rest.
MASKED_FIELDS = {"phone", "email", "addresses"}


def _printable(field: str, value) -> str | int | bool | None:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, models.Model):
        return str(value)
    if field in MASKED_FIELDS and value:
        text = str(value)
        return text[:3] + "****" + text[-4:] if len(text) > 8 else "****"
    return str(value)


def diff(old: dict, new: dict) -> dict:
    """{field: [old, new]} for the fields whose value changed, printable."""
    return {
        field: [_printable(field, old.get(field)), _printable(field, new[field])]
        for field in new
        if old.get(field) != new[field]
    }


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model,
    changes: dict | None = None,
    store: Store | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        changes=changes or {},
        store=store,
    )
