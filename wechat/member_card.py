"""The member card in 卡包 (微信会员卡): publishing the card, and each card claimed.

- `card_publish` (the admin's 发布到微信): the logo uploaded (media/uploadimg), the card
  created (card/create) or its changes sent (card/update), the one-click activation form
  set (mobile and birthday; WeChat verifies the mobile by SMS), a claim QR code made.
- The card events of the official account's callback (wechat/replies.py), database only:
  `holding_claimed` (user_get_card), `holding_deleted` (user_del_card), `holding_viewed`
  (user_view_card), `holding_form_submitted` (submit_membercard_user_info),
  `holding_updated` (update_member_card). What needs WeChat goes to a task after the
  commit (`card_activate`).
- Activation: the card becomes a member's with card/membercard/activate (the membership
  number shown in 卡包 is the member's number, with their points, stored value and tier).
  A claim by a follower already bound to a member is activated at once; anyone else fills
  in WeChat's form, and their verified mobile registers them through members'
  member_join, the service of /join/ (an existing member's phone binds them instead), the
  store from the claim's QR code (its outer_str is the store's code).
"""

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from loyalty.models import Card
from members.models import Member, Store
from members.phones import normalize_phone
from members.posters import guide_of
from members.privacy import current_notice
from members.queue import enqueue
from members.services import member_join

from . import client
from .card_sync import cards_published_forget, figures, holding_lease, holding_release, updates_add
from .models import CardUpdate, MemberCardClass, MemberCardHolding
from .services import member_by_openid, member_wechat_bind

log = logging.getLogger(__name__)
MOBILE, BIRTHDAY = "USER_FORM_INFO_FLAG_MOBILE", "USER_FORM_INFO_FLAG_BIRTHDAY"


def card_class() -> MemberCardClass | None:
    """The account's member card (the first one made; the admin allows one)."""
    return MemberCardClass.objects.order_by("pk").first()


# --- publishing ---------------------------------------------------------------------------


def _base_info(card: MemberCardClass) -> dict:
    base = {
        "logo_url": card.logo_url,
        "brand_name": card.brand_name,
        "code_type": "CODE_TYPE_QRCODE",
        "title": card.title,
        "color": card.color,
        "notice": card.notice,
        "description": card.description,
        "date_info": {"type": "DATE_TYPE_PERMANENT"},
        "sku": {"quantity": 100000000},
        "get_limit": 1,
        "can_give_friend": False,
        "use_custom_code": False,
    }
    if card.service_phone:
        base["service_phone"] = card.service_phone
    return base


def card_body(card: MemberCardClass) -> dict:
    """card/create's member_card: points and stored value shown, the tier as custom field
    1, one-click activation (wx_activate) with the form set afterwards."""
    return {
        "base_info": _base_info(card),
        "prerogative": card.prerogative,
        "supply_bonus": card.show_bonus,
        "supply_balance": card.show_balance,
        "wx_activate": True,
        "custom_field1": {"name": card.tier_field_name},
    }


def activation_form() -> dict:
    """Mobile (WeChat verifies it by SMS) and birthday; the privacy notice linked as the
    terms the holder agrees to by activating (the consent /join/ records)."""
    notice = f"{settings.WECHAT_SITE_URL}{reverse('me:notice')}"
    return {
        "service_statement": {"name": gettext("Privacy notice"), "url": notice},
        "required_form": {"can_modify": False, "common_field_id_list": [MOBILE]},
        "optional_form": {"can_modify": False, "common_field_id_list": [BIRTHDAY]},
    }


