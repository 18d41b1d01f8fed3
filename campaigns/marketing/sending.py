"""Sending a campaign: its audience in batches, each member assigned once (a variant
or the holdout, from a hash of campaign and member: campaigns/marketing/assign.py),
their offer given once (keyed), their messages written to the outbox once (one per
member, channel and occurrence), the rules obeyed: marketing consent, the weekly cap,
quiet hours. The outbox's send_messages job delivers. A crash mid-way is resumed by
running it again: members already reached are skipped, nothing is given or sent twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from string import Formatter

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from config.platform.bulk import insert_rows
from loyalty.benefits.issuing import CouponNotIssued, coupon_issue
from loyalty.dates import last_valid_day
from loyalty.ledger import points_award
from loyalty.models import Coupon
from members.models import Member

from .. import outbox
from ..channels import CHANNELS
from ..models import Message
from ..segments.rules import check, members_matching
from .assign import assign
from .models import Campaign, CampaignMember, MarketingSettings, Variant

log = logging.getLogger(__name__)
BATCH = 1000
PLACEHOLDERS = {"name", "tier", "points", "coupon", "expires"}
WECHAT_FIELD_MAX = 20
# The outbox's columns, and whom of the campaign each message reached.
MESSAGE_FIELDS = [*outbox.MESSAGE_FIELDS, "campaign_member_id"]


class CampaignError(Exception):
    """A campaign that cannot be sent as it is; the message says why."""


def check_message(text: str, *, field: str = "message") -> None:
    """Only the known placeholders, well formed."""
    try:
        names = {name for _lit, name, _spec, _conv in Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise CampaignError(_("The %(field)s is not well formed: %(error)s")
                            % {"field": field, "error": exc}) from None  # fmt: skip
    unknown = names - PLACEHOLDERS
    if unknown:
        raise CampaignError(
            _("Unknown placeholder {%(name)s} in the %(field)s; use %(known)s.")
            % {"name": sorted(unknown)[0], "field": field,
               "known": " ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS))}
        )  # fmt: skip


def check_campaign(campaign: Campaign, variants: list[Variant]) -> None:
    if not 1 <= len(variants) <= 4:
        raise CampaignError(_("A campaign has 1 to 4 variants."))
    if not campaign.channels or set(campaign.channels) - {"inbox", "wechat", "sms"}:
        raise CampaignError(_("Choose channels among inbox, wechat and sms."))
    check_message(campaign.message)
    for variant in variants:
        check_message(
            variant.message, field=_("message of variant %(name)s") % {"name": variant.name}
        )
    if "wechat" in campaign.channels and len(campaign.title) > WECHAT_FIELD_MAX:
        raise CampaignError(
            _("WeChat shows at most %(n)d characters in a template field: the title has %(len)d.")
            % {"n": WECHAT_FIELD_MAX, "len": len(campaign.title)}
        )
    check(campaign.segment.rules if campaign.segment_id else campaign.rules or {"all": []})


def render(text: str, values: dict) -> str:
    return text.format(**{name: values.get(name, "") for name in PLACEHOLDERS})


# --- quiet hours and the cap ------------------------------------------------------------


def next_allowed(now: dt.datetime, conf: MarketingSettings) -> dt.datetime:
    """`now`, or the end of the quiet hours (Shanghai) when it falls in them."""
    local = timezone.localtime(now, timezone.get_default_timezone())
    start, end = conf.quiet_from, conf.quiet_until
    if start == end:
        return now
    hour = local.hour
    quiet = (start <= hour or hour < end) if start > end else (start <= hour < end)
    if not quiet:
        return now
    day = local.date() if hour < end else local.date() + dt.timedelta(days=1)
    opens = dt.datetime.combine(day, dt.time(end), tzinfo=local.tzinfo)
    return opens


def withdrew(member: Member) -> bool:
    """Said no to marketing (not merely never asked)."""
    return not member.marketing_consent and member.marketing_consent_at is not None


# --- sending ------------------------------------------------------------------------


def campaign_start(campaign: Campaign, *, now=None) -> Campaign:
    """Fix the audience's rule and schedule the first send (now, or at send_at)."""
    variants = list(campaign.variants.all())
    check_campaign(campaign, variants)
    now = now or timezone.now()
    if campaign.segment_id:
        campaign.rules = check(campaign.segment.rules)
    else:
        campaign.rules = check(campaign.rules or {"all": []})
    campaign.status = Campaign.Status.SCHEDULED
    campaign.send_at = campaign.send_at or now
    campaign.save(update_fields=["rules", "status", "send_at"])
    return campaign


