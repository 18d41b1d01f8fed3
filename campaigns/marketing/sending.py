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
from typing import NamedTuple

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
CAMPAIGN_MEMBER_FIELDS = ["campaign_id", "member_id", "occurrence", "variant_id", "outcome",
                          "assigned_at", "sent_at"]  # fmt: skip


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
    """`text` with its placeholders filled (a text without any is returned as it is: a
    broadcast renders two texts for each of a million members)."""
    if "{" not in text:
        return text
    if values.keys() >= PLACEHOLDERS:  # placeholder_values' (and the preview's) answers
        return text.format_map(values)
    return text.format_map({name: values.get(name, "") for name in PLACEHOLDERS})


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


def withdrew(member: Member | Recipient) -> bool:
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


class Recipient(NamedTuple):
    """What sending reads of a member: a row, not a model instance (a broadcast reads a
    million; the contact fields stay encrypted: the hash tells whether there is a phone)."""

    pk: int
    name: str
    wechat_openid: str | None
    marketing_consent: bool | None
    marketing_consent_at: dt.datetime | None
    phone_hash: str | None
    tier: str | None
    points_balance: int | None


RECIPIENT_COLUMNS = ["pk", "name", "wechat_openid", "marketing_consent", "marketing_consent_at",
                     "phone_hash", "card__tier__name", "card__points_balance"]  # fmt: skip


def recipient_of(member: Member) -> Recipient:
    card = getattr(member, "card", None)
    return Recipient(
        member.pk, member.name, member.wechat_openid, member.marketing_consent,
        member.marketing_consent_at, member.phone_hash,
        card.tier.name if card and card.tier else None, card.points_balance if card else None,
    )  # fmt: skip


def send_to(campaign: Campaign, members, *, occurrence: str, now) -> dict:
    """Reach `members` (a queryset) for one occurrence, in keyset batches."""
    variants = list(campaign.variants.select_related("coupon_template").order_by("name"))
    conf = MarketingSettings.current()
    counts: dict[str, int] = {}
    rows = members.order_by("pk").values_list(*RECIPIENT_COLUMNS)
    last = 0
    while batch := [Recipient._make(row) for row in rows.filter(pk__gt=last)[:BATCH]]:
        last = batch[-1].pk
        for outcome, n in reach_batch(campaign, variants, batch, occurrence, conf, now).items():
            counts[outcome] = counts.get(outcome, 0) + n
    return counts


def assigned(campaign, occurrence, member_ids: list[int]) -> dict[int, tuple]:
    """{member id: (row id, variant id, outcome)} of this occurrence's rows, for members
    from min(member_ids) to max(member_ids) (a batch is a range of ids: no long IN list)."""
    if not member_ids:
        return {}
    rows = CampaignMember.objects.filter(
        campaign=campaign, occurrence=occurrence,
        member__gte=min(member_ids), member__lte=max(member_ids),
    ).values_list("member_id", "pk", "variant_id", "outcome")  # fmt: skip
    return {member_id: rest for member_id, *rest in rows}


