"""Reads of the members app, scoped to what the staff member may see."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404

from . import crypto
from .models import Member, Role, StaffProfile, User
from .phones import normalize_phone
from .services import is_member_no

SEARCH_LIMIT = 20


def staff_profile_of(user: User) -> StaffProfile | None:
    if not user.is_authenticated:
        return None
    try:
        return user.staff_profile
    except StaffProfile.DoesNotExist:
        return None


def sees_all_stores(user: User) -> bool:
    profile = staff_profile_of(user)
    return user.is_superuser or (profile is not None and profile.role == Role.OWNER)


def members_visible_to(user: User) -> QuerySet[Member]:
    """Owners (and superusers) see every store's members; others only their store's."""
    qs = Member.objects.all()
    if sees_all_stores(user):
        return qs
    profile = staff_profile_of(user)
    if profile is None or profile.store_id is None:
        return qs.none()
    return qs.filter(store_id=profile.store_id)


def member_get_for_staff(user: User, member_no: str) -> Member:
    """The member, or 404 when unknown, or PermissionDenied when in another store."""
    member = Member.objects.select_related("store", "guide").filter(member_no=member_no).first()
    if member is None:
        raise Http404
    if sees_all_stores(user):
        return member
    profile = staff_profile_of(user)
    if profile is None or profile.store_id is None or member.store_id != profile.store_id:
        raise PermissionDenied  # the same rule as members_visible_to, without a query
    return member


def classify_query(q: str) -> tuple[str, str]:
    """What a staff member typed: ("phone" | "member_no" | "last4" | "name", value)."""
    q = q.strip()
    compact = q.replace(" ", "").replace("-", "")
    if compact.isdigit() and len(compact) == 4:
        return "last4", compact
    if is_member_no(compact):
        return "member_no", compact
    if any(ch.isdigit() for ch in compact) and len(compact) >= 7:
        try:
            return "phone", normalize_phone(q)
        except ValidationError:
            pass
    return "name", q


def member_search(
    user: User, q: str, related: tuple[str, ...] = (), only: tuple[str, ...] = ()
) -> tuple[str, list[Member]]:
    """Members matching the query, each lookup on an index; at most SEARCH_LIMIT rows.

    `related`: more relations to join (the counter joins the loyalty card); `only`:
    the columns to read (QuerySet.only), when the caller knows what it shows."""
    kind, value = classify_query(q)
    if not value:
        return kind, []
    qs = members_visible_to(user).select_related("store", *related)
    if only:
        qs = qs.only(*only)
    if kind == "phone":
        qs = qs.filter(phone_hash=crypto.phone_hash(value))
    elif kind == "member_no":
        qs = qs.filter(member_no=value)
    elif kind == "last4":
        qs = qs.filter(phone_last4=value)
    else:
        qs = qs.filter(name=value)
    return kind, list(qs.order_by("-id")[:SEARCH_LIMIT])
