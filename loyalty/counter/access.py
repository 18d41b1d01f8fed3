"""What every counter view asks first: may this staff member do it, and for which store.

Shared by the counter's views (views.py: purchases, the 360 page; prepaid.py: stored
value), so that a rule about staff and stores is written once.
"""

from django.core.exceptions import PermissionDenied, ValidationError

from loyalty.errors import LoyaltyError
from members.models import Member
from members.selectors import staff_profile_of


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