def reach_batch(campaign, variants, batch, occurrence, conf, now) -> dict:
    """One batch: each member's outcome decided (and offer given, keyed), then the rows
    and messages written in one transaction: a batch is reached wholly or not at all,
    so a crash is resumed by doing the batch again."""
    rows = assigned(campaign, occurrence, [m.pk for m in batch])
    pending = CampaignMember.Outcome.PENDING
    todo = [m for m in batch if m.pk not in rows or rows[m.pk][2] == pending]
    if not todo:
        return {}
    by_pk = {v.pk: v for v in variants}
    at = next_allowed(now, conf)  # when the batch's WeChat and SMS may leave
    # One `data` dict per variant, shared by its messages: the insert encodes it once.
    data_of = {v.pk: {"campaign": campaign.pk, "variant": v.name} for v in variants}
    recent = recent_counts(todo[0].pk, todo[-1].pk, campaign, now) if conf.weekly_cap else {}
    decided: list[tuple[int, int | None, str]] = []
    messages: list[tuple] = []  # without their row id: added once the rows are written
    for member in todo:
        if member.pk in rows:  # assigned by a run that stopped before reaching them
            variant_pk = rows[member.pk][1]
        else:
            variant_pk = getattr(assign(campaign, variants, member.pk), "pk", None)
        variant = by_pk.get(variant_pk)
        if variant is None:
            outcome = CampaignMember.Outcome.HOLDOUT
        elif withdrew(member):
            outcome = CampaignMember.Outcome.NO_CONSENT
        elif conf.weekly_cap and recent.get(member.pk, 0) >= conf.weekly_cap:
            outcome = CampaignMember.Outcome.CAPPED
        else:
            try:
                outcome = deliver(campaign, variant, member, occurrence, at, now, messages,
                                  data_of[variant.pk])  # fmt: skip
            except IntegrityError:  # a second sender of this campaign keyed it first
                outcome = CampaignMember.Outcome.SENT
        decided.append((member.pk, variant_pk, outcome))
    with transaction.atomic():
        insert_rows(
            CampaignMember, CAMPAIGN_MEMBER_FIELDS,
            [(campaign.pk, pk, occurrence, variant_pk, outcome, now,
              now if outcome == CampaignMember.Outcome.SENT else None)
             for pk, variant_pk, outcome in decided if pk not in rows],
            ignore_conflicts=True,  # a second sender wrote them first: theirs stand
        )  # fmt: skip
        for outcome in {outcome for pk, _v, outcome in decided if pk in rows}:
            sent_at = now if outcome == CampaignMember.Outcome.SENT else None
            CampaignMember.objects.filter(
                pk__in=[rows[pk][0] for pk, _v, o in decided if pk in rows and o == outcome]
            ).update(outcome=outcome, sent_at=sent_at)
        row_ids = assigned(campaign, occurrence, list({m[0] for m in messages}))
        # The batch's messages in one statement (executemany), keyed: none twice.
        insert_rows(
            Message, MESSAGE_FIELDS, [(*m, row_ids[m[0]][0]) for m in messages],
            ignore_conflicts=True,
        )  # fmt: skip
    counts: dict[str, int] = {}
    for _pk, _variant, outcome in decided:
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def recent_counts(first: int, last: int, campaign: Campaign, now) -> dict[int, int]:
    """Marketing messages (campaigns reached, other than this one) in the last 7 days, of
    the members with ids from `first` to `last`."""
    since = now - dt.timedelta(days=7)
    rows = (
        CampaignMember.objects.filter(
            member__gte=first,
            member__lte=last,
            sent_at__gte=since,
            outcome=CampaignMember.Outcome.SENT,
        )
        .exclude(campaign=campaign)
        .values_list("member_id")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def channels_for(campaign: Campaign, member: Recipient) -> list[str]:
    """The campaign's channels that can reach the member (the sender checks again)."""
    names = []
    for name in campaign.channels:
        if name == "wechat" and not member.wechat_openid:
            continue
        if name == "sms" and not (member.marketing_consent and member.phone_hash):
            continue
        if name != "inbox" and name not in CHANNELS:
            continue
        names.append(name)
    return names


def deliver(campaign, variant, member, occurrence, at, now, messages: list, data: dict) -> str:
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
    now_inbox = at == now
    for channel in channels:
        inbox = channel == "inbox" and now_inbox
        messages.append((
            member.pk, channel, Message.Event.CAMPAIGN, f"{key}:{channel}"[:160], title, text,
            data, Message.Status.SENT if inbox else Message.Status.PENDING, 0, "", now, at,
            now if inbox else None,
        ))  # fmt: skip
    return CampaignMember.Outcome.SENT


def placeholder_values(member: Recipient, *, coupon=None, points: int = 0) -> dict:
    """{name} {tier} {points} {coupon} {expires} for a member (and the coupon they were
    given): what a message says, sent or previewed."""
    values = {
        "name": member.name or _("member"),
        "tier": member.tier or "",
        "points": (member.points_balance or 0) + points,
        "coupon": "",
        "expires": "",
    }
    if coupon is not None:
        values["coupon"] = coupon.template.name
        values["expires"] = last_valid_day(coupon.valid_until).isoformat()
    return values


def offer(campaign, variant, recipient: Recipient, key, now) -> dict:
    """Give the variant's coupon and points (each once per key); the placeholders."""
    member = Member.objects.get(pk=recipient.pk)
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
    return placeholder_values(recipient, coupon=coupon, points=variant.points)
