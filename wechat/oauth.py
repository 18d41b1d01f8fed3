"""OAuth (snsapi_base) inside WeChat: the openid of whoever opens /join/ or /me/login/.

members/ runs JOIN_HOOKS before those pages; ours sends a visitor inside WeChat (user
agent MicroMessenger) to WeChat's authorize page once per session. WeChat sends the
browser back to /wechat/oauth/ with a code; the openid it stands for is kept in the
session, bound to the signed-in member (member_logged_in) or, when a member already
has it, signs that member in. Failures (a code used twice, WeChat unreachable) are
logged and the visitor carries on without binding: never a 500, never a loop.
"""

import logging
import secrets

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from members.member_auth import current_member, member_login

from . import client
from .services import member_by_openid, member_wechat_bind

log = logging.getLogger(__name__)

OPENID_KEY = "_wechat_openid"
STATE_KEY = "_wechat_oauth_state"
NEXT_KEY = "_wechat_oauth_next"
TRIED_KEY = "_wechat_oauth_tried"


def in_wechat(request) -> bool:
    return settings.WECHAT_OAUTH_ANY_BROWSER or "MicroMessenger" in request.META.get(
        "HTTP_USER_AGENT", ""
    )


def oauth_hook(request):
    """A JOIN_HOOKS entry: a redirect to WeChat's authorize page, or None to go on."""
    if request.method != "GET" or not in_wechat(request):
        return None
    if request.session.get(OPENID_KEY) or request.session.get(TRIED_KEY):
        return None
    state = secrets.token_urlsafe(16)
    request.session[STATE_KEY] = state
    request.session[NEXT_KEY] = request.get_full_path()
    redirect_uri = request.build_absolute_uri(reverse("wechat:oauth"))
    return redirect(client.oauth_authorize_url(redirect_uri=redirect_uri, state=state))


def oauth_return(request) -> str:
    """Handle ?code=&state=; returns where to send the browser next."""
    session = request.session
    target = session.pop(NEXT_KEY, None) or reverse("me:join")
    if session.get(OPENID_KEY):
        return target  # the code came back twice (a reload): we already have the openid
    state, code = request.GET.get("state", ""), request.GET.get("code", "")
    expected = session.pop(STATE_KEY, "")
    # As bytes: compare_digest refuses a str with anything but ASCII (a TypeError, a 500).
    if not code or not expected or not secrets.compare_digest(state.encode(), expected.encode()):
        session[TRIED_KEY] = True
        return target
    try:
        openid = client.oauth_openid(code)
    except client.WeChatError as exc:
        log.warning("WeChat OAuth failed: %s", exc)
        session[TRIED_KEY] = True
        return target
    session[OPENID_KEY] = openid
    member = current_member(request)
    if member is not None:
        member_wechat_bind(member=member, openid=openid)
    else:
        known = member_by_openid(openid)
        if known is not None:
            # The openid comes from WeChat itself (code exchanged server to server):
            # the member who bound it is who is here.
            member_login(request, known)
    return target


def bind_on_login(sender, request, member, **kwargs):
    """member_logged_in receiver: bind the openid OAuth left in the session."""
    openid = request.session.get(OPENID_KEY)
    if openid:
        member_wechat_bind(member=member, openid=openid)