def card_publish(*, card: MemberCardClass, now=None) -> MemberCardClass:
    """Create the card in WeChat, or send its changes (network: call outside transactions).

    A WeChatError is kept as the card's last error and raised again."""
    now = now or timezone.now()
    try:
        if card.logo and not card.logo_url:
            card.logo_url = client.upload_image(card.logo.path)
            card.save(update_fields=["logo_url"])
        body = card_body(card)
        if card.card_id:
            # card/update takes the base_info without what cannot change once created.
            base = {k: v for k, v in body["base_info"].items()
                    if k not in ("brand_name", "sku", "use_custom_code", "get_limit")}  # fmt: skip
            changes = {**body, "base_info": base}
            client.card_update({"card_id": card.card_id, "member_card": changes})
        else:
            card.card_id = client.card_create({"card": {"card_type": "MEMBER_CARD",
                                                        "member_card": body}})  # fmt: skip
            card.save(update_fields=["card_id"])
        client.card_activate_form(card.card_id, activation_form())
        card.claim_url = claim_link(card, now=now)
    except client.WeChatError as exc:
        card.last_error = exc.reason[:300]
        card.save(update_fields=["last_error"])
        raise
    card.published_at, card.last_error = now, ""
    card.save(update_fields=["claim_url", "published_at", "last_error"])
    cards_published_forget()
    return card


# WeChat keeps a claim QR code 365 days: each is made again after 300.
CLAIM_LINK_DAYS = 300


def claim_link(card: MemberCardClass, outer_str: str = "", *, now=None) -> str:
    """The card's claim link for `outer_str` ("": the card's own; a store's code: its
    posters'), made once and kept in claim_urls until it is CLAIM_LINK_DAYS old.
    Network when it is made: a WeChatError goes to the caller."""
    now = now or timezone.now()
    key = outer_str or "*"
    kept = (card.claim_urls or {}).get(key)
    if isinstance(kept, dict) and kept.get("url"):
        made = dt.datetime.fromisoformat(kept["made"])
        if now - made < dt.timedelta(days=CLAIM_LINK_DAYS):
            return kept["url"]
    url = client.card_qrcode(card.card_id, outer_str=outer_str).get("url", "")
    card.claim_urls = {**(card.claim_urls or {}), key: {"url": url, "made": now.isoformat()}}
    card.save(update_fields=["claim_urls"])
    return url


def scene_of(store: Store, guide=None) -> str:
    """A claim's scene as its QR code carries it (outer_str): the store's code, and the
    guide's id after a colon on a staff member's poster."""
    return f"{store.code}:{guide.pk}" if guide is not None else store.code


def store_claim_url(card: MemberCardClass, store: Store, guide=None) -> str:
    """The claim link of a store's poster (a staff member's: `guide`): its own QR code,
    so a claim there registers the member at that store, with that guide. Falls back to
    the card's link when WeChat cannot be asked."""
    try:
        return claim_link(card, scene_of(store, guide))
    except client.WeChatError as exc:
        log.warning("claim QR code for store %s not made: %s", store.code, exc)
        return card.claim_url


def claim_links_refresh(*, now=None) -> int:
    """The nightly job: every claim link near its year's end made again (a printed poster
    whose code stopped working would turn members away). Returns how many."""
    card = card_class()
    if card is None or not card.card_id:
        return 0
    now = now or timezone.now()
    stale = 0
    for key in list(card.claim_urls or {}):
        before = card.claim_urls[key]
        try:
            url = claim_link(card, "" if key == "*" else key, now=now)
        except client.WeChatError as exc:
            log.info("claim link %s not made again: %s", key, exc)
            break
        if before != card.claim_urls[key]:
            stale += 1
            if key == "*":
                MemberCardClass.objects.filter(pk=card.pk).update(claim_url=url)
    return stale


def poster_claim(store: Store, guide=None) -> tuple[str, str] | None:
    """The member card's claim QR code for the store's poster (members.posters), when the
    owner chose to show it there."""
    card = card_class()
    if card is None or not card.on_posters or not card.card_id:
        return None
    return gettext("Add our member card to WeChat"), store_claim_url(card, store, guide)


def member_no_of_code(code: str) -> str | None:
    """The member number of an activated member card's code (the counter scanning the
    card in 卡包: members.selectors asks)."""
    return (
        MemberCardHolding.objects.filter(code=code, status=MemberCardHolding.Status.ACTIVE)
        .values_list("member__member_no", flat=True)
        .first()
    )


def holdings_erased(sender, member, **kwargs) -> None:
    """member_erased receiver: the erased member's cards in 卡包 are theirs no more (the
    card stays in 卡包 until they delete it; nothing is pushed to it again)."""
    MemberCardHolding.objects.filter(member=member).update(
        member=None, status=MemberCardHolding.Status.DELETED, deleted_at=timezone.now()
    )


