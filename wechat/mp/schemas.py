"""What the mini-program API reads and answers (wechat/mp/api.py), and the member centre's
figures (loyalty.centre.views) turned into it. Money is a string of yuan with two places
("12.50"), points are integers, times are Shanghai's."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from ninja import Field, Schema

from loyalty.api_base import StoredValueOut
from loyalty.dates import last_valid_day
from loyalty.models import Coupon, PointsEntry, Redemption, Reward, Tier
from loyalty.money import yuan
from loyalty.selectors import card_of
from loyalty.stored_value import stored_value_of
from members.phones import mask_phone

MONEY = 'Yuan, two places: "12.50"'


def money(value) -> str:
    return f"{yuan(value or Decimal(0)):.2f}"


# --- in ---------------------------------------------------------------------------------


class LoginIn(Schema):
    code: str = Field(min_length=1, max_length=128, description="wx.login()'s code")


class RegisterIn(Schema):
    phone_code: str = Field(
        min_length=1,
        max_length=128,
        description="The code of the phone number button (bindgetphonenumber's e.detail.code)",
    )
    consent_version: str | None = Field(
        None,
        max_length=32,
        description="The privacy notice the member agreed to (login's registration step); "
        "omitted: the current one",
    )
    name: str = Field("", max_length=50)
    marketing_consent: bool = Field(False, description="Offers by SMS and WeChat: yes")
    store: str | None = Field(None, max_length=32, description="The store code of a poster")
    guide: str | None = Field(None, max_length=12, description="The staff member's id")
    ref: str | None = Field(None, max_length=16, description="A member's referral code")


class RedeemIn(Schema):
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="One per tap of the redeem button: a retry with the same key redeems "
        "once. Omitted: every request is a new redemption.",
    )


# --- out --------------------------------------------------------------------------------


class TierOut(Schema):
    name: str
    level: int


class MemberBrief(Schema):
    member_no: str
    name: str
    tier: TierOut | None


class NoticeOut(Schema):
    version: str
    title: str
    paragraphs: list[str]


class RegistrationStep(Schema):
    endpoint: str = Field(description="POST here with the phone code")
    privacy_notice: NoticeOut = Field(description="Show it; registering agrees to it")


class LoginOut(Schema):
    token: str = Field(description="Send as Authorization: Bearer <token>")
    token_type: str = "Bearer"
    expires_at: dt.datetime
    member: MemberBrief | None = Field(description="null: not a member yet (registration)")
    registration: RegistrationStep | None


class RegisterOut(Schema):
    member: MemberBrief
    created: bool = Field(description="false: the phone was a member's already, now bound")


class CouponOut(Schema):
    code: str = Field(description="What the till scans or types (upper case, no dash)")
    display_code: str
    name: str
    kind: str = Field(description="cash | threshold | percent | shipping | gift")
    value: str = Field(description="Yuan off; for percent, the share paid (0.90 = 10% off)")
    min_spend: str = Field(description=MONEY)
    status: str = Field(description="issued | redeemed | expired | void")
    valid_from: dt.datetime
    last_day: dt.date = Field(description="The last day it can be used (Shanghai)")
    redeemed_at: dt.datetime | None
    stores: list[str] = Field(description="Where it can be used; empty: every store")


class TierProgressOut(Schema):
    next_tier: TierOut
    percent: int
    text: str


class PointsSummaryOut(Schema):
    balance: int
    value: str = Field(description="What the points pay, in yuan")
    expiring: int = Field(description="Points expiring within 30 days")
    expiring_last_day: dt.date | None


class CheckinStateOut(Schema):
    done_today: bool
    streak: int


class DynamicCodeOut(Schema):
    code: str = Field(description="18 digits to show as a barcode and QR code")
    display: str = Field(description="The code grouped for reading")
    seconds_left: int = Field(description="Until the next code: ask again then")
    used: bool = Field(description="A purchase used it already")


class MeOut(Schema):
    member_no: str
    name: str
    phone: str = Field(description="Masked: 138 **** 8000")
    tier: TierOut | None
    tier_progress: TierProgressOut | None = Field(description="null: the top tier")
    perks: list[str]
    next_perks: list[str]
    growth_value: int
    points: PointsSummaryOut
    stored_value: StoredValueOut
    coupons: list[CouponOut] = Field(description="Usable coupons, soonest to expire first")
    checkin: CheckinStateOut
    dynamic_code: DynamicCodeOut
    profile_complete: bool


class PointsEntryOut(Schema):
    kind: str = Field(description="earn | redeem | expire | adjust | refund | import")
    kind_label: str
    delta: int
    balance_after: int
    reason: str
    created_at: dt.datetime
    expires_at: dt.datetime | None


class PointsPageOut(Schema):
    balance: int
    page: int
    pages: int
    entries: list[PointsEntryOut]


class CouponsPageOut(Schema):
    status: str = Field(description="usable | used | expired")
    page: int
    pages: int
    coupons: list[CouponOut]


class CheckinOut(Schema):
    day: dt.date
    streak: int
    points: int
    bonus_points: int
    coupon: CouponOut | None
    points_balance: int
    message: str


class RewardOut(Schema):
    id: int
    name: str
    kind: str = Field(description="goods (picked up in store) | coupon")
    description: str
    picture: str | None = Field(description="Absolute URL")
    points_cost: int
    cash_part: str = Field(description="Paid at pickup; " + MONEY)
    stock_left: int | None = Field(description="null: unlimited")
    affordable: bool = Field(description="The member has the points")


class RedemptionOut(Schema):
    reward_id: int
    reward: str
    status: str = Field(description="awaiting (pickup) | fulfilled | cancelled")
    pickup_code: str = Field(description="Shown in store to pick goods up")
    points: int
    cash_part: str = Field(description=MONEY)
    coupon: CouponOut | None
    created_at: dt.datetime


class RewardsOut(Schema):
    points_balance: int
    rewards: list[RewardOut]
    redemptions: list[RedemptionOut] = Field(description="The member's latest 20")


class RedeemOut(RedemptionOut):
    points_balance: int


class LoggedOut(Schema):
    logged_out: bool


# --- the member centre's figures as JSON -------------------------------------------------


def tier_out(tier: Tier | None) -> dict | None:
    return {"name": tier.name, "level": tier.level} if tier is not None else None


def coupon_out(coupon: Coupon) -> dict:
    template = coupon.template
    return {
        "code": coupon.code,
        "display_code": coupon.display_code,
        "name": template.name,
        "kind": template.kind,
        "value": money(template.value),
        "min_spend": money(template.min_spend),
        "status": coupon.status,
        "valid_from": timezone.localtime(coupon.valid_from),
        "last_day": last_valid_day(coupon.valid_until),
        "redeemed_at": coupon.redeemed_at and timezone.localtime(coupon.redeemed_at),
        "stores": [store.name for store in template.stores.all()],
    }


def me_out(member, summary: dict, code: dict, coupons) -> dict:
    """/me: loyalty.centre.views' card_summary and dynamic_code_state, and the coupons."""
    card, progress, expiring = summary["card"], summary["progress"], summary["expiring"]
    return {
        "member_no": member.member_no,
        "name": member.name,
        "phone": mask_phone(member.phone),
        "tier": tier_out(card.tier),
        "tier_progress": progress
        and {
            "next_tier": tier_out(progress["tier"]),
            "percent": progress["percent"],
            "text": str(progress["text"]),
        },
        "perks": [str(perk) for perk in summary["my_perks"]],
        "next_perks": [str(perk) for perk in summary["next_perks"]],
        "growth_value": card.growth_value,
        "points": {
            "balance": card.points_balance,
            "value": money(summary["cash_value"]),
            "expiring": expiring["points"],
            "expiring_last_day": expiring["last_day"],
        },
        "stored_value": stored_value_of(card),
        "coupons": [coupon_out(c) for c in coupons],
        "checkin": summary["checkin"],
        "dynamic_code": {k: code[k] for k in ("code", "display", "seconds_left", "used")},
        "profile_complete": summary["profile_complete"],
    }


