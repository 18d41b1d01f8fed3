"""Scheduled jobs: points expiry, expiry notices, tier review, birthday and monthly
coupons, lifecycle and RFM.

Every job takes the Shanghai day it runs for and works "as of" that day: now, when
the day is today; the day's last instant otherwise (operators re-running a missed
day, and the tests). Each is:
- idempotent: what it grants or sends has a unique key per member and period, and
  what it changes is selected by a condition the change makes false;
- resumable: it works in batches, each its own transaction, so a killed run loses
  at most its current batch and the next run finishes the rest;
- set-based: batches of thousands, never one query per member.
Runs are recorded as JobRun rows (admin: 任务运行记录), failures included; a run whose
process was killed shows as interrupted from the next run on (job_runs.py).
"""

import datetime as dt
import logging
import traceback
from array import array
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from config.platform.bulk import insert_rows, update_rows
from loyalty.benefits.issuing import CouponNotIssued, coupon_issue
from loyalty.dates import add_months, last_valid_day, local_midnight

from . import signals
from .count_cards import count_cards_expire, count_cards_expiring
from .coupons import coupons_expire
from .job_runs import mark_interrupted, this_process
from .models import (
    RFM_HIGH,
    RFM_SEGMENT_OF,
    Card,
    CountCard,
    Coupon,
    GrowthEntry,
    JobRun,
    Lifecycle,
    LoyaltySettings,
    PointsEntry,
    Purchase,
    RfmSegment,
    Tier,
    TierChange,
)

log = logging.getLogger(__name__)
BATCH = 2000
EXPIRE_FIELDS = [
    "member_id", "kind", "delta", "balance_after", "remaining", "debt_delta",
    "idempotency_key", "reason", "rule", "source", "created_at",
]  # fmt: skip
TIER_CHANGE_FIELDS = ["member_id", "from_tier_id", "to_tier_id", "reason", "note", "created_at"]


def as_of(day: dt.date, now: dt.datetime | None = None) -> dt.datetime:
    """The instant a job for `day` acts at: now for today, else the day's last microsecond."""
    now = now or timezone.now()
    if day == timezone.localdate(now):
        return now
    return local_midnight(day + dt.timedelta(days=1)) - dt.timedelta(microseconds=1)


def _lock_cards(ids, fields: tuple[str, ...], queryset=None) -> list[tuple]:
    """The cards' `fields` (plain values, not model instances: a night's batches are
    hundreds of thousands of cards), locked for the transaction, in pk order."""
    queryset = Card.objects.all() if queryset is None else queryset
    cards = queryset.filter(pk__in=ids).order_by("pk").values_list(*fields)
    if connection.features.has_select_for_update:
        cards = cards.select_for_update(of=("self",))
    return list(cards)


# --- points -----------------------------------------------------------------------


