"""A member's messages in "download my data", and gone when the member is erased."""

from .models import Message


def messages_export(member) -> tuple[str, list[dict]]:
    rows = Message.objects.filter(member=member, channel="inbox").order_by("created_at", "pk")
    return "messages", [
        {
            "at": m.created_at.isoformat(),
            "event": m.event,
            "title": m.title,
            "text": m.body,
            "read": m.read_at is not None,
        }
        for m in rows
    ]


def erase_messages(sender, member, **kwargs) -> None:
    # Texts carry names, codes and balances; the ledger keeps the books, not these.
    Message.objects.filter(member=member).delete()
