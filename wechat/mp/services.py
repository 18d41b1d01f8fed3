"""Writes of the mini-program: login (code2Session -> a session token), registration (the
phone WeChat vouches for -> the member of /join/), logout and revoking tokens.

WeChat is called before any transaction opens: no row is locked while it answers.
"""

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member, Store, User
from members.privacy import current_notice
from members.services import member_join

from . import client as mp
from .models import MiniProgramToken, MiniProgramUser

TOKEN_PREFIX = "mp1."


class MiniProgramError(Exception):
    """The API's answer to a request it refuses: `code` for the mini-program, the message
    for the member, `status` the HTTP status."""

    code = "mp_error"
    status = 400

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NoticeChanged(MiniProgramError):
    code = "privacy_notice_changed"
    status = 409


@dataclass
class Login:
    user: MiniProgramUser
    member: Member | None
    token: str  # given to the mini-program once; only its hash is kept
    expires_at: dt.datetime


def active_member(user: MiniProgramUser) -> Member | None:
    """The user's member, unless erased since (a member who deleted their account)."""
    member = user.member
    return member if member is not None and member.status == Member.Status.ACTIVE else None


def _member_by_unionid(unionid: str) -> Member | None:
    # WeChat's unionid names one person across the merchant's apps: the member who has it
    # (the official account's OAuth or an import put it there). Two members with it: a
    # guess either way, so neither.
    if not unionid:
        return None
    found = list(Member.objects.filter(wechat_unionid=unionid, status=Member.Status.ACTIVE)[:2])
    return found[0] if len(found) == 1 else None


def _unionid_give(member: Member, unionid: str) -> None:
    """Note WeChat's unionid on a member who has none (conditional: a race sets it once)."""
    if unionid and not member.wechat_unionid:
        Member.objects.filter(pk=member.pk, wechat_unionid="").update(wechat_unionid=unionid)
        member.wechat_unionid = unionid


def _user_locked(openid: str, now: dt.datetime) -> MiniProgramUser:
    # The user's row alone: PostgreSQL locks no row of an outer join's nullable side.
    user = MiniProgramUser.objects.select_for_update(of=("self",)).select_related("member")
    found = user.filter(openid=openid).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return MiniProgramUser.objects.create(openid=openid, created_at=now, last_login_at=now)
    except IntegrityError:  # the same user's other login made it meanwhile
        return user.get(openid=openid)


def _token_issue(user: MiniProgramUser, now: dt.datetime) -> tuple[str, dt.datetime]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(seconds=settings.MP_TOKEN_AGE)
    MiniProgramToken.objects.create(
        token_hash=MiniProgramToken.hash(token), user=user, created_at=now, expires_at=expires_at
    )
    return token, expires_at


def mp_login(*, code: str, now: dt.datetime | None = None) -> Login:
    """wx.login()'s code -> the mini-program user, their member (by the user's binding,
    else by WeChat's unionid) or None, and a new session token.

    Raises client.WeChatError (a bad code: its errcode; WeChat down: `unavailable`) and
    client.NotConfigured."""
    session = mp.code_to_session(code)  # before the transaction: network
    now = now or timezone.now()
    openid, unionid = session["openid"], session.get("unionid") or ""
    with transaction.atomic():
        user = _user_locked(openid, now)
        user.session_key, user.last_login_at = session["session_key"], now
        user.unionid = unionid or user.unionid
        member = active_member(user) or _member_by_unionid(user.unionid)
        user.member = member
        user.save(update_fields=["session_key", "last_login_at", "unionid", "member"])
        if member is not None:
            _unionid_give(member, user.unionid)
        token, expires_at = _token_issue(user, now)
    return Login(user=user, member=member, token=token, expires_at=expires_at)


def mp_register(
    *,
    user: MiniProgramUser,
    phone_code: str,
    consent_version: str = "",
    name: str = "",
    marketing_consent: bool = False,
    store: Store | None = None,
    guide: User | None = None,
    referred_by: Member | None = None,
    now: dt.datetime | None = None,
) -> tuple[Member, bool]:
    """Register the user with the phone WeChat gives for `phone_code`, through /join/'s
    service (members.services.member_join): a phone that is a member's already binds to
    that member, never a second one. Returns (member, created).

    A user bound already gets their member, and WeChat is not asked. `consent_version`:
    the privacy notice the member agreed to (empty: the current one, which the mini-program
    showed); an older one is NoticeChanged, before the phone code is used up."""
    member = active_member(user)
    if member is not None:
        return member, False
    notice = current_notice(now)
    shown = consent_version or notice.version
    if shown != notice.version:  # a new version was published while they read the old one
        raise NoticeChanged(
            _("The privacy notice has just changed: please read the new version and agree again."),
            notice_version=notice.version,
        )
    info = mp.phone_number(phone_code)  # network: before any transaction
    phone = f"+{info.get('countryCode') or '86'}{info['purePhoneNumber']}"
    member, created = member_join(
        phone=phone,
        consent_version=shown,
        name=name,
        marketing_consent=marketing_consent,
        store=store,
        guide=guide,
        referred_by=referred_by,
        now=now,
    )
    with transaction.atomic():
        locked = (
            MiniProgramUser.objects.select_for_update(of=("self",))
            .select_related("member")
            .get(pk=user.pk)
        )
        bound = active_member(locked)
        if bound is not None:  # the same user's other registration won the race
            return bound, False
        locked.member = member
        locked.save(update_fields=["member"])
        _unionid_give(member, locked.unionid)
    user.member = member
    return member, created


def mp_logout(*, token: MiniProgramToken, now: dt.datetime | None = None) -> None:
    """The token stops working (the mini-program's "log out")."""
    MiniProgramToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now or timezone.now()
    )


def mp_tokens_revoke(*, users, now: dt.datetime | None = None) -> int:
    """Every live token of `users` (a queryset or list of mini-program users) stops
    working: staff's "revoke", or the member's account gone. Returns how many."""
    return MiniProgramToken.objects.filter(user__in=users, revoked_at__isnull=True).update(
        revoked_at=now or timezone.now()
    )


def mp_tokens_prune(*, now: dt.datetime | None = None, keep_days: int = 30) -> int:
    """Forget the tokens expired more than `keep_days` ago (a revoked one expires too; the
    admin shows the last 30 days). For a daily job. Returns how many."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=keep_days)
    return MiniProgramToken.objects.filter(expires_at__lt=cutoff).delete()[0]


def mp_member_erased(sender, member, **kwargs) -> None:
    """member_erased receiver: the member's mini-program users lose their binding and
    their tokens (inside the erasure's transaction)."""
    users = MiniProgramUser.objects.filter(member=member)
    mp_tokens_revoke(users=list(users.values_list("pk", flat=True)))
    users.update(member=None, unionid="", session_key="")