def expire_points(day: dt.date, now=None) -> dict:
    """Lots past expires_at lose what is left of them: one expire row per lot."""
    at = as_of(day, now)
    members = lots_total = points_total = 0
    # The members with due lots, read once (one pass over the due-lots index), then
    # handled a batch at a time; each batch reads its lots again under the lock.
    due = PointsEntry.objects.filter(remaining__gt=0, expires_at__lte=at)
    all_ids = sorted(set(due.values_list("member_id", flat=True).iterator(chunk_size=BATCH * 10)))
    for lo in range(0, len(all_ids), BATCH // 4):
        ids = all_ids[lo : lo + BATCH // 4]
        with transaction.atomic():
            balances = dict(_lock_cards(ids, ("pk", "points_balance")))
            lots = list(
                PointsEntry.objects.filter(
                    member_id__in=ids, remaining__gt=0, expires_at__lte=at
                ).order_by("member_id", "expires_at", "id")
            )
            rows = []
            reason = _("Points expired")
            for lot in lots:
                balances[lot.member_id] -= lot.remaining
                # The same key the purchase path uses: a lot expires once, whoever gets
                # there first.
                rows.append((lot.member_id, PointsEntry.Kind.EXPIRE, -lot.remaining,
                             balances[lot.member_id], 0, 0, f"expire:{lot.pk}", reason, "",
                             f"lot:{lot.pk}", at))  # fmt: skip
                points_total += lot.remaining
            insert_rows(PointsEntry, EXPIRE_FIELDS, rows)
            PointsEntry.objects.filter(pk__in=[lot.pk for lot in lots]).update(remaining=0)
            # Only the cards that lost points (a purchase may have expired a lot meanwhile).
            touched = {lot.member_id for lot in lots}
            update_rows(Card, ["points_balance"], [(balances[pk], pk) for pk in touched])
            members += len(touched)
            lots_total += len(lots)
    return {"members": members, "lots": lots_total, "points": points_total}


def notify_expiring_points(day: dt.date, now=None) -> dict:
    """One notice per member and expiry day, for points expiring in the next notice_days.

    The notice's key is (member, expiry day): running daily, a member hears of each
    expiring lot once, not every day until it expires.
    """
    conf = LoyaltySettings.current()
    at = as_of(day, now)
    if not conf.notice_days:
        return {"notices": 0}
    until = local_midnight(timezone.localdate(at) + dt.timedelta(days=conf.notice_days + 1))
    due = (
        PointsEntry.objects.filter(remaining__gt=0, expires_at__gt=at, expires_at__lt=until)
        .values("member_id", "expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("member_id", "expires_at")
    )
    batch, sent = [], 0
    for row in due.iterator(chunk_size=BATCH):
        last_day = last_valid_day(row["expires_at"])
        batch.append((row["member_id"], last_day, row["points"]))
        if len(batch) >= BATCH:
            sent += _send_expiring(batch)
            batch = []
    if batch:
        sent += _send_expiring(batch)
    return {"notices": sent}


def expire_count_cards(day: dt.date, now=None) -> dict:
    """Count cards (次卡) past their date: expired, with their entry (count_cards_expire)."""
    return {"cards": count_cards_expire(as_of(day, now))}


def notify_expiring_count_cards(day: dt.date, now=None) -> dict:
    """One notice per card and last day, for cards with uses left ending within the
    settings' count_card_notice_days (keyed by card and day: told once, not daily)."""
    items = [
        (member_id, card.pk, card.name, card.uses_left, card.last_day())
        for member_id, card in count_cards_expiring(as_of(day, now))
    ]
    for start in range(0, len(items), BATCH):
        signals.count_cards_expiring.send(sender=CountCard, items=items[start : start + BATCH])
    return {"notices": len(items)}


def expire_coupons(day: dt.date, now=None) -> dict:
    """Usable coupons past their last day become expired, with their event."""
    return {"coupons": coupons_expire(now=as_of(day, now))}


def notify_expiring_coupons(day: dt.date, now=None) -> dict:
    """One notice per usable coupon whose last day is within the settings'
    coupon_notice_days (keyed by coupon and last day: told once, not daily).

    Coupons issued that same day are left for the next run: the notice of their issue
    has just told their last day.
    """
    conf = LoyaltySettings.current()
    if not conf.coupon_notice_days:
        return {"notices": 0}
    at = as_of(day, now)
    today = timezone.localdate(at)
    # valid_until is the midnight after the last day: last day <= today + N.
    until = local_midnight(today + dt.timedelta(days=conf.coupon_notice_days + 1))
    due = (
        Coupon.objects.filter(
            status=Coupon.Status.ISSUED,
            valid_until__gt=at,
            valid_until__lte=until,
            issued_at__lt=local_midnight(today),
        )
        .order_by("valid_until", "pk")
        .values_list("member_id", "pk", "template__name", "valid_until")
    )
    items, sent = [], 0
    for member_id, pk, name, until_at in due.iterator(chunk_size=BATCH):
        last_day = last_valid_day(until_at)
        items.append((member_id, pk, name, last_day))
        if len(items) >= BATCH:
            signals.coupons_expiring.send(sender=Coupon, items=items)
            sent, items = sent + len(items), []
    if items:
        signals.coupons_expiring.send(sender=Coupon, items=items)
    return {"notices": sent + len(items)}


def _send_expiring(batch) -> int:
    merged = defaultdict(int)
    for member_id, last_day, points in batch:
        merged[(member_id, last_day)] += points
    items = [(m, d, p) for (m, d), p in merged.items()]
    signals.points_expiring.send(sender=PointsEntry, items=items)
    return len(items)


# --- tiers --------------------------------------------------------------------------


def _metrics(ids, since: dt.datetime, conf: LoyaltySettings) -> dict[int, Decimal]:
    """The tier basis per member over [since, now]: spend, purchases, or growth value."""
    basis = conf.tier_basis
    if basis == LoyaltySettings.TierBasis.GROWTH:
        rows = (
            GrowthEntry.objects.filter(member_id__in=ids, created_at__gte=since)
            .values("member_id")
            .annotate(v=Sum("delta"))
        )
    elif basis == LoyaltySettings.TierBasis.VISITS:
        rows = (
            Purchase.objects.filter(member_id__in=ids, occurred_at__gte=since)
            .exclude(status=Purchase.Status.REFUNDED)
            .values("member_id")
            .annotate(v=Count("id"))
        )
    else:
        rows = (
            Purchase.objects.filter(member_id__in=ids, occurred_at__gte=since)
            .values("member_id")
            .annotate(v=Sum(F("cash_paid") - F("refunded_amount")))
        )
    return {r["member_id"]: Decimal(r["v"] or 0) for r in rows}


def _tier_below(tier: Tier, tiers: list[Tier]) -> Tier | None:
    lower = [t for t in tiers if t.level < tier.level]
    return lower[-1] if lower else None


def _inactive_before(at, conf) -> dt.datetime | None:
    if not conf.downgrade_inactive_months:
        return None
    return local_midnight(add_months(timezone.localdate(at), -conf.downgrade_inactive_months))


def review_tiers(day: dt.date, now=None) -> dict:
    """Down one tier for inactivity, or at the 保级 review below the keep threshold.

    Inactivity: no purchase (and no tier change) for downgrade_inactive_months.
    Review: on the card's tier_review_on day, the basis over the last
    tier_review_months must reach the tier's keep threshold, else down one tier;
    kept, the next review is tier_review_months later. Upgrades stay immediate in
    the purchase service. A downgrade resets both clocks (tier_since), so a run for
    the same day twice changes nothing the second time.
    """
    conf = LoyaltySettings.current()
    at = as_of(day, now)
    today = timezone.localdate(at)
    tiers = list(Tier.objects.order_by("level"))
    if len(tiers) < 2:
        return {"downgraded": 0, "kept": 0}
    lowest, by_id = tiers[0], {tier.pk: tier for tier in tiers}
    _fill_review_days(conf, lowest)
    counts = {"downgraded_inactive": 0, "downgraded_review": 0, "kept": 0}
    cutoff = _inactive_before(at, conf)
    if cutoff is not None:
        stale = (
            Card.objects.filter(tier__level__gt=lowest.level)
            .filter(Q(last_purchase_at__lt=cutoff) | Q(last_purchase_at__isnull=True))
            .filter(tier_since__lt=cutoff)
        )
        counts["downgraded_inactive"] = _in_batches(
            stale, lambda cards: _downgrade(cards, tiers, at, _("No purchase for a while"))
        )
    if conf.tier_review_months:
        due = Card.objects.filter(tier__level__gt=lowest.level, tier_review_on__lte=today)

        def review(cards):
            since = local_midnight(add_months(today, -conf.tier_review_months))
            metrics = _metrics([pk for pk, _tier, _day in cards], since, conf)
            below, kept = [], []
            for pk, tier_id, day in cards:
                if metrics.get(pk, Decimal(0)) < by_id[tier_id].keep_threshold:
                    below.append((pk, tier_id, day))
                    continue
                day = add_months(day, conf.tier_review_months)
                while day <= today:  # a review missed for a long time
                    day = add_months(day, conf.tier_review_months)
                kept.append((day, pk))
            update_rows(Card, ["tier_review_on"], kept)
            counts["kept"] += len(kept)
            return _downgrade(below, tiers, at, _("Below the keep threshold at review"))

        counts["downgraded_review"] = _in_batches(due, review)
    counts["warned"] = _warn_downgrades(at, conf, tiers, cutoff)
    return counts


def _fill_review_days(conf, lowest: Tier) -> None:
    """Cards that reached their tier outside the services (seed, import) get a review day."""
    if not conf.tier_review_months:
        return
    missing = Card.objects.filter(tier__level__gt=lowest.level, tier_review_on__isnull=True)
    rows = missing.order_by().values_list("pk", "tier_since").iterator(chunk_size=BATCH * 5)
    months, days = conf.tier_review_months, {}
    pks, ordinals = array("q"), array("l")  # read all first: SQLite cannot update a
    for pk, since in rows:  # table safely while a cursor still reads it
        local = timezone.localdate(since or timezone.now())
        if local not in days:  # cards reach tiers in bulk on few days: compute each once
            days[local] = add_months(local, months).toordinal()
        pks.append(pk)
        ordinals.append(days[local])
    for lo in range(0, len(pks), BATCH * 5):
        batch = [
            (dt.date.fromordinal(day), pk)
            for day, pk in zip(ordinals[lo : lo + BATCH * 5], pks[lo : lo + BATCH * 5], strict=True)
        ]
        # Still without a review day: a purchase may have given it one meanwhile.
        if connection.vendor == "postgresql":
            # One UPDATE per day and chunk: PostgreSQL plans `pk IN (...)` on the key.
            by_day: dict[dt.date, list[int]] = defaultdict(list)
            for day, pk in batch:
                by_day[day].append(pk)
            for day, chunk in by_day.items():
                Card.objects.filter(pk__in=chunk, tier_review_on__isnull=True).update(
                    tier_review_on=day
                )
        else:
            # SQLite chose the review-day index for that (600k rows scanned per batch):
            # pk-equality updates by executemany instead.
            update_rows(Card, ["tier_review_on"], batch, also="tier_review_on IS NULL")


def _ids_of(queryset) -> list[int]:
    """The primary keys of `queryset`, sorted, read in one pass (ints only)."""
    return sorted(array("q", queryset.order_by().values_list("pk", flat=True).iterator(10_000)))


def _in_batches(queryset, work: Callable[[list[tuple]], int]) -> int:
    """Lock and handle the cards of `queryset` a batch at a time, in primary key order.

    The ids are read once, then each batch is locked with the condition again: a card
    that another worker changed meanwhile (and no longer matches) is left alone. One
    pass over the table, whatever the index the database picks for the condition
    (paging with ORDER BY pk LIMIT made it sort every match again for every batch).
    """
    ids, done = _ids_of(queryset), 0
    for lo in range(0, len(ids), BATCH):
        with transaction.atomic():
            cards = _lock_cards(ids[lo : lo + BATCH], ("pk", "tier", "tier_review_on"), queryset)
            done += work(cards)
    return done


def _downgrade(cards, tiers, at, note) -> int:
    """Down one tier each: the cards, their TierChange rows and the notices, in bulk.

    cards: (pk, tier id, review day) rows. The same rows the purchase service's
    _change_tier writes, set-based: a first run that downgrades a hundred thousand
    members stays within seconds.
    """
    conf = LoyaltySettings.current()
    by_id = {tier.pk: tier for tier in tiers}
    moved: dict[tuple[int, int], list[int]] = defaultdict(list)
    for pk, tier_id, _day in cards:
        lower = _tier_below(by_id[tier_id], tiers)
        if lower is not None:
            moved[tier_id, lower.pk].append(pk)
    changes, items = [], []
    # Every card going from one tier to the next lower one gets the same values: one
    # UPDATE per pair of tiers, not a bulk_update (its CASE per row is quadratic).
    for (from_id, to_id), pks in moved.items():
        lower = by_id[to_id]
        review_on = (
            add_months(timezone.localdate(at), conf.tier_review_months)
            if conf.tier_review_months and lower.level > tiers[0].level
            else None
        )
        Card.objects.filter(pk__in=pks).update(tier=lower, tier_since=at, tier_review_on=review_on)
        reason = TierChange.Reason.DOWNGRADE
        changes += [(pk, from_id, to_id, reason, note, at) for pk in pks]
        items += [(pk, from_id, to_id) for pk in pks]
    # executemany: bulk_create's per-value compile is slow at a first night's scale.
    insert_rows(TierChange, TIER_CHANGE_FIELDS, changes)
    if items:
        transaction.on_commit(
            lambda: signals.tiers_downgraded.send(sender=Card, items=items, note=note)
        )
    return len(changes)


def _warn_downgrades(at, conf, tiers, cutoff) -> int:
    """Tell members whose downgrade will come within downgrade_notice_days, once per date."""
    if not conf.downgrade_notice_days:
        return 0
    lowest = tiers[0]
    today = timezone.localdate(at)
    horizon = today + dt.timedelta(days=conf.downgrade_notice_days)
    items = []
    if cutoff is not None:
        # A card whose clock started on day B goes down on add_months(B, M) + 1 day (the
        # first day review_tiers' cutoff passes B): warn when that day is near.
        soon = local_midnight(add_months(horizon, -conf.downgrade_inactive_months))
        rows = (
            Card.objects.filter(tier__level__gt=lowest.level)
            .filter(Q(last_purchase_at__lt=soon) | Q(last_purchase_at__isnull=True))
            .filter(tier_since__lt=soon)
            .values_list("pk", "last_purchase_at", "tier_since", "tier_id")
        )
        for pk, last, since, tier_id in rows.iterator(chunk_size=BATCH):
            base = max(x for x in (last, since) if x is not None)
            when = add_months(timezone.localdate(base), conf.downgrade_inactive_months)
            when += dt.timedelta(days=1)
            if today < when <= horizon:
                items.append((pk, tier_id, when, "inactive"))
    if conf.tier_review_months:
        due = Card.objects.filter(
            tier__level__gt=lowest.level, tier_review_on__gt=today, tier_review_on__lte=horizon
        ).select_related("tier")
        since = local_midnight(add_months(today, -conf.tier_review_months))
        ids = _ids_of(due)
        for lo in range(0, len(ids), BATCH):
            cards = list(due.filter(pk__in=ids[lo : lo + BATCH]))
            metrics = _metrics([c.pk for c in cards], since, conf)
            items += [
                (c.pk, c.tier_id, c.tier_review_on, "review")
                for c in cards
                if metrics.get(c.pk, Decimal(0)) < c.tier.keep_threshold
            ]
    for lo in range(0, len(items), BATCH):
        signals.tier_downgrade_warning.send(sender=Card, items=items[lo : lo + BATCH])
    return len(items)


# --- birthday and monthly coupons ------------------------------------------------


def birthday_matches(target: dt.date) -> Q:
    """Members whose birthday falls on `target`: 29 February counts on 28 February
    in a year without it (the birthday coupon here, campaigns' birthday journeys)."""
    q = Q(birthday__month=target.month, birthday__day=target.day)
    leap = (target.year % 4 == 0 and target.year % 100 != 0) or target.year % 400 == 0
    if target.month == 2 and target.day == 28 and not leap:
        q |= Q(birthday__month=2, birthday__day=29)
    return q


def birthday_benefits(day: dt.date, now=None) -> dict:
    """The tier's birthday coupon, birthday_days_before the birthday, once a year.

    It also looks two days further back, so a day the job did not run is caught up
    (the key per member and birthday year keeps it to one coupon).
    """
    from members.models import Member

    conf = LoyaltySettings.current()
    at = as_of(day, now)
    today = timezone.localdate(at)
    tiers = {t.pk: t for t in Tier.objects.filter(birthday_coupon__isnull=False)}
    counts = {"issued": 0, "refused": 0}
    if not tiers:
        return counts
    for back in (2, 1, 0):
        target = today + dt.timedelta(days=conf.birthday_days_before - back)
        members = (
            Member.objects.filter(birthday_matches(target), status=Member.Status.ACTIVE)
            .filter(card__tier__in=tiers.keys())
            .select_related("card")
        )
        for member in members.iterator(chunk_size=BATCH):
            tier = tiers[member.card.tier_id]
            try:
                _coupon, created = coupon_issue(
                    template=tier.birthday_coupon,
                    member=member,
                    source=Coupon.Source.BIRTHDAY,
                    key=f"birthday:{target.year}:{member.pk}",
                    apply_limits=False,
                    now=at,
                )
            except CouponNotIssued:
                counts["refused"] += 1
                continue
            counts["issued"] += int(created)
    return counts


def monthly_tier_coupons(day: dt.date, now=None) -> dict:
    """Each tier's monthly coupons for the month of `day` (scheduled on the 1st).

    Keys per member, month and copy: running again in the same month (a missed 1st,
    a second qcluster) issues only what is missing.
    """
    at = as_of(day, now)
    month = timezone.localdate(at).strftime("%Y-%m")
    counts = {"issued": 0, "refused": 0}
    for tier in Tier.objects.filter(monthly_coupon__isnull=False, monthly_coupon_count__gt=0):
        cards = Card.objects.filter(tier=tier, member__status="active").select_related("member")
        for card in cards.iterator(chunk_size=BATCH):
            for copy in range(1, tier.monthly_coupon_count + 1):
                try:
                    _coupon, created = coupon_issue(
                        template=tier.monthly_coupon,
                        member=card.member,
                        source=Coupon.Source.MONTHLY,
                        key=f"monthly:{month}:{card.pk}:{copy}",
                        apply_limits=False,
                        now=at,
                    )
                except CouponNotIssued:
                    counts["refused"] += 1
                    continue
                counts["issued"] += int(created)
    return counts


# --- lifecycle and RFM ---------------------------------------------------------------


def lifecycle_and_rfm(day: dt.date, now=None) -> dict:
    """Lifecycle stage, RFM scores and RFM segment on every card, in set-based UPDATEs.

    A member's last activity is their last purchase or, when the settings count visits
    (lifecycle_counts_visits), their last visit of the member centre or check-in if
    later. Stages, first match: new (registered within lifecycle_new_days, fewer than
    2 purchases), active (activity within lifecycle_active_days), prospect (never
    bought), dormant (activity within lifecycle_dormant_days), churned.

    RFM: every member who ever bought is scored 1-5 on each measure by quintile of
    rank (R by last purchase, F by number of purchases, M by amount spent; equal
    values share a score), and put in one of the eight segments (models/stages.py);
    members who never bought score 0 and have no segment.
    """
    conf = LoyaltySettings.current()
    at = as_of(day, now)
    new_since = at - dt.timedelta(days=conf.lifecycle_new_days)
    active_since = at - dt.timedelta(days=conf.lifecycle_active_days)
    dormant_since = at - dt.timedelta(days=conf.lifecycle_dormant_days)
    activity = "last_purchase_at"
    if conf.lifecycle_counts_visits:
        activity = """(CASE WHEN last_seen_at IS NOT NULL AND
            (last_purchase_at IS NULL OR last_seen_at > last_purchase_at)
            THEN last_seen_at ELSE last_purchase_at END)"""
    stage = f"""
        CASE
          WHEN (SELECT m.created_at FROM members_member m WHERE m.id = loyalty_card.member_id)
               >= %s AND purchase_count < 2 THEN '{Lifecycle.NEW}'
          WHEN {activity} >= %s THEN '{Lifecycle.ACTIVE}'
          WHEN last_purchase_at IS NULL THEN '{Lifecycle.PROSPECT}'
          WHEN {activity} >= %s THEN '{Lifecycle.DORMANT}'
          ELSE '{Lifecycle.CHURNED}'
        END"""
    segment = " ".join(
        f"WHEN s.r {'>=' if r else '<'} {RFM_HIGH} AND s.f {'>=' if f else '<'} {RFM_HIGH} "
        f"AND s.m {'>=' if m else '<'} {RFM_HIGH} THEN '{name.value}'"
        for (r, f, m), name in RFM_SEGMENT_OF.items()
    )
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        params = [adapt(new_since), adapt(active_since), adapt(dormant_since)]
        cursor.execute(
            f"UPDATE loyalty_card SET lifecycle = {stage} WHERE lifecycle <> {stage}",  # noqa: S608
            params + params,
        )
        staged = cursor.rowcount
        cursor.execute(
            f"""
            UPDATE loyalty_card SET rfm_r = s.r, rfm_f = s.f, rfm_m = s.m,
                   rfm_segment = CASE {segment} END
            FROM (
                SELECT member_id,
                  1 + (RANK() OVER (ORDER BY last_purchase_at) - 1) * 5 / COUNT(*) OVER () AS r,
                  1 + (RANK() OVER (ORDER BY purchase_count) - 1) * 5 / COUNT(*) OVER () AS f,
                  1 + (RANK() OVER (ORDER BY total_spent) - 1) * 5 / COUNT(*) OVER () AS m
                FROM loyalty_card WHERE last_purchase_at IS NOT NULL
            ) AS s
            WHERE loyalty_card.member_id = s.member_id
              AND (rfm_r <> s.r OR rfm_f <> s.f OR rfm_m <> s.m
                   OR rfm_segment <> CASE {segment} END)
            """  # noqa: S608 - the CASE is made of constants
        )
        scored = cursor.rowcount
        cursor.execute(
            "UPDATE loyalty_card SET rfm_r = 0, rfm_f = 0, rfm_m = 0, rfm_segment = '' "
            "WHERE last_purchase_at IS NULL "
            "AND (rfm_r <> 0 OR rfm_f <> 0 OR rfm_m <> 0 OR rfm_segment <> '')"
        )
        unscored = cursor.rowcount
    return {"stage_changed": staged, "scored": scored, "unscored": unscored}


def high_value(queryset=None):
    """Top RFM: 4 or 5 on all three scores (重要价值客户)."""
    queryset = queryset if queryset is not None else Card.objects.all()
    return queryset.filter(rfm_segment=RfmSegment.CHAMPIONS)


# --- the registry and the runner ---------------------------------------------------

# Filled from the AppConfig.ready() of each app (loyalty's jobs, then campaigns' and
# wechat's), never on import: name -> (func, cron, about).
JOBS: dict[str, tuple[Callable, str, str]] = {}
# Jobs that run every minute: a run that found nothing to do leaves no JobRun row.
QUIET_JOBS: set[str] = set()


def register(name: str, func: Callable, cron: str, about: str, quiet: bool = False) -> None:
    """A job: func(day, now=None) -> counts; cron in Asia/Shanghai; one line about it."""
    JOBS[name] = (func, cron, about)
    if quiet:
        QUIET_JOBS.add(name)


class JobFailed(Exception):
    pass


def run_job(name: str, day: dt.date | None = None, now=None) -> JobRun:
    """Run one job for `day` (default today, Shanghai) and record it as a JobRun.

    A failure is recorded (status failed, the traceback) and raised as JobFailed,
    so a scheduled task shows as failed in django-q too. Runs of killed processes are
    marked interrupted first.
    """
    func = JOBS[name][0]
    day = day or timezone.localdate()
    mark_interrupted()
    run = JobRun.objects.create(job=name, run_date=day, **this_process())
    try:
        counts = func(day, now=now)
    except Exception as exc:
        log.exception("job %s for %s failed", name, day)
        JobRun.objects.filter(pk=run.pk).update(
            status=JobRun.Status.FAILED,
            error="".join(traceback.format_exception(exc))[-10_000:],
            finished_at=timezone.now(),
        )
        raise JobFailed(f"{name} for {day} failed: {exc}") from exc
    if name in QUIET_JOBS and not any(counts.values()):
        JobRun.objects.filter(pk=run.pk).delete()
        run.status, run.counts, run.finished_at = JobRun.Status.OK, counts, timezone.now()
        return run
    JobRun.objects.filter(pk=run.pk).update(  # error: a hand run long past the timeout
        status=JobRun.Status.OK, counts=counts, finished_at=timezone.now(), error=""
    )
    run.refresh_from_db()
    log.info("job %s for %s: %s (%.1fs)", name, day, counts, run.seconds or 0)
    return run


def scheduled(name: str, scheduled_for: str | None = None) -> dict:
    """The django-q2 entry point: the day is the schedule's intended run time, so a
    task that starts late (a busy cluster) still works for its own day."""
    day = None
    if scheduled_for:
        day = timezone.localdate(dt.datetime.fromisoformat(scheduled_for))
    return run_job(name, day).counts