def campaigns_due(now=None) -> list[int]:
    now = now or timezone.now()
    return list(
        Campaign.objects.filter(kind=Campaign.Kind.BROADCAST)
        .filter(
            Q(status=Campaign.Status.SCHEDULED, send_at__lte=now)
            | Q(status=Campaign.Status.SENDING)
        )
        .values_list("pk", flat=True)
    )


def occurrence_of(campaign: Campaign) -> str:
    """A repeating broadcast's round is the Shanghai day it was due; a one-off has one."""
    if not campaign.repeat_days:
        return ""
    return timezone.localdate(campaign.send_at, timezone.get_default_timezone()).isoformat()


def send_due_campaigns(day=None, now=None) -> dict:
    """The every-minute job: each broadcast whose time has come, sent."""
    reached = 0
    for pk in campaigns_due(now):
        reached += sum(campaign_send(pk, now=now).values())
    return {"reached": reached}


def campaign_send(campaign_id: int, *, now=None) -> dict:
    """Send what is due of one broadcast. Running it twice sends nothing twice."""
    now = now or timezone.now()
    claimed = Campaign.objects.filter(
        Q(status=Campaign.Status.SCHEDULED, send_at__lte=now) | Q(status=Campaign.Status.SENDING),
        pk=campaign_id,
    ).update(status=Campaign.Status.SENDING, started_at=now)
    if not claimed:
        return {"reached": 0}
    campaign = Campaign.objects.select_related("segment").get(pk=campaign_id)
    occurrence = occurrence_of(campaign)
    members = members_matching(campaign.rules or {"all": []}, now=now)
    counts = send_to(campaign, members, occurrence=occurrence, now=now)
    done = {"finished_at": timezone.now()}
    if campaign.repeat_days:
        done.update(
            status=Campaign.Status.SCHEDULED,
            send_at=campaign.send_at + dt.timedelta(days=campaign.repeat_days),
        )
    else:
        done["status"] = Campaign.Status.SENT
    Campaign.objects.filter(pk=campaign.pk).update(**done)
    return counts


def send_to(campaign: Campaign, members, *, occurrence: str, now) -> dict:
    """Reach `members` (a queryset) for one occurrence, in keyset batches."""
    variants = list(campaign.variants.select_related("coupon_template").order_by("name"))
    conf = MarketingSettings.current()
    counts: dict[str, int] = {}
    members = members.select_related("card__tier").order_by("pk")
    last = 0
    while batch := list(members.filter(pk__gt=last)[:BATCH]):
        last = batch[-1].pk
        for outcome, n in reach_batch(campaign, variants, batch, occurrence, conf, now).items():
            counts[outcome] = counts.get(outcome, 0) + n
    return counts


def reach_batch(campaign, variants, batch, occurrence, conf, now) -> dict:
    ids = [m.pk for m in batch]
    done = set(
        CampaignMember.objects.filter(
            campaign=campaign, occurrence=occurrence, member_id__in=ids
        ).exclude(outcome=CampaignMember.Outcome.PENDING)
        .values_list("member_id", flat=True)
    )  # fmt: skip
    todo = [m for m in batch if m.pk not in done]
    if not todo:
        return {}
    by_name = {v.pk: v for v in variants}
    CampaignMember.objects.bulk_create(
        [
            CampaignMember(
                campaign=campaign,
                member_id=m.pk,
                occurrence=occurrence,
                variant_id=getattr(assign(campaign, variants, m.pk), "pk", None),
                assigned_at=now,
            )
            for m in todo
        ],
        ignore_conflicts=True,
    )
    rows = {
        r.member_id: r
        for r in CampaignMember.objects.filter(
            campaign=campaign, occurrence=occurrence, member_id__in=[m.pk for m in todo]
        )
    }
    recent = recent_counts([m.pk for m in todo], campaign, now) if conf.weekly_cap else {}
    outcomes: dict[str, list[int]] = {}
    messages: list[tuple] = []
    for member in todo:
        row = rows[member.pk]
        variant = by_name.get(row.variant_id)
        if variant is None:
            outcome = CampaignMember.Outcome.HOLDOUT
        elif withdrew(member):
            outcome = CampaignMember.Outcome.NO_CONSENT
        elif conf.weekly_cap and recent.get(member.pk, 0) >= conf.weekly_cap:
            outcome = CampaignMember.Outcome.CAPPED
        else:
            try:
                outcome = deliver(campaign, variant, member, row, occurrence, conf, now, messages)
            except IntegrityError:  # a second sender of this campaign keyed it first
                outcome = CampaignMember.Outcome.SENT
        outcomes.setdefault(outcome, []).append(row.pk)
    # The batch's messages in one statement (executemany), keyed: a batch done again
    # after a crash writes none twice.
    insert_rows(Message, MESSAGE_FIELDS, messages, ignore_conflicts=True)
    for outcome, pks in outcomes.items():
        sent_at = now if outcome == CampaignMember.Outcome.SENT else None
        CampaignMember.objects.filter(pk__in=pks).update(outcome=outcome, sent_at=sent_at)
    return {outcome: len(pks) for outcome, pks in outcomes.items()}