# --- the card events (database only: inside the callback's transaction) ----------------


def _holding(card_id: str, code: str) -> MemberCardHolding | None:
    return (
        MemberCardHolding.objects.filter(card_class__card_id=card_id, code=code)
        .select_related("card_class")
        .first()
    )


def holding_claimed(*, card_id: str, code: str, openid: str, outer_str: str = "",
                    unionid: str = "", restored: bool = False,
                    now=None) -> MemberCardHolding | None:  # fmt: skip
    """Someone added the card to 卡包. A follower bound to a member is activated after
    the commit; anyone else activates by WeChat's form (submit_membercard_user_info).
    A deleted card taken back (`restored`: IsRestoreMemberCard) is active again as it was
    in WeChat."""
    card = MemberCardClass.objects.filter(card_id=card_id).first() if card_id else None
    if card is None or not code:
        log.info("user_get_card for a card that is not the member card (%s)", card_id)
        return None
    now = now or timezone.now()
    holding, created = MemberCardHolding.objects.get_or_create(
        card_class=card, code=code,
        defaults={"openid": openid, "outer_str": outer_str[:64], "claimed_at": now},
    )  # fmt: skip
    if not created and holding.status == MemberCardHolding.Status.DELETED:
        active = restored and holding.member_id is not None
        holding.status = (
            MemberCardHolding.Status.ACTIVE if active else MemberCardHolding.Status.CLAIMED
        )
        holding.deleted_at, holding.claimed_at = None, now
        holding.save(update_fields=["status", "deleted_at", "claimed_at"])
        if active:  # its figures may have moved while it was deleted
            ref = f"restored:{holding.pk}:{now.timestamp():.0f}"
            row = CardUpdate(member_id=holding.member_id, kind=CardUpdate.Kind.REPAIR, ref=ref)
            updates_add([row])
    if holding.status == MemberCardHolding.Status.CLAIMED and member_by_openid(openid):
        pk = holding.pk
        transaction.on_commit(lambda: enqueue("wechat.tasks.card_activate", pk))
    return holding


def holding_deleted(*, card_id: str, code: str, now=None) -> None:
    MemberCardHolding.objects.filter(card_class__card_id=card_id, code=code).update(
        status=MemberCardHolding.Status.DELETED, deleted_at=now or timezone.now()
    )


def holding_viewed(*, card_id: str, code: str, now=None) -> None:
    from django.db.models import F

    MemberCardHolding.objects.filter(card_class__card_id=card_id, code=code).update(
        views=F("views") + 1, viewed_at=now or timezone.now()
    )


def holding_form_submitted(*, card_id: str, code: str) -> None:
    """The holder sent WeChat's activation form: read it and activate (a task)."""
    holding = _holding(card_id, code)
    if holding is None:
        log.info("activation form for an unknown card code")
        return
    pk = holding.pk
    transaction.on_commit(lambda: enqueue("wechat.tasks.card_activate", pk))


def holding_updated(*, card_id: str, code: str, bonus: int | None, balance: int | None) -> None:
    """WeChat says the card changed (after our own updateuser): nothing to change here;
    kept in the log for support."""
    log.info("member card %s updated in WeChat (bonus %s, balance %s)", code, bonus, balance)


# --- activation (network: a task) ----------------------------------------------------------


def _answers(info: dict) -> dict:
    fields = (info.get("user_info") or {}).get("common_field_list") or []
    return {f.get("name"): f.get("value") for f in fields if isinstance(f, dict)}


def _scene(holding: MemberCardHolding) -> dict:
    """The store and guide of the poster the card was claimed from (its outer_str)."""
    code, _sep, staff = holding.outer_str.partition(":")
    store = Store.objects.filter(code=code, active=True).first() if code else None
    if store is None:
        return {}
    return {"store": store, "guide": guide_of(store, staff)}


