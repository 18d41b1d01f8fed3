"""Privacy (PIPL): the notice members agree to, "download my data", and what holds an
account's deletion back (ERASE_HOLDS).

Apps above members add their part of a member's data export to EXPORT_SECTIONS from
their AppConfig.ready() (loyalty: card, points, purchases, coupons; campaigns: messages),
so members never imports them. Each entry is a callable (member) -> (section name,
JSON-able value).
"""

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Member, PrivacyNotice

# Used until the owner publishes a notice of their own in the admin.
BUILTIN_VERSION = "builtin-1"
# The day the built-in notice's words were written: what members read as its version
# (BUILTIN_VERSION stays the stored key of their consent).
BUILTIN_DATE = dt.date(2026, 11, 27)


def version_label(version: str) -> str:
    """A notice version as members and staff read it: the built-in one's date
    (2026-11-27), an owner's notice's own version name."""
    return BUILTIN_DATE.isoformat() if version == BUILTIN_VERSION else (version or "")


EXPORT_SECTIONS: list = []
# What keeps a member from deleting their account yet: callables (member) -> a reason
# for the member, or None. Apps above members add theirs from ready() (loyalty: stored
# value the business still owes them, which must be paid back first, not forfeited).
ERASE_HOLDS: list = []


def erase_holds(member: Member) -> list[str]:
    """Why `member` cannot delete their account now (empty: they can). In a transaction:
    a hold may lock what it reads (loyalty locks the member's card), which needs one."""
    with transaction.atomic():
        return [reason for hold in ERASE_HOLDS if (reason := hold(member))]


@dataclass
class BuiltinNotice:
    version: str = BUILTIN_VERSION
    published_at: None = None
    title: str = ""
    paragraphs: list[str] = field(default_factory=list)


def _builtin_notice() -> BuiltinNotice:
    return BuiltinNotice(
        title=_("Privacy notice"),
        paragraphs=[
            _(
                "We use your mobile number to identify you as a member, to send you "
                "verification codes and, if you agree, news of offers."
            ),
            _(
                "We keep your purchases, points, coupons and the profile you give us "
                "(name, gender, birthday, e-mail) to run the membership: tiers, points, "
                "birthday gifts and offers that suit you."
            ),
            _(
                "Your contact data is stored encrypted. Only the staff who serve you can "
                "see it, and we do not sell it or share it for others' marketing."
            ),
            _(
                "You can see and download your data, and withdraw your consent and delete "
                "your account at any time under Me → Privacy in the member centre."
            ),
        ],
    )


def current_notice(now=None) -> PrivacyNotice | BuiltinNotice:
    return PrivacyNotice.current(now) or _builtin_notice()


def notice_by_version(version: str) -> PrivacyNotice | BuiltinNotice | None:
    if version == BUILTIN_VERSION:
        return _builtin_notice()
    return PrivacyNotice.objects.filter(version=version).first() if version else None


def published_notice_by_version(version: str, now=None) -> PrivacyNotice | BuiltinNotice | None:
    """The notice of `version` if it is public: in force now or earlier (published_at
    passed), or the built-in one. A draft, or a version published from a later date, is
    the owner's until then: None, as for a version that does not exist."""
    if version == BUILTIN_VERSION:
        return _builtin_notice()
    if not version or len(version) > 32 or "\x00" in version:  # never a stored version
        return None
    public = PrivacyNotice.objects.filter(
        version=version, published_at__isnull=False, published_at__lte=now or timezone.now()
    )
    return public.first()


def _iso(value):
    return value.isoformat() if value else None


def member_profile_export(member: Member) -> dict:
    return {
        "member_no": member.member_no,
        "mobile_number": member.phone,
        "name": member.name,
        "gender": member.gender,
        "birthday": _iso(member.birthday),
        "email": member.email,
        "addresses": member.address_list,
        "registered_at": _iso(member.created_at),
        "registered_at_store": member.store.name if member.store_id else None,
        "source": member.source,
        "referral_code": member.referral_code,
        "consent": {"version": member.consent_version, "given_at": _iso(member.consent_at)},
        "wechat_bound": bool(member.wechat_openid),
    }


def member_data_export(member: Member) -> dict:
    """Everything we hold about the member, as JSON-able data (PIPL right of access)."""
    data = {
        "exported_at": timezone.now().isoformat(),
        "profile": member_profile_export(member),
    }
    for section in EXPORT_SECTIONS:
        name, value = section(member)
        data[name] = value
    return data
