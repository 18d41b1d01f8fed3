"""Writes of the members app: one function per change, each in a transaction."""

import secrets
from collections.abc import Iterable
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from config.platform.fixed_sql import FixedInsert, FixedRead

from . import crypto
from .audit import audit_record, diff
from .models import AuditEntry, Member, Role, StaffProfile, Store, Tag, User

# Made in numbers.py (one source for member_create and the import); callers of old
# (selectors, demo, tests) still import them from here.
from .numbers import generate_member_no
from .phones import normalize_phone, phone_fields
from .privacy import erase_holds
from .roles import ROLE_GROUP_NAMES
from .signals import member_erased, member_registered, member_updated


class DuplicatePhone(ValidationError):
    """The phone already belongs to a member; `member_no` says which."""

    def __init__(self, member_no: str):
        self.member_no = member_no
        super().__init__(
            {
                "phone": ValidationError(
                    _("This mobile number already belongs to member %(member_no)s."),
                    code="duplicate",
                    params={"member_no": member_no},
                )
            }
        )


def member_by_phone(raw_phone: str) -> Member | None:
    """The member who owns this phone (any written form), or None. Raises on a bad phone."""
    e164 = normalize_phone(raw_phone)
    return _member_by_phone_hash.first(crypto.phone_hash(e164))


# Registration and sign-in look the phone up on every request: written once
# (config/platform/fixed_sql.py). Member has no save() of its own and no signal receivers.
_member_by_phone_hash = FixedRead(Member, "t0.phone_hash = %s")  # unique
_insert_member = FixedInsert(Member)


def _ensure_phone_free(e164: str, *, exclude_pk: int | None = None) -> None:
    clash = Member.objects.filter(phone_hash=crypto.phone_hash(e164))
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    member_no = clash.values_list("member_no", flat=True).first()
    if member_no:
        raise DuplicatePhone(member_no)


def member_create(
    *,
    phone: str,
    name: str = "",
    gender: str = "",
    birthday: date | None = None,
    email: str = "",
    addresses: str = "",
    source: str = Member.Source.ADMIN,
    store: Store | None = None,
    guide: User | None = None,
    referred_by: Member | None = None,
    consent_version: str = "",
    consent_at: datetime | None = None,
    marketing_consent: bool = False,
    note: str = "",
    tags: Iterable[Tag] = (),
    actor: User | None = None,
    created_at: datetime | None = None,
    phone_checked: bool = False,
) -> Member:
    """Register a member. Raises DuplicatePhone or ValidationError on bad input.

    `phone_checked`: the caller has just looked the phone up (member_join); the unique
    index still refuses a phone taken since, as DuplicatePhone."""
    e164 = normalize_phone(phone)
    if not phone_checked:
        _ensure_phone_free(e164)  # first, so a taken phone is what the answer says
    member = Member(
        **phone_fields(e164),
        name=name.strip(),
        gender=gender,
        birthday=birthday,
        email=email.strip(),
        addresses=addresses.strip(),
        source=source,
        store=store,
        guide=guide,
        referred_by=referred_by,
        consent_version=consent_version,
        consent_at=consent_at,
        marketing_consent=marketing_consent,
        marketing_consent_at=consent_at if marketing_consent else None,
        note=note,
        created_at=created_at or timezone.now(),
        member_no=generate_member_no(),
    )
    # Not validated here: the number (made below) and the phone's uniqueness (checked
    # above; a race is the insert's unique index), nor the store, guide and referrer
    # the caller passed as rows it read (a query each otherwise).
    member.full_clean(exclude=["member_no", "phone_hash", "store", "guide", "referred_by"])
    # Everything above is Python (normalising, hashing, validating): done before the
    # transaction, which on SQLite holds the one write lock every other till waits for.
    with transaction.atomic():
        _member_insert(member, e164, tags=tags, actor=actor, store=store)
    return member


