"""The ledgers: points (PointsEntry), growth value (GrowthEntry) and tier history
(TierChange), money-like state that must never drift.

Every change goes through the services of loyalty/ledger.py, tiers.py and purchases.py,
in a transaction that locks the member's Card and appends ledger rows. PointsEntry rows
are never updated, except `remaining` on earn-type rows (lots), which spending and expiry
consume oldest first.
Invariant (check_ledger): card.points_balance == SUM(delta) == SUM(remaining), >= 0.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, index_where_set

from .core import Purchase, Tier


class PointsEntry(models.Model):
    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        REDEEM = "redeem", _("Redeemed")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted by staff")
        REFUND = "refund", _("Refund")
        IMPORT = "import", _("Imported")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="points_entries",
        verbose_name=_("member"),
        db_index=False,  # points_member_time starts with it
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    delta = models.BigIntegerField(_("points"))
    balance_after = models.BigIntegerField(_("balance after"))
    # Lots: positive rows carry what is left of them and when that expires.
    remaining = models.BigIntegerField(_("remaining"), default=0)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    # Positive: a refund's clawback the balance could not cover; negative: repaid.
    debt_delta = models.BigIntegerField(_("points owed change"), default=0)
    idempotency_key = models.CharField(max_length=120, unique=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    rule = models.CharField(_("rule applied"), max_length=255, blank=True)
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="points_entries",
        db_index=False,  # points_purchase_set: only the rows that have one
    )
    # Another object this entry is for (a coupon, a reward, a check-in), as text so
    # apps above loyalty can point here without loyalty depending on them.
    source = models.CharField(_("source"), max_length=80, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        db_index=False,  # points_actor_set: only the rows that have one
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points ledger")
        permissions = [("adjust_points", _("Can adjust points manually"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0), name="points_lot_remaining_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="points_balance_after_not_negative"
            ),
        ]
        indexes = [
            # Spending: a member's open lots, oldest expiry first.
            models.Index(
                fields=["member", "expires_at", "id"],
                condition=Q(remaining__gt=0),
                name="points_open_lots",
            ),
            # Expiry job: open lots past their date, across members.
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="points_due_lots"
            ),
            # History on the 360 page, the daily cap.
            models.Index(fields=["member", "-created_at"], name="points_member_time"),
            index_where_set("purchase", "points_purchase_set"),
            index_where_set("actor", "points_actor_set"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.delta:+d}"


class GrowthEntry(models.Model):
    """成长值 ledger: purchases (and actions) add growth; the growth tier basis reads it."""

    member = models.ForeignKey(  # growth_member_time starts with it: no index of its own
        Member, on_delete=models.PROTECT, related_name="growth_entries", db_index=False
    )
    delta = models.BigIntegerField(_("growth value"))
    balance_after = models.BigIntegerField(_("balance after"))
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # growth_purchase_set: only the rows that have one
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("growth entry")
        verbose_name_plural = _("growth ledger")
        indexes = [
            models.Index(fields=["member", "-created_at"], name="growth_member_time"),
            index_where_set("purchase", "growth_purchase_set"),
        ]

    def __str__(self):
        return f"{self.delta:+d}"


class TierChange(models.Model):
    class Reason(models.TextChoices):
        REGISTERED = "registered", _("Registered")
        UPGRADE = "upgrade", _("Upgrade")
        DOWNGRADE = "downgrade", _("Downgrade")
        STAFF = "staff", _("Set by staff")
        IMPORT = "import", _("Imported")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="tier_changes",
        verbose_name=_("member"),
        db_index=False,  # tierchange_member_time starts with it
    )
    from_tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from"),
        db_index=False,  # tierchange_from_set: only the rows that have one
    )
    to_tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("to"),
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # tierchange_purchase_set: only the rows that have one
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        db_index=False,  # tierchange_actor_set: only the rows that have one
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        indexes = [
            models.Index(fields=["member", "-created_at"], name="tierchange_member_time"),
            # Dashboard: upgrades / downgrades per period.
            models.Index(fields=["created_at", "reason"], name="tierchange_time_reason"),
            index_where_set("from_tier", "tierchange_from_set"),
            index_where_set("purchase", "tierchange_purchase_set"),
            index_where_set("actor", "tierchange_actor_set"),
        ]

    def __str__(self):
        return f"{self.from_tier or '-'} → {self.to_tier or '-'}"
