"""Reads of the members app, scoped to what the staff member may see."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404

from config.platform.fixed_sql import FixedRead

from . import crypto
from .models import Member, Role, StaffProfile, Store, User
from .numbers import is_member_no
from .phones import normalize_phone

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


ALL_STORES = object()  # store_scope: no store filter


def store_scope(user: User):
    """ALL_STORES for owners (and superusers), else the store whose members the user
    sees, or None: none at all."""
    if sees_all_stores(user):
        return ALL_STORES
    profile = staff_profile_of(user)
    return None if profile is None else profile.store_id


def members_visible_to(user: User) -> QuerySet[Member]:
    """Owners (and superusers) see every store's members; others only their store's."""
    qs = Member.objects.all()
    scope = store_scope(user)
    if scope is ALL_STORES:
        return qs
    if scope is None:
        return qs.none()
    return qs.filter(store_id=scope)


def member_visible_to(user: User, member: Member) -> bool:
    """Whether `member` is among members_visible_to(user): the same rule, no query."""
    scope = store_scope(user)
    return scope is ALL_STORES or (scope is not None and member.store_id == scope)


def member_served_by(user: User, member: Member) -> bool:
    """The chain rule, written once: may `user` serve `member` at the counter?

    A chain's member is served at every store: staff of any store serve any member of
    the merchant they found by an exact key (phone, member number or the card's code, a
    coupon's code), unless the staff member's store or the member's home store serves
    its own members only (Store.serves_own_members_only: a franchise keeps to its own,
    both ways). Browsing, partial searches and managing the member (profile, tags,
    guide, points, cash-out) stay with the home store: member_visible_to.
    `member.store` is read (join it); the staff member's store only for another
    store's member."""
    scope = store_scope(user)
    if scope is ALL_STORES or (scope is not None and member.store_id == scope):
        return True
    return scope is not None and member_served_at(staff_profile_of(user).store, member)


def member_served_at(store: Store, member: Member) -> bool:
    """The chain rule for a store (a staff member's, a POS key's): its own members, and
    any member of the chain unless this store or the member's home store serves its own
    members only. Reads the home store only for another store's member."""
    if member.store_id is None or member.store_id == store.pk:
        return True
    if store.serves_own_members_only:
        return False
    if Member.store.is_cached(member):  # joined by the caller (the counter's lookups)
        return not member.store.serves_own_members_only
    return not Store.objects.filter(pk=member.store_id, serves_own_members_only=True).exists()


def record_visible_to(user: User, member: Member, store_id: int | None) -> bool:
    """A record of `member` made at store `store_id` (a purchase, a stored-value entry):
    seen by the staff of the store where it happened and by those who see the member."""
    scope = store_scope(user)
    return (store_id is not None and store_id == scope) or member_visible_to(user, member)


def member_get_for_staff(user: User, member_no: str, *, serve: bool = False) -> Member:
    """The member, or 404 when unknown, or PermissionDenied when out of reach: with
    `serve`, the counter's rule (member_served_by: any store's member of the chain);
    without, the home store's (member_visible_to: managing the member)."""
    member = Member.objects.select_related("store", "guide").filter(member_no=member_no).first()
    if member is None:
        raise Http404
    allowed = member_served_by(user, member) if serve else member_visible_to(user, member)
    if not allowed:
        raise PermissionDenied
    return member


def classify_query(q: str) -> tuple[str, str]:
    """What a staff member typed: ("phone" | "member_no" | "last4" | "name", value)."""
    q = q.strip()
    compact = q.replace(" ", "").replace("-", "")
    if compact.isdigit() and len(compact) == 4:
        return "last4", compact
    if is_member_no(compact):
        return "member_no", compact
    if len(compact) >= 7 and (compact.isdigit() or any(ch.isdigit() for ch in compact)):
        try:
            return "phone", normalize_phone(q)
        except ValidationError:
            pass
    return "name", q


# Codes of the member's cards elsewhere (wechat: the member card in 卡包, whose code WeChat
# chose): callables (digits) -> member number or None, asked only when a typed or scanned
# number is nothing else. Added by the apps above from their ready().
MEMBER_CODE_FINDERS: list = []


def member_search(
    user: User, q: str, related: tuple[str, ...] = (), only: tuple[str, ...] = ()
) -> tuple[str, list[Member]]:
    """Members matching the query, each lookup on an index; at most SEARCH_LIMIT rows.

    An exact key (the full phone, the member number) finds the member at any store
    the staff member serves (member_served_by: the chain); a partial one (last 4, a
    name) only among the members they see (their store's).
    `related`: more relations to join (the counter joins the loyalty card); `only`:
    the columns to read (QuerySet.only), when the caller knows what it shows."""
    kind, value = classify_query(q)
    if not value:
        return kind, []
    if kind in EXACT:  # the counter's every lookup: the SQL written once (fixed_sql)
        if store_scope(user) is None:
            return kind, []
        key = crypto.phone_hash(value) if kind == "phone" else value
        if only and "store__serves_own_members_only" not in only:
            only = (*only, "store__serves_own_members_only")  # member_served_by reads it
        found = _exact_read(EXACT[kind], related, only)(key)
        return kind, [m for m in found if member_served_by(user, m)]
    if kind == "name" and value.isdecimal():
        for finder in MEMBER_CODE_FINDERS:
            member_no = finder(value)
            if member_no:
                return member_search(user, member_no, related, only)
    qs = members_visible_to(user).select_related("store", *related)
    if only:
        qs = qs.only(*only)
    qs = qs.filter(phone_last4=value) if kind == "last4" else qs.filter(name=value)
    return kind, list(qs.order_by("-id")[:SEARCH_LIMIT])


EXACT = {"phone": "phone_hash", "member_no": "member_no"}  # kind: its unique column
_exact_reads: dict[tuple, FixedRead] = {}


def _exact_read(column: str, related: tuple, only: tuple) -> FixedRead:
    """member_search's query for one value of a unique column, as a FixedRead: built once
    per shape (the ORM built and compiled it on every search, several times longer than
    the database took to answer). The same joins (select_related's "card__tier" joins the
    card, then its tier) and columns (only's, of the joined models too). Not scoped to a
    store: member_search applies the chain rule to the row it finds."""
    shape = (column, related, only)
    read = _exact_reads.get(shape)
    if read is None:
        joins = ["store"]
        for path in related:
            names = path.split("__")
            joins += ["__".join(names[: i + 1]) for i in range(len(names))]
        # The column is unique: one row at most, so no ORDER BY (SQLite sorted it anyway).
        read = _exact_reads[shape] = FixedRead(
            Member,
            f"t0.{column} = %s",
            fields=only,
            related=tuple(dict.fromkeys(joins)),
            limit=SEARCH_LIMIT,
        )
    return read