def _member_insert(member: Member, e164: str, *, tags, actor, store) -> None:
    for _attempt in range(5):
        try:
            # A savepoint per try: a member_no collision (1 in ~100 at 1M members)
            # retries with a new number; a taken phone surfaces as DuplicatePhone.
            with transaction.atomic():
                _insert_member(member)
            break
        except IntegrityError:
            _ensure_phone_free(e164)
            member.pk = None
            member.member_no = generate_member_no()
    else:  # pragma: no cover - five collisions in a row means something else is wrong
        raise IntegrityError("could not allocate a member number")
    if tags:
        member.tags.add(*tags)
    if actor is not None:
        audit_record(
            actor=actor,
            action="member.create",
            obj=member,
            changes=diff({}, _editable_values(member)),
            store=store,
        )
    member_registered.send(sender=Member, member=member, actor=actor)


EDITABLE_FIELDS = (
    "phone",
    "name",
    "gender",
    "birthday",
    "email",
    "addresses",
    "store",
    "guide",
    "referred_by",
    "note",
)


def _editable_values(member: Member) -> dict:
    return {f: getattr(member, f) for f in EDITABLE_FIELDS}


@transaction.atomic
def member_update(*, member: Member, actor: User | None, **changes) -> Member:
    """Change a member's profile fields, recording old -> new in the audit trail."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable through member_update: {sorted(unknown)}")
    # Lock the row so two staff edits do not interleave their read-modify-write.
    locked = Member.objects.select_for_update().get(pk=member.pk)
    before = _editable_values(locked)
    update_fields = []
    if "phone" in changes:
        e164 = normalize_phone(changes.pop("phone"))
        if e164 != locked.phone:
            _ensure_phone_free(e164, exclude_pk=locked.pk)
            for field, value in phone_fields(e164).items():
                setattr(locked, field, value)
            update_fields += ["phone", "phone_hash", "phone_last4"]
    for field, value in changes.items():
        if isinstance(value, str):
            value = value.strip()
        if getattr(locked, field) != value:
            setattr(locked, field, value)
            update_fields.append(field)
    if not update_fields:
        return locked
    locked.full_clean(exclude=["member_no", "phone_hash"], validate_unique=False)
    locked.save(update_fields=[*update_fields, "updated_at"])
    audit_record(
        actor=actor,
        action="member.update",
        obj=locked,
        changes=diff(before, _editable_values(locked)),
        store=locked.store,
    )
    member_updated.send(sender=Member, member=locked, actor=actor, fields=update_fields)
    return locked


def member_join(
    *,
    phone: str,
    consent_version: str,
    name: str = "",
    marketing_consent: bool = False,
    store: Store | None = None,
    guide: User | None = None,
    referred_by: Member | None = None,
    now: datetime | None = None,
) -> tuple[Member, bool]:
    """Self-registration (the QR page, /join/): the member who owns the phone, or a new one.

    Returns (member, created). An existing phone logs in instead of registering twice;
    two submissions racing for one phone end with one member (the loser finds it).
    """
    existing = member_by_phone(phone)
    if existing is not None:
        return existing, False
    now = now or timezone.now()
    try:
        member = member_create(
            phone=phone,
            name=name,
            source=Member.Source.REFERRAL if referred_by else Member.Source.QR,
            store=store,
            guide=guide,
            referred_by=referred_by,
            consent_version=consent_version,
            consent_at=now,
            marketing_consent=marketing_consent,
            created_at=now,
            phone_checked=True,
        )
    except DuplicatePhone:
        return member_by_phone(phone), False
    return member, True


@transaction.atomic
def member_marketing_set(
    *, member: Member, consent: bool, actor: User | None = None, now: datetime | None = None
) -> bool:
    """The member's yes or no to marketing messages (the member centre's switch, a 退订
    reply); audited. False when it was already their answer (nothing recorded)."""
    now = now or timezone.now()
    # A change, or a first answer (a "no" from someone never asked is a choice too).
    undecided = Q(marketing_consent=not consent) | Q(marketing_consent_at__isnull=True)
    changed = Member.objects.filter(undecided, pk=member.pk).update(
        marketing_consent=consent, marketing_consent_at=now, updated_at=now
    )
    member.marketing_consent, member.marketing_consent_at = consent, now
    if changed:
        audit_record(
            actor=actor,
            action="member.marketing",
            obj=member,
            changes={"marketing_consent": [not consent, consent]},
            store=member.store,
        )
    return bool(changed)


# What erasure blanks (PIPL deletion): every personal field. The row, its number and
# the ledgers that point at it stay, so the books still balance.
ERASED_VALUES = {
    "phone": "",
    "phone_hash": None,
    "phone_last4": "",
    "gender": "",
    "birthday": None,
    "email": "",
    "addresses": "",
    "wechat_openid": None,
    "wechat_unionid": "",
    "referral_code": None,
    "note": "",
    "marketing_consent": False,
}


class ErasureHeld(ValidationError):
    """The account cannot be deleted yet (members.privacy.ERASE_HOLDS): the messages say why."""


@transaction.atomic
def member_erase(*, member: Member, actor: User | None = None, now: datetime | None = None):
    """Erase a member's personal data at their request (or staff's, on their behalf).

    Status ERASED, contact and profile fields blanked, the name replaced, the phone
    freed (NULL hash) so it can register again, tags removed; the member's earlier
    audit entries lose their values. Ledger rows (points, purchases, coupons) stay.
    Sends member_erased so the apps above can erase what they hold. Safe to repeat.
    Refused (ErasureHeld) while an app holds it back (members.privacy.ERASE_HOLDS).
    """
    now = now or timezone.now()
    locked = Member.objects.select_for_update().get(pk=member.pk)
    if locked.status == Member.Status.ERASED:
        return locked
    if holds := erase_holds(locked):
        raise ErasureHeld(holds)
    for field, value in ERASED_VALUES.items():
        setattr(locked, field, value)
    with translation.override(settings.LANGUAGE_CODE):
        locked.name = _("Erased member")
    locked.status = Member.Status.ERASED
    locked.erased_at = now
    locked.save(update_fields=[*ERASED_VALUES, "name", "status", "erased_at", "updated_at"])
    locked.tags.clear()
    # Earlier entries named the member and showed old values: keep who and when, drop what.
    history = AuditEntry.objects.filter(
        object_type=Member._meta.label_lower, object_id=str(locked.pk)
    )
    for entry in history:
        entry.object_repr = str(locked)[:200]
        entry.changes = {field: ["—", "—"] for field in entry.changes}
        entry.save(update_fields=["object_repr", "changes"])
    audit_record(
        actor=actor,
        action="member.erase",
        obj=locked,
        changes={"status": [Member.Status.ACTIVE.value, Member.Status.ERASED.value]},
        store=locked.store,
    )
    member_erased.send(sender=Member, member=locked, actor=actor)
    return locked


REFERRAL_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERRAL_CODE_LENGTH = 7


def member_referral_code(member: Member) -> str:
    """The member's referral code, made on first use (a conditional UPDATE, race-safe)."""
    if member.referral_code:
        return member.referral_code
    for _attempt in range(5):
        code = "".join(secrets.choice(REFERRAL_CODE_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))
        try:
            with transaction.atomic():
                Member.objects.filter(pk=member.pk, referral_code__isnull=True).update(
                    referral_code=code
                )
        except IntegrityError:
            continue  # the code belongs to someone else: draw again
        member.referral_code = Member.objects.values_list("referral_code", flat=True).get(
            pk=member.pk
        )
        return member.referral_code
    raise IntegrityError("could not allocate a referral code")  # pragma: no cover


