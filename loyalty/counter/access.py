"""What every counter view asks first: may this staff member do it, and for which store.

Shared by the counter's views (views.py: purchases, the 360 page; prepaid.py: stored
value), so that a rule about staff and stores is written once.
"""

from django.core.exceptions import PermissionDenied, ValidationError

from loyalty.errors import LoyaltyError
from members.dynamic_code import code_used, member_for_code
from members.models import Member
from members.selectors import staff_profile_of

DYNAMIC_SESSION_KEY = "counter_dynamic_code"  # {"member_no": ..., "code": ...}


def need(user, perm: str) -> None:
    """PermissionDenied (403) unless `user` has `perm`."""
    if not user.has_perm(perm):
        raise PermissionDenied


def store_of(user, member: Member | None = None):
    """Where the staff member works: their store; owners (no store) act for the member's."""
    profile = staff_profile_of(user)
    if profile is not None and profile.store_id:
        return profile.store
    return member.store if member is not None else None


def store_id_of(user, member: Member | None = None) -> int | None:
    """store_of's id, without reading the store."""
    profile = staff_profile_of(user)
    if profile is not None and profile.store_id:
        return profile.store_id
    return member.store_id if member is not None else None


def remember_dynamic_code(request, member: Member, code: str) -> None:
    """The counter found `member` by the dynamic code of their member centre: the
    purchase screen carries it (dynamic_code_of), so the spend needs no confirmation."""
    request.session[DYNAMIC_SESSION_KEY] = {"member_no": member.member_no, "code": code}


def dynamic_code_of(request, member: Member, code: str | None = None) -> str:
    """The dynamic code that identified `member` at this counter (`code`: the one the
    purchase form carried; else the one remembered in the session), while it is still
    valid and unused; "" when there is none (then a spend needs the member's
    confirmation: loyalty.spending)."""
    if code is None:
        remembered = request.session.get(DYNAMIC_SESSION_KEY) or {}
        if remembered.get("member_no") != member.member_no:
            return ""
        code = str(remembered.get("code", ""))
    if not code or len(code) > 32:
        return ""
    found = member_for_code(code)
    if found is None or found.pk != member.pk or code_used(code):
        return ""
    return code


def full_phone(user, typed: bool = False) -> bool:
    """Clerks see a number masked (138****8000) unless they typed it in the search."""
    return typed or user.has_perm("members.change_member")


def error_messages(exc: Exception) -> list[str]:
    """A business error's or a validation error's messages, for a form or a flash."""
    if isinstance(exc, LoyaltyError):
        return [exc.message]
    if isinstance(exc, ValidationError):
        return exc.messages
    raise exc
