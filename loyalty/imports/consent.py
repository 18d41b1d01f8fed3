"""Marketing consent (营销同意) in a member file, and the one thing a file may not do.

The column sets the member's yes or no (its time: the import's). But a member who
withdrew consent (a 退订 reply, the member centre's switch: the audited
``member.marketing`` action) said no themselves, and an old list saying yes must not
undo that: such a row is refused; the member gives consent back in the member centre.
"""

from collections.abc import Iterable

from django.utils.translation import gettext as _

from members.models import AuditEntry, Member


def withdrawn(member_ids: list[int]) -> set[int]:
    """Of these members, those whose latest marketing choice (member.marketing) was no."""
    if not member_ids:
        return set()
    latest = {}
    entries = AuditEntry.objects.filter(
        action="member.marketing",
        object_type=Member._meta.label_lower,
        object_id__in=[str(pk) for pk in member_ids],
    ).order_by("pk")  # in the order written (the audit_object index finds them)
    for object_id, changes in entries.values_list("object_id", "changes"):
        latest[int(object_id)] = (changes or {}).get("marketing_consent", [None, None])[-1]
    return {pk for pk, consent in latest.items() if consent is False}


def candidates(existing: Iterable[dict]) -> list[int]:
    """The members whose consent may have been withdrawn: off, with a time it was set."""
    return [m["pk"] for m in existing if not m["marketing_consent"] and m["marketing_consent_at"]]


def problem(row, member: dict, refused: set[int]) -> list | None:
    """[column, message] when the row would give back a consent the member withdrew."""
    if not row.marketing_consent or member["pk"] not in refused:
        return None
    return [
        "marketing_consent",
        _(
            "This member withdrew their marketing consent (an unsubscribe reply or the "
            "member centre): an import cannot give it back. Leave the cell empty."
        ),
    ]