def entry_out(entry: PointsEntry) -> dict:
    return {
        "kind": entry.kind,
        "kind_label": entry.get_kind_display(),
        "delta": entry.delta,
        "balance_after": entry.balance_after,
        "reason": entry.reason,
        "created_at": timezone.localtime(entry.created_at),
        "expires_at": entry.expires_at and timezone.localtime(entry.expires_at),
    }


def reward_out(request, reward: Reward, balance: int) -> dict:
    return {
        "id": reward.pk,
        "name": reward.name,
        "kind": reward.kind,
        "description": reward.description,
        "picture": request.build_absolute_uri(reward.picture.url) if reward.picture else None,
        "points_cost": reward.points_cost,
        "cash_part": money(reward.cash_part),
        "stock_left": reward.stock_left,
        "affordable": balance >= reward.points_cost,
    }


def redemption_out(redemption: Redemption) -> dict:
    return {
        "reward_id": redemption.reward_id,
        "reward": redemption.reward.name,
        "status": redemption.status,
        "pickup_code": redemption.pickup_code,
        "points": redemption.points,
        "cash_part": money(redemption.cash_part),
        "coupon": coupon_out(redemption.coupon) if redemption.coupon_id else None,
        "created_at": timezone.localtime(redemption.created_at),
    }


def member_brief(member) -> dict:
    return {
        "member_no": member.member_no,
        "name": member.name,
        "tier": tier_out(card_of(member).tier),
    }
