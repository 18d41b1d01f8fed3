"""The invitation's share poster (/me/invite/poster/): the member's invitation link as a
picture to save or send, made like the store's QR poster (members.posters.poster_png):
the store's name, "scan to join", the QR code of the link, what members get."""

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from members.member_auth import member_required
from members.models import Member, Store
from members.posters import poster_png


def invite_link(request, member: Member) -> str:
    """The absolute /join/ link with the member's referral code ("" before they made one)."""
    if not member.referral_code:
        return ""
    return request.build_absolute_uri(reverse("me:join") + f"?ref={member.referral_code}")


@require_GET
@member_required
def poster(request, member):
    """The poster, to long-press and save (WeChat) or share with the phone's share sheet."""
    if not member.referral_code:
        raise Http404
    return render(
        request,
        "loyalty/centre/referral_poster.html",
        {"member": member, "link": invite_link(request, member)},
    )


@require_GET
@member_required
def poster_image(request, member):
    link = invite_link(request, member)
    if not link:
        raise Http404
    store = member.store or Store(name=_("Huiyuan"))
    response = HttpResponse(poster_png(link, store=store), content_type="image/png")
    response["Content-Disposition"] = 'inline; filename="invite.png"'
    response["Cache-Control"] = "private, max-age=3600"
    return response