def member_by_referral_code(code: str) -> Member | None:
    code = "".join(ch for ch in (code or "").upper() if ch.isalnum())
    if not code:
        return None
    return Member.objects.filter(referral_code=code, status=Member.Status.ACTIVE).first()


def member_tags_add(*, members, tag: Tag, actor: User | None) -> int:
    """Give `tag` to every member of the queryset `members`; returns how many gained it.

    Set-based (one INSERT per batch of ids, duplicates ignored), so an admin action
    over "all 1,000,000 selected" stays fast. Each member who gained it has a line in
    their own change history (one INSERT per batch too), and the tag one summary line.
    """
    through = Member.tags.through
    added = 0
    rows = members.values_list("pk", "name", "member_no", "store_id").order_by("pk")
    batch: list[tuple] = []

    def flush():
        nonlocal added
        ids = [row[0] for row in batch]
        existing = set(
            through.objects.filter(tag=tag, member_id__in=ids).values_list("member_id", flat=True)
        )
        gained = [row for row in batch if row[0] not in existing]
        through.objects.bulk_create(
            [through(member_id=row[0], tag=tag) for row in gained], ignore_conflicts=True
        )
        _audit_tag_change(gained, tag, actor, added=True)
        added += len(gained)
        batch.clear()

    with transaction.atomic():
        for row in rows.iterator(chunk_size=5000):
            batch.append(row)
            if len(batch) >= 5000:
                flush()
        if batch:
            flush()
        audit_record(
            actor=actor, action="member.tag_add", obj=tag, changes={"tag": tag.name, "added": added}
        )
    return added


