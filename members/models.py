"""The ground floor: stores, staff, members, tags and the audit trail.

members never imports loyalty, campaigns or wechat, and no model here points at
theirs (docs/architecture.md, "The layers"): a member's loyalty figures live on
loyalty's Card.
"""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.platform.fixed_sql import FixedRead

from .crypto import EncryptedTextField
from .phones import format_phone, mask_phone


def index_where_set(field: str, name: str) -> models.Index:
    """The index of a nullable foreign key over the rows that have one.

    Most rows have none (a purchase through the API has no staff, a registration no
    referrer, a coupon no purchase until it is used): a full index would take an entry
    for each of them on every insert, and serves only lookups of one value (=, IN:
    deletions, the admin's filters), which imply IS NOT NULL on both databases."""
    return models.Index(fields=[field], condition=Q(**{f"{field}__isnull": False}), name=name)


class User(AbstractUser):
    """Staff accounts (store owners, managers, clerks). Members are not users."""

    class Meta:
        verbose_name = _("staff account")
        verbose_name_plural = _("staff accounts")


class Store(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    address = models.CharField(_("address"), max_length=255, blank=True)
    phone = models.CharField(_("store phone"), max_length=32, blank=True)
    active = models.BooleanField(_("active"), default=True)
    # A chain serves its members at every store's counter (members.selectors.
    # member_served_by); a franchise store keeps to its own, both ways.
    serves_own_members_only = models.BooleanField(
        _("serves its own members only"),
        default=False,
        help_text=_(
            "For a franchise store: its counter finds only the members registered here, "
            "and its members are not served at the other stores."
        ),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    MANAGER = "manager", _("Store manager")
    CLERK = "clerk", _("Clerk")


class StaffProfile(models.Model):
    """A staff account's store and role. The role is mirrored as a Django group."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff_profile",
        verbose_name=_("account"),
    )
    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        verbose_name=_("store"),
        help_text=_("Owners may leave this empty: they see every store."),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.CLERK)
    display_name = models.CharField(_("display name"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        constraints = [
            models.CheckConstraint(
                condition=Q(role="owner") | Q(store__isnull=False),
                name="staffprofile_store_required_unless_owner",
                violation_error_message=_("Managers and clerks belong to a store."),
            )
        ]

    def __str__(self):
        return f"{self.display_name or self.user.get_username()} ({self.get_role_display()})"

    @property
    def sees_all_stores(self) -> bool:
        return self.role == Role.OWNER


class Tag(models.Model):
    class Kind(models.TextChoices):
        MANUAL = "manual", _("Assigned by staff")
        RULE = "rule", _("Assigned by a rule")

    name = models.CharField(_("name"), max_length=50, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    description = models.CharField(_("description"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Member(models.Model):
    class Gender(models.TextChoices):
        UNKNOWN = "", _("Not given")
        MALE = "M", _("Male")
        FEMALE = "F", _("Female")

    class Source(models.TextChoices):
        QR = "qr", _("QR code in store")
        COUNTER = "counter", _("Registered at the counter")
        ADMIN = "admin", _("Added by staff")
        IMPORT = "import", _("Imported")
        WECHAT = "wechat", _("WeChat")
        REFERRAL = "referral", _("Referred by a member")
        API = "api", _("POS / mall API")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ERASED = "erased", _("Erased (privacy request)")

    member_no = models.CharField(_("member number"), max_length=12, unique=True, editable=False)
    # Contact data is encrypted; phone_hash (keyed HMAC of the E.164 number) carries
    # uniqueness and exact lookup, phone_last4 the counter's "last four digits" search.
    phone = EncryptedTextField(_("mobile number"), blank=True)
    phone_hash = models.CharField(  # noqa: DJ001 - NULL frees the phone of an erased member
        max_length=64, null=True, blank=True, editable=False
    )
    phone_last4 = models.CharField(max_length=4, blank=True, editable=False)
    name = models.CharField(_("full name"), max_length=50, blank=True)
    gender = models.CharField(
        _("gender"), max_length=1, choices=Gender.choices, default=Gender.UNKNOWN, blank=True
    )
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    email = EncryptedTextField(_("e-mail"), blank=True)
    addresses = EncryptedTextField(_("addresses"), blank=True, help_text=_("One address a line."))
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.ADMIN
    )
    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("registration store"),
        db_index=False,  # member_store_last4 starts with it
    )
    guide = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="guided_members",
        verbose_name=_("guide"),
        help_text=_("The staff member who looks after this customer."),
        db_index=False,  # member_guide_set: only the rows that have one
    )
    referred_by = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("referred by"),
        db_index=False,  # member_referrer_set: only the rows that have one
    )
    # The code in the member's invitation link (/join/?ref=CODE), given on first use.
    referral_code = models.CharField(  # noqa: DJ001 - NULL until first used, unique when set
        _("referral code"), max_length=12, unique=True, null=True, blank=True, editable=False
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="members", verbose_name=_("tags"))
    wechat_openid = models.CharField(  # noqa: DJ001 - NULL stays out of the unique index
        _("WeChat openid"), max_length=64, null=True, blank=True
    )
    wechat_unionid = models.CharField(_("WeChat unionid"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    consent_version = models.CharField(_("privacy notice version"), max_length=32, blank=True)
    consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    # Marketing messages (offers, campaigns) only with the member's own yes; 退订 clears it.
    marketing_consent = models.BooleanField(
        _("accepts marketing messages"), default=False, db_default=False
    )
    marketing_consent_at = models.DateTimeField(
        _("marketing choice made at"), null=True, blank=True
    )
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True, editable=False)
    note = models.TextField(_("staff note"), blank=True)
    created_at = models.DateTimeField(_("registered at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        permissions = [("export_member", _("Can export members"))]
        constraints = [
            # Erased members give up their phone (NULL hash), so it can register again.
            models.UniqueConstraint(fields=["phone_hash"], name="member_phone_hash_unique"),
            models.UniqueConstraint(
                fields=["wechat_openid"],
                condition=Q(wechat_openid__isnull=False),
                name="member_openid_unique",
            ),
        ]
        indexes = [
            # Counter search "last four digits" within the clerk's store.
            models.Index(fields=["store", "phone_last4"], name="member_store_last4"),
            # Owner's "last four digits" search across stores.
            models.Index(fields=["phone_last4"], name="member_last4"),
            # Exact name search in the admin and the counter.
            models.Index(fields=["name"], name="member_name"),
            # "New members per day" reports. (No index on birthday: the birthday jobs
            # match month and day, which no B-tree on the date serves.)
            models.Index(fields=["created_at"], name="member_created"),
            # The mini-program's login binds by unionid (wechat/mp): only the members
            # who have one.
            models.Index(
                fields=["wechat_unionid"],
                condition=~Q(wechat_unionid=""),
                name="member_unionid",
            ),
            index_where_set("guide", "member_guide_set"),
            index_where_set("referred_by", "member_referrer_set"),
        ]

    def __str__(self):
        label = self.name or _("(no name)")
        return f"{label} · {self.member_no}"

    @property
    def masked_phone(self) -> str:
        """138 **** 8000 (members.phones.mask_phone)."""
        return mask_phone(self.phone)

    @property
    def display_phone(self) -> str:
        """138 0013 8000, the whole number as people write it (members.phones.format_phone)."""
        return format_phone(self.phone)

    @property
    def address_list(self) -> list[str]:
        return [line.strip() for line in (self.addresses or "").splitlines() if line.strip()]

    def clean(self):
        super().clean()
        if self.birthday and self.birthday > timezone.localdate():
            raise ValidationError({"birthday": _("A birthday cannot be in the future.")})


class PrivacyNotice(models.Model):
    """The privacy notice (隐私政策) members agree to when they join: one row per version.

    Members' consent records name the version, so a published text is never changed:
    the owner publishes a new version instead.
    """

    version = models.CharField(
        _("version"),
        max_length=32,
        unique=True,
        help_text=_("e.g. 2026-11. Each member's consent record names the version they agreed to."),
    )
    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(_("text"), help_text=_("Plain text; blank lines separate paragraphs."))
    published_at = models.DateTimeField(
        _("in force from"),
        null=True,
        blank=True,
        help_text=_("Empty: a draft. New members agree to the newest version in force."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("privacy notice")
        verbose_name_plural = _("privacy notices")
        ordering = ["-published_at", "-id"]

    def __str__(self):
        return f"{self.title} ({self.version})"

    @classmethod
    def current(cls, now=None) -> "PrivacyNotice | None":
        return _published_notice.first(now or timezone.now())

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.body.replace("\r\n", "\n").split("\n\n") if p.strip()]


# The registration page reads it on every visit: written once (config/platform/fixed_sql.py).
_published_notice = FixedRead(
    PrivacyNotice,
    "t0.published_at <= %s",
    order_by="t0.published_at DESC, t0.id DESC",
    limit=1,
)


class OneTimeCode(models.Model):
    """One SMS code sent to a phone (members/otp.py). The rows are also the send log the
    rate limits count, so the limits hold across processes and hosts.

    Only keyed hashes are stored: of the phone, of the sender's IP and of the code.
    Rows older than a day are purged as new codes are sent.
    """

    phone_hash = models.CharField(max_length=64)
    ip_hash = models.CharField(max_length=64, blank=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    # The SMS provider refused it: never delivered, so it cannot be entered.
    failed = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("one-time code")
        verbose_name_plural = _("one-time codes")
        indexes = [
            # Per-phone limits (60 s, 5 an hour) and "the latest code of this phone".
            models.Index(fields=["phone_hash", "created_at"], name="otp_phone_time"),
            # Per-IP limit (20 an hour).
            models.Index(fields=["ip_hash", "created_at"], name="otp_ip_time"),
            # The purge of day-old rows.
            models.Index(fields=["created_at"], name="otp_created"),
        ]

    def __str__(self):
        return f"{self.phone_hash[:8]}… {self.created_at:%Y-%m-%d %H:%M:%S}"


# What staff read for each action code of the audit trail (codes stay stable in the
# database). Other apps add their own codes to this dict (members.audit re-exports it).
ACTION_LABELS = {
    "member.create": _("Member registered"),
    "member.update": _("Profile edited"),
    "member.tags": _("Tags changed"),
    "member.tag_add": _("Tag added in bulk"),
    "member.tag_remove": _("Tag removed in bulk"),
    "member.erase": _("Personal data erased (privacy request)"),
    "member.marketing": _("Marketing messages switched on or off"),
    "staff.create": _("Staff account created"),
    "staff.set_role": _("Role or store changed"),
    "member.served_elsewhere": _("Served at another store"),
}


class AuditEntry(models.Model):
    """Who changed what, when: one row per staff change (old -> new per field).

    Append-only. Contact fields are recorded masked, so the trail does not undo the
    encryption at rest.
    """

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    action = models.CharField(_("action"), max_length=40)
    # A generic pointer kept as text, so every app can audit its own objects
    # without members depending on them.
    object_type = models.CharField(_("object type"), max_length=60)
    object_id = models.CharField(_("object id"), max_length=40)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    store = models.ForeignKey(
        Store, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-id"]
        indexes = [
            # History of one object on its admin page.
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action_label} {self.object_repr}"

    @property
    def action_label(self) -> str:
        return str(ACTION_LABELS.get(self.action, self.action))


class DynamicCodeUse(models.Model):
    """A dynamic member code a purchase used (members.dynamic_code): one use per code.

    The unique code makes two tills that scan one code at once use it once; the row
    says for which purchase, so that purchase's retry is answered again. Kept a day.
    """

    code = models.CharField(_("code"), max_length=18, unique=True)
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    purchase_ref = models.CharField(_("purchase"), max_length=100)
    used_at = models.DateTimeField(_("used at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("used dynamic member code")
        verbose_name_plural = _("used dynamic member codes")

    def __str__(self):
        return f"{self.code} {self.purchase_ref}"
