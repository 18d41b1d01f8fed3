"""A campaign from a JSON spec (`manage.py campaign_create --spec FILE.json`):

    {"name": "...", "segment": {"all": [...]} or "saved segment name" or null,
     "channels": ["inbox", "wechat", "sms"], "title": "...", "message": "...",
     "variants": [{"name": "A", "coupon_template": "code or id", "points": 0,
                   "weight": 1, "message": ""}],
     "holdout_percent": 10, "send_at": null or "2026-12-08T10:00:00+08:00",
     "repeat_days": null, "attribution_days": 14}

Checked as the admin's form is (sending.check_campaign), then scheduled.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.models import CouponTemplate

from ..models import Segment
from ..segments.rules import RuleError, check
from .models import Campaign, Variant
from .sending import CampaignError, campaign_start, check_campaign

KEYS = {"name", "segment", "channels", "title", "message", "variants", "holdout_percent",
        "send_at", "repeat_days", "attribution_days"}  # fmt: skip
VARIANT_KEYS = {"name", "coupon_template", "points", "weight", "message"}


def template_of(ref) -> CouponTemplate:
    found = None
    if isinstance(ref, int) and not isinstance(ref, bool):
        found = CouponTemplate.objects.filter(pk=ref).first()
    elif isinstance(ref, str):
        found = CouponTemplate.objects.filter(code=ref).first()
        if found is None and ref.isdecimal():
            found = CouponTemplate.objects.filter(pk=int(ref)).first()
    if found is None:
        raise CampaignError(_("No coupon template %(ref)s.") % {"ref": ref})
    return found


def whole(spec: dict, key: str, default, low: int, high: int) -> int:
    value = spec.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CampaignError(_("“%(key)s” takes a whole number from %(low)d to %(high)d.")
                            % {"key": key, "low": low, "high": high})  # fmt: skip
    return value


@transaction.atomic
def campaign_from_spec(spec, *, actor=None) -> Campaign:
    if not isinstance(spec, dict):
        raise CampaignError(_("The spec is a JSON object."))
    if unknown := set(spec) - KEYS:
        raise CampaignError(_("Unknown key “%(key)s” in the spec.") % {"key": sorted(unknown)[0]})
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CampaignError(_("The campaign needs a name."))
    campaign = Campaign(
        name=name.strip()[:80],
        channels=spec.get("channels") or ["inbox"],
        title=(spec.get("title") or name.strip())[:60],
        message=spec.get("message") or "",
        holdout_percent=whole(spec, "holdout_percent", 10, 0, 50),
        attribution_days=whole(spec, "attribution_days", 14, 1, 365),
        repeat_days=whole(spec, "repeat_days", None, 1, 365) if spec.get("repeat_days") else None,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    if not isinstance(campaign.channels, list) or not all(
        isinstance(c, str) for c in campaign.channels
    ):
        raise CampaignError(_('“channels” is a list such as ["inbox", "wechat"].'))
    if not campaign.message.strip():
        raise CampaignError(_("The campaign needs a message."))
    audience = spec.get("segment")
    if isinstance(audience, str):
        campaign.segment = Segment.objects.filter(name=audience).first()
        if campaign.segment is None:
            raise CampaignError(_("No segment named %(name)s.") % {"name": audience})
    elif audience is not None:
        try:
            campaign.rules = check(audience)
        except RuleError as exc:
            raise CampaignError(" ".join(exc.messages)) from None
    if spec.get("send_at"):
        try:
            campaign.send_at = dt.datetime.fromisoformat(spec["send_at"])
        except (TypeError, ValueError):
            raise CampaignError(_("“send_at” is a date and time such as "
                                  "2026-12-08T10:00:00+08:00.")) from None  # fmt: skip
        if timezone.is_naive(campaign.send_at):
            campaign.send_at = timezone.make_aware(campaign.send_at)
    variants = spec.get("variants") or [{"name": "A"}]
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
        raise CampaignError(_("“variants” is a list of objects."))
    made = []
    for item in variants:
        if unknown := set(item) - VARIANT_KEYS:
            raise CampaignError(
                _("Unknown key “%(key)s” in a variant.") % {"key": sorted(unknown)[0]}
            )
        made.append(
            Variant(
                name=str(item.get("name") or chr(ord("A") + len(made)))[:20],
                weight=whole(item, "weight", 1, 1, 100),
                points=whole(item, "points", 0, 0, 100_000),
                message=item.get("message") or "",
                coupon_template=template_of(item["coupon_template"])
                if item.get("coupon_template") not in (None, "")
                else None,
            )
        )
    if len({v.name for v in made}) != len(made):
        raise CampaignError(_("Each variant needs its own name."))
    check_campaign(campaign, made)
    campaign.save()
    for variant in made:
        variant.campaign = campaign
        variant.save()
    return campaign_start(campaign)