def recent_counts(member_ids: list[int], campaign: Campaign, now) -> dict[int, int]:
    """Marketing messages (campaigns reached, other than this one) in the last 7 days."""
    since = now - dt.timedelta(days=7)
    rows = (
        CampaignMember.objects.filter(
            member_id__in=member_ids, sent_at__gte=since, outcome=CampaignMember.Outcome.SENT
        )
        .exclude(campaign=campaign)
        .values_list("member_id")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def channels_for(campaign: Campaign, member: Member) -> list[str]:
    """The campaign's channels that can reach the member (the sender checks again)."""
    names = []
    for name in campaign.channels:
        if name == "wechat" and not member.wechat_openid:
            continue
        if name == "sms" and not (member.marketing_consent and member.phone):
            continue
        if name != "inbox" and name not in CHANNELS:
            continue
        names.append(name)
    return names


def deliver(campaign, variant, member, row, occurrence, conf, now, messages: list) -> str:
    """The member's offer (given now, once: keyed) and their messages (added to
    `messages`, one per channel, written with the batch)."""
    channels = channels_for(campaign, member)
    if not channels:
        return CampaignMember.Outcome.NO_CHANNEL
    key = f"campaign:{campaign.pk}:{occurrence}:{member.pk}"
    if variant.coupon_template_id or variant.points:
        with transaction.atomic():
            values = offer(campaign, variant, member, key, now)
    else:
        values = placeholder_values(member)
    text = render(variant.message or campaign.message, values)
    title = render(campaign.title, values)[:100]
    at = next_allowed(now, conf)
    now_inbox = at == now
    data = {"campaign": campaign.pk, "variant": variant.name}
    for channel in channels:
        inbox = channel == "inbox" and now_inbox
        messages.append((
            member.pk, channel, Message.Event.CAMPAIGN, f"{key}:{channel}"[:160], title, text,
            data, Message.Status.SENT if inbox else Message.Status.PENDING, 0, "", now, at,
            now if inbox else None, row.pk,
        ))  # fmt: skip
    return CampaignMember.Outcome.SENT


def placeholder_values(member, *, coupon=None, points: int = 0) -> dict:
    """{name} {tier} {points} {coupon} {expires} for a member (and the coupon they were
    given): what a message says, sent or previewed."""
    card = getattr(member, "card", None)
    values = {
        "name": member.name or _("member"),
        "tier": str(card.tier) if card and card.tier else "",
        "points": (card.points_balance if card else 0) + points,
        "coupon": "",
        "expires": "",
    }
    if coupon is not None:
        values["coupon"] = coupon.template.name
        values["expires"] = last_valid_day(coupon.valid_until).isoformat()
    return values


def offer(campaign, variant, member, key, now) -> dict:
    """Give the variant's coupon and points (each once per key); the placeholders."""
    coupon = None
    if variant.coupon_template_id:
        try:
            coupon, _created = coupon_issue(
                template=variant.coupon_template, member=member, source=Coupon.Source.CAMPAIGN,
                key=f"{key}:coupon", note=campaign.name, now=now,
            )  # fmt: skip
        except CouponNotIssued as exc:
            log.info("campaign %s: no coupon for %s: %s", campaign.pk, member.pk, exc.message)
    if variant.points:
        points_award(member=member, points=variant.points, key=f"{key}:points",
                     reason=campaign.name, source=f"campaign:{campaign.pk}", now=now)  # fmt: skip
    return placeholder_values(member, coupon=coupon, points=variant.points)
