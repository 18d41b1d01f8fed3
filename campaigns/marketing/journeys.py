"""Automated journeys (issue #22): a campaign of kind journey whose audience, on a day,
is the members for whom its trigger fired on the trigger day D = that day minus the
journey's delay (Shanghai days), within its segment when it has one.

Each trigger is one set-based filter on Member (N is the journey's trigger_days):

- registered: registered on D (not imported);
- first_purchase: first purchase on D;
- no_second_purchase: exactly one purchase, made on D - N;
- inactive: last purchase on D - N (exactly N days without one);
- birthday: birthday on D + N (29 February counts on 28 February in a common year);
- tier_up: an upgrade on D (by a purchase, or set higher by staff);
- points_expiring: a lot with points left whose last day is D + N;
- coupon_expiring: a usable coupon whose last day is D + N;
- member_day: D is the settings' member day: everyone.

A member is reached once per occurrence, the day of the event that fired: the day of
registration, first purchase, upgrade or member day; the day of the first or last
purchase (no second purchase, inactive); the birthday; the last day of the points or
the coupon. CampaignMember is unique per (campaign, member, occurrence) and the offer
and messages are keyed by it (sending.py), so running again, the same day or after
the delay or N was changed, reaches nobody twice for one event.

Registrations, first purchases and upgrades go on all day, after the daily run too:
each run also takes the trigger day before, so those of D's evening are reached the
next morning (the others of that day were reached already and are skipped).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.dates import local_day_bounds, local_midnight
from loyalty.jobs import as_of, birthday_matches
from loyalty.models import Coupon, LoyaltySettings, PointsEntry, TierChange
from members.models import Member

from ..segments.rules import check, members_matching
from .models import Campaign
from .sending import CampaignError, check_campaign, send_to

log = logging.getLogger(__name__)
Trigger = Campaign.Trigger
# Events that keep happening after the day's run: the next run looks at their day again.
ALL_DAY = {Trigger.REGISTERED, Trigger.FIRST_PURCHASE, Trigger.TIER_UP}
NEEDS_N = {Trigger.NO_SECOND_PURCHASE, Trigger.INACTIVE}
DAY = dt.timedelta(days=1)


def on_day(field: str, day: dt.date) -> Q:
    """`field` (an instant) falls on the Shanghai day `day`."""
    start, end = local_day_bounds(day)
    return Q(**{f"{field}__gte": start, f"{field}__lt": end})


def ending_on(field: str, day: dt.date) -> Q:
    """`field`, the first instant no longer valid (the midnight after the last valid
    day, as coupons and points lots keep it), makes `day` the last valid day."""
    return Q(**{f"{field}__gt": local_midnight(day), f"{field}__lte": local_midnight(day + DAY)})


def fired(trigger: str, n: int, day: dt.date) -> tuple[Q, dt.date] | None:
    """The condition on Member for `trigger` firing on the trigger day `day`, and the
    occurrence (the event's day); None: it cannot fire that day."""
    if trigger == Trigger.REGISTERED:
        # An import brings members who joined elsewhere, long ago: not new ones.
        return on_day("created_at", day) & ~Q(source=Member.Source.IMPORT), day
    if trigger == Trigger.FIRST_PURCHASE:
        return on_day("card__first_purchase_at", day), day
    if trigger == Trigger.NO_SECOND_PURCHASE:
        first = day - n * DAY
        return Q(card__purchase_count=1) & on_day("card__first_purchase_at", first), first
    if trigger == Trigger.INACTIVE:
        last = day - n * DAY
        return on_day("card__last_purchase_at", last), last
    if trigger == Trigger.BIRTHDAY:
        birthday = day + n * DAY
        return birthday_matches(birthday), birthday
    if trigger == Trigger.TIER_UP:
        # By the tierchange_time_reason index: the day's changes, then their reasons.
        upgrades = TierChange.objects.filter(on_day("created_at", day)).filter(
            Q(reason=TierChange.Reason.UPGRADE)
            | Q(reason=TierChange.Reason.STAFF, to_tier__level__gt=F("from_tier__level"))
        )
        return Q(pk__in=upgrades.values("member_id")), day
    if trigger == Trigger.POINTS_EXPIRING:
        last = day + n * DAY
        lots = PointsEntry.objects.filter(ending_on("expires_at", last), remaining__gt=0)
        return Q(pk__in=lots.values("member_id")), last
    if trigger == Trigger.COUPON_EXPIRING:
        last = day + n * DAY
        coupons = Coupon.objects.filter(ending_on("valid_until", last), status=Coupon.Status.ISSUED)
        return Q(pk__in=coupons.values("member_id")), last
    if trigger == Trigger.MEMBER_DAY:
        member_day = LoyaltySettings.current().member_day
        return (Q(), day) if member_day and day.day == member_day else None
    raise CampaignError(_("Unknown trigger %(trigger)s.") % {"trigger": trigger})


def audience_rules(campaign: Campaign) -> dict:
    """The rule fixed when the journey was started (journey_start; as a broadcast's, a
    later edit of the segment does not move it); a journey made active without it: its
    segment's rule; else everyone."""
    if campaign.rules:
        return campaign.rules
    return campaign.segment.rules if campaign.segment_id else {"all": []}


def journey_audiences(
    campaign: Campaign, *, day: dt.date, now: dt.datetime
) -> list[tuple[QuerySet[Member], str]]:
    """(members, occurrence) for each trigger day the run of `day` looks at."""
    trigger_day = day - campaign.delay_days * DAY
    days = [trigger_day - DAY, trigger_day] if campaign.trigger in ALL_DAY else [trigger_day]
    base = members_matching(audience_rules(campaign), now=now)
    found = []
    for each in days:
        condition = fired(campaign.trigger, campaign.trigger_days, each)
        if condition is not None:
            where, occurrence = condition
            found.append((base.filter(where), occurrence.isoformat()))
    return found


def journey_check(campaign: Campaign) -> None:
    """A journey that can run: a campaign that can be sent, with a known trigger and N."""
    check_campaign(campaign, list(campaign.variants.all()))
    if campaign.trigger not in Trigger.values:
        raise CampaignError(_("Choose the journey's trigger."))
    if campaign.trigger in NEEDS_N and campaign.trigger_days < 1:
        raise CampaignError(
            _("The trigger %(trigger)s needs N of at least 1 day.")
            % {"trigger": Trigger(campaign.trigger).label}
        )


def journey_start(campaign: Campaign, *, now=None) -> Campaign:
    """Check the journey and make it active: the daily run picks it up from its send_at
    (empty: at once)."""
    journey_check(campaign)
    now = now or timezone.now()
    campaign.kind = Campaign.Kind.JOURNEY
    campaign.rules = check(
        campaign.segment.rules if campaign.segment_id else campaign.rules or {"all": []}
    )
    campaign.status = Campaign.Status.ACTIVE
    campaign.started_at = campaign.started_at or now
    campaign.save(update_fields=["kind", "rules", "status", "started_at"])
    return campaign


def journey_run(campaign: Campaign, *, day: dt.date, now: dt.datetime) -> dict:
    """Reach the members for whom the journey fired (see above); counts per outcome."""
    counts: dict[str, int] = {}
    for members, occurrence in journey_audiences(campaign, day=day, now=now):
        for outcome, n in send_to(campaign, members, occurrence=occurrence, now=now).items():
            counts[outcome] = counts.get(outcome, 0) + n
    return counts


def campaign_journeys(day: dt.date, now=None) -> dict:
    """The daily job: every active journey (whose send_at has come) run for `day`.

    Safe to run twice: a member already reached for an occurrence is skipped. A journey
    that cannot run (its segment's rule became invalid) is logged and left out, the
    others still run.
    """
    at = as_of(day, now)
    journeys = Campaign.objects.filter(
        Q(send_at__isnull=True) | Q(send_at__lte=at),
        kind=Campaign.Kind.JOURNEY,
        status=Campaign.Status.ACTIVE,
    ).select_related("segment")
    totals = {"journeys": 0, "reached": 0, "sent": 0, "refused": 0}
    for campaign in journeys.order_by("pk"):
        try:
            journey_check(campaign)
        except (CampaignError, ValidationError) as exc:
            log.warning("journey %s not run: %s", campaign.pk, exc)
            totals["refused"] += 1
            continue
        counts = journey_run(campaign, day=day, now=at)
        totals["journeys"] += 1
        totals["reached"] += sum(counts.values())
        totals["sent"] += counts.get("sent", 0)
    return totals