@transaction.atomic
def member_tags_remove(*, members, tag: Tag, actor: User | None) -> int:
    """Take `tag` from every member of `members`, in batches by id; each member who lost
    it has a line in their change history, the tag one summary line."""
    through = Member.tags.through
    holders = members.filter(tags=tag).values_list("pk", "name", "member_no", "store_id")
    removed, last = 0, 0
    while batch := list(holders.filter(pk__gt=last).order_by("pk")[:5000]):
        last = batch[-1][0]
        removed += through.objects.filter(tag=tag, member_id__in=[r[0] for r in batch]).delete()[0]
        _audit_tag_change(batch, tag, actor, added=False)
    audit_record(
        actor=actor,
        action="member.tag_remove",
        obj=tag,
        changes={"tag": tag.name, "removed": removed},
    )
    return removed


def _audit_tag_change(rows: list[tuple], tag: Tag, actor: User | None, *, added: bool) -> None:
    """One line per member (pk, name, member_no, store_id) in their change history."""
    now = timezone.now()
    change = {"tags": [None, tag.name] if added else [tag.name, None]}
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                at=now,
                actor=actor if getattr(actor, "pk", None) else None,
                action="member.tags",
                object_type=Member._meta.label_lower,
                object_id=str(pk),
                object_repr=f"{name or _('(no name)')} · {member_no}"[:200],
                changes=change,
                store_id=store_id,
            )
            for pk, name, member_no, store_id in rows
        ],
        batch_size=1000,
    )


@transaction.atomic
def staff_create(
    *,
    username: str,
    password: str,
    role: str,
    store: Store | None,
    display_name: str = "",
    actor: User | None = None,
) -> User:
    """A staff account with its profile and role group. Owners and managers get the admin."""
    user = User(username=username, is_staff=role in (Role.OWNER, Role.MANAGER))
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    staff_profile_save(user=user, role=role, store=store, display_name=display_name, actor=actor)
    return user


@transaction.atomic
def staff_profile_save(
    *,
    user: User,
    role: str,
    store: Store | None,
    display_name: str = "",
    actor: User | None,
) -> StaffProfile:
    """Create or change a staff member's role and store, keeping group and admin access in step."""
    profile = StaffProfile.objects.select_for_update().filter(user=user).first()
    before = {"role": profile.role, "store": profile.store} if profile else {}
    profile = profile or StaffProfile(user=user)
    profile.role, profile.store, profile.display_name = role, store, display_name
    profile.full_clean()
    profile.save()
    user.is_staff = role in (Role.OWNER, Role.MANAGER) or user.is_superuser
    user.save(update_fields=["is_staff"])
    user.groups.set([Group.objects.get(name=ROLE_GROUP_NAMES[role])])
    changes = diff(before, {"role": role, "store": store})
    if changes:
        audit_record(
            actor=actor, action="staff.set_role", obj=profile, changes=changes, store=store
        )
    return profile
