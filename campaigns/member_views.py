"""The member centre's inbox (/me/messages/): the notices sent to the inbox channel."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from members.member_auth import member_required

from .models import Message

PAGE_SIZE = 20


def _inbox(member):
    return Message.objects.filter(member=member, channel="inbox").order_by("-created_at", "-id")


@require_GET
@member_required
def inbox(request, member):
    page = Paginator(_inbox(member), PAGE_SIZE).get_page(request.GET.get("page"))
    unread = _inbox(member).filter(read_at__isnull=True).exists()
    return render(
        request, "campaigns/centre/inbox.html", {"member": member, "page": page, "unread": unread}
    )


@require_POST
@member_required
def mark_read(request, member):
    # A set-based update of the member's own rows: nothing else to keep in step.
    n = _inbox(member).filter(read_at__isnull=True).update(read_at=timezone.now())
    if n:
        messages.success(request, _("All messages marked as read."))
    return redirect("inbox:list")
