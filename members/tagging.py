"""One member's tags, changed by staff on the member 360 page (audited).

The admin's bulk actions (members.services.member_tags_add / _remove) record one
entry per tag; these record one per member, so the change shows in the member's history.
"""

from django.db import IntegrityError, transaction

from .audit import audit_record
from .models import Member, Tag, User


@transaction.atomic
def member_tag_add(*, member: Member, tag: Tag, actor: User | None) -> bool:
    """Give the member `tag`; False when they already had it (nothing recorded)."""
    try:
        with transaction.atomic():  # the (member, tag) pair is unique: a twin request loses
            Member.tags.through.objects.create(member_id=member.pk, tag_id=tag.pk)
    except IntegrityError:
        return False
    audit_record(
        actor=actor,
        action="member.tags",
        obj=member,
        changes={"tags": [None, tag.name]},
        store=member.store,
    )
    return True


@transaction.atomic
def member_tag_remove(*, member: Member, tag: Tag, actor: User | None) -> bool:
    """Take `tag` from the member; False when they did not have it."""
    removed, _detail = Member.tags.through.objects.filter(
        member_id=member.pk, tag_id=tag.pk
    ).delete()
    if not removed:
        return False
    audit_record(
        actor=actor,
        action="member.tags",
        obj=member,
        changes={"tags": [tag.name, None]},
        store=member.store,
    )
    return True
