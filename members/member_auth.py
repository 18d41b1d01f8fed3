"""The member centre's own sign-in, apart from staff auth.

A signed-in member is a member id under MEMBER_SESSION_KEY in the session; Django's
auth user stays the staff account (or anonymous). Views take the member from here,
never from the URL, so no member can read another's data by changing an id.
"""

import datetime as dt
import hmac
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.dispatch import Signal
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from . import crypto
from .models import Member

MEMBER_SESSION_KEY = "_huiyuan_member_id"
OTP_SESSION_KEY = "_huiyuan_otp"
# A phone proven by a code (log in with an unknown number) may join without a new code
# for this long.
VERIFIED_FOR = dt.timedelta(minutes=10)

# Sent after a member signs in (joined or logged in). kwargs: request, member.
# The WeChat app binds the openid it got by OAuth (kept in the session) here.
member_logged_in = Signal()

# Callables (request) -> HttpResponse | None run before the join page is shown. The
# WeChat app adds one from its AppConfig.ready() that, inside WeChat, first sends the
# visitor through OAuth (snsapi_base) and comes back to the same URL; outside WeChat
# they return None.
JOIN_HOOKS: list = []


def _cycle_key(session) -> None:
    """SessionBase.cycle_key with one write for the new session instead of two.

    Django's writes the new key's row at once and again when the response saves it;
    here the old row goes and the new key is made by that save (SessionBase.save
    creates a session that has no key): the same new random key, one INSERT.
    """
    data, old = session._session, session.session_key
    session._session_key = None
    session._session_cache = data
    session.modified = True
    if old:
        session.delete(old)


def member_login(request, member: Member) -> None:
    # A new session key at sign-in: a session id planted beforehand is worth nothing.
    _cycle_key(request.session)
    request.session[MEMBER_SESSION_KEY] = member.pk
    request.session.pop(OTP_SESSION_KEY, None)
    request.session.set_expiry(settings.MEMBER_SESSION_AGE)
    request._member_cache = member
    member_logged_in.send(sender=Member, request=request, member=member)


def member_logout(request) -> None:
    request.session.pop(MEMBER_SESSION_KEY, None)
    request.session.pop(OTP_SESSION_KEY, None)
    request.session.cycle_key()
    request._member_cache = None


def current_member(request) -> Member | None:
    """The signed-in member, or None; an erased member is signed out everywhere."""
    if not hasattr(request, "_member_cache"):
        pk = request.session.get(MEMBER_SESSION_KEY)
        member = None
        if isinstance(pk, int):
            member = (
                Member.objects.select_related("store")
                .filter(pk=pk, status=Member.Status.ACTIVE)
                .first()
            )
        request._member_cache = member
    return request._member_cache


def member_required(view):
    """Pass the signed-in member to the view as its second argument; else to the login."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        member = current_member(request)
        if member is None:
            return redirect_to_login(request.get_full_path(), resolve_url("me:login"))
        return view(request, member, *args, **kwargs)

    return wrapped


def safe_next(request, default: str = "") -> str:
    """The ?next= page when it is on this site, else `default` (a URL name or path)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(default) if default else ""


def client_ip(request) -> str:
    """The visitor's IP. Behind TRUSTED_PROXIES reverse proxies, read X-Forwarded-For from
    the right (entries further left are whatever the client claimed)."""
    hops = settings.TRUSTED_PROXIES
    if hops:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            return forwarded[-hops][:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


# --- the phone being verified (between "send code" and "enter code") ------------------
#
# The session row lives SESSION_COOKIE_AGE (12 hours) and sits in the database (or Redis),
# so it never holds the number in clear: only its keyed hash (which the code and the
# member are looked up by), its last 4 digits (what the page shows) and the number sealed
# with FIELD_ENCRYPTION_KEYS as the member table keeps it (AES-GCM, members/crypto.py),
# which a resend and the registration need. The number is unsealed per request, in memory.


def otp_state_for(phone: str, *, verified: bool = False, now: float | None = None) -> dict:
    """What the session keeps for a pending code to the E.164 `phone` (sent or, with
    `verified`, already proven): for otp_state_set, and for tools that prepare sessions."""
    now = timezone.now().timestamp() if now is None else now
    return {
        "phone_hash": crypto.phone_hash(phone),
        "phone_last4": phone[-4:],
        "phone_sealed": crypto.encrypt(phone),
        "sent_at": now,
        "verified_at": now if verified else None,
    }


def otp_state(request) -> dict:
    """{"phone": E.164, "phone_last4": ..., "sent_at": ts, "verified_at": ts | None}, or {}
    when none is pending (or it is stale after a while: then it leaves the session too)."""
    state = request.session.get(OTP_SESSION_KEY)
    if not state:
        return {}
    phone = _unsealed_phone(state)
    started = (state.get("verified_at") or state.get("sent_at")) if phone else None
    age = timezone.now().timestamp() - started if isinstance(started, int | float) else None
    if age is None or age > VERIFIED_FOR.total_seconds():
        otp_state_clear(request)
        return {}
    return {**state, "phone": phone}


def _unsealed_phone(state) -> str:
    """The pending number, or "" when the state is not one otp_state_for made (an older
    format, a key no longer configured, a hash key changed since)."""
    if not isinstance(state, dict):
        return ""
    sealed, expected = state.get("phone_sealed"), state.get("phone_hash")
    if not isinstance(sealed, str) or not isinstance(expected, str):
        return ""
    try:
        phone = crypto.decrypt(sealed)
    except (crypto.DecryptionError, ValueError):
        return ""
    return phone if hmac.compare_digest(crypto.phone_hash(phone), expected) else ""


def otp_state_set(request, *, phone: str, verified: bool = False) -> None:
    request.session[OTP_SESSION_KEY] = otp_state_for(phone, verified=verified)


def otp_state_clear(request) -> None:
    request.session.pop(OTP_SESSION_KEY, None)