def _member_from_form(holding: MemberCardHolding, info: dict, now) -> Member | None:
    """The member the holder's form names (`info`: membercard/userinfo/get's answer): found
    by the verified mobile, or registered."""
    answers = _answers(info)
    try:
        phone = normalize_phone(answers.get(MOBILE) or "")
    except Exception:  # ValidationError: no usable mobile in the form
        log.info("member card %s: no valid mobile in the activation form yet", holding.code)
        return None
    member, created = member_join(
        phone=phone, consent_version=current_notice(now).version, now=now, **_scene(holding)
    )
    if created and answers.get(BIRTHDAY):
        try:
            birthday = dt.date.fromisoformat(answers[BIRTHDAY])
        except ValueError:
            birthday = None
        if birthday and birthday <= timezone.localdate(now):
            Member.objects.filter(pk=member.pk, birthday__isnull=True).update(birthday=birthday)
    return member


def card_activate(holding_id: int, now=None) -> MemberCardHolding | None:
    """Activate a claimed card as its member's (the follower's, or the form's), under the
    card's lease: two tasks for one claim (the claim's and the form's, the nightly retry)
    make one call. A card WeChat already shows as this member's (an earlier call whose
    answer was lost) is taken as activated without calling again."""
    now = now or timezone.now()
    holding = MemberCardHolding.objects.select_related("card_class").filter(pk=holding_id).first()
    if holding is None or holding.status != MemberCardHolding.Status.CLAIMED:
        return holding  # activated already (a second event), or deleted meanwhile
    if not holding_lease(holding.pk):
        return holding  # another worker is activating it
    try:
        return _activate(holding, now)
    finally:
        holding_release(holding.pk)


def _activate(holding: MemberCardHolding, now) -> MemberCardHolding:
    info = client.membercard_user_info(card_id=holding.card_class.card_id, code=holding.code)
    member = member_by_openid(holding.openid) or _member_from_form(holding, info, now)
    if member is None:
        return holding
    member_wechat_bind(member=member, openid=holding.openid)  # a no-op when bound elsewhere
    card = Card.objects.select_related("tier").get(pk=member.pk)
    shown = figures(card)
    if not (info.get("has_active") and info.get("membership_number") == member.member_no):
        client.membercard_activate(
            card_id=holding.card_class.card_id,
            code=holding.code,
            membership_number=member.member_no,
            init_bonus=shown["bonus"],
            init_balance=shown["balance"],
            init_custom_field_value1=shown["tier"] or "-",
        )
    MemberCardHolding.objects.filter(pk=holding.pk, status=MemberCardHolding.Status.CLAIMED).update(
        status=MemberCardHolding.Status.ACTIVE, member=member, activated_at=now,
        shown_bonus=shown["bonus"], shown_balance=card.stored_value, shown_tier=shown["tier"],
        synced_at=now,
    )  # fmt: skip
    log.info("member card %s activated for member %s", holding.code, member.pk)
    # A change committed while the card was being activated found it not yet active, and
    # wrote no row: the card's figures now, sent if they moved.
    if figures(Card.objects.select_related("tier").get(pk=member.pk)) != shown:
        ref = f"activated:{holding.pk}:{now.timestamp():.0f}"
        updates_add([CardUpdate(member=member, ref=ref, kind=CardUpdate.Kind.REPAIR)])
    holding.refresh_from_db()
    return holding


CLAIM_RETRY_DAYS = 7


def claims_retry(*, now=None) -> int:
    """Claims of the last week not activated (the task failed, WeChat was down): tried
    again; a claim whose holder never filled in the form stays claimed. Returns how
    many were activated."""
    now = now or timezone.now()
    activated = 0
    claims = MemberCardHolding.objects.filter(
        status=MemberCardHolding.Status.CLAIMED,
        claimed_at__gte=now - dt.timedelta(days=CLAIM_RETRY_DAYS),
    )
    for pk in claims.values_list("pk", flat=True).iterator():
        try:
            holding = card_activate(pk, now=now)
        except client.WeChatError as exc:
            log.info("member card claim %s not activated: %s", pk, exc)
            if exc.unavailable:
                break
            continue
        activated += holding is not None and holding.status == MemberCardHolding.Status.ACTIVE
    return activated
