"""The demo's member card in 卡包 (a demo_seeded receiver): the card as if published, and
the first members of the demo holding it, activated. `fake_wechat` loads both into the
fake server when it starts (wechat/fake_server/card.py), so a purchase at the counter for
one of them lands as membercard/updateuser in the fake server's log (/_fake/log)."""

import io

from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from loyalty.models import Card

from .card_sync import cards_published_forget, figures
from .models import MemberCardClass, MemberCardHolding

DEMO_CARD_ID = "pDEMOhuiyuan00000000000000001"
DEMO_HOLDERS = 20


def _logo() -> ContentFile:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), (140, 29, 47)).save(buffer, "PNG")
    return ContentFile(buffer.getvalue(), name="demo-logo.png")


def seed_member_card(sender, member_ids, stdout, **kwargs):
    now = timezone.now()
    card, made = MemberCardClass.objects.get_or_create(
        card_id=DEMO_CARD_ID,
        defaults={"brand_name": "慧园咖啡", "title": "慧园会员卡", "logo": _logo(),
                  "logo_url": "http://mmbiz.qpic.cn/mmbiz/demo/0", "published_at": now,
                  "claim_url": "http://weixin.qq.com/q/demo-claim"},
    )  # fmt: skip
    if not made:
        return
    cards_published_forget()
    holders = (
        Card.objects.filter(pk__in=member_ids).select_related("tier", "member").order_by("pk")
    )[:DEMO_HOLDERS]
    rows = []
    for number, member_card in enumerate(holders, start=1):
        shown = figures(member_card)
        rows.append(MemberCardHolding(
            card_class=card, code=f"{880000000000 + number}", openid=f"oDEMO{member_card.pk:012d}",
            member_id=member_card.pk, status=MemberCardHolding.Status.ACTIVE, claimed_at=now,
            activated_at=now, shown_bonus=shown["bonus"], shown_balance=member_card.stored_value,
            shown_tier=shown["tier"], synced_at=now,
        ))  # fmt: skip
    MemberCardHolding.objects.bulk_create(rows)
    numbers = ", ".join(h.member.member_no for h in holders[:3])
    stdout.write(f"  WeChat member card: {len(rows)} members hold it (e.g. {numbers})")


def fake_cards() -> list[dict]:
    """What the fake server must know at start: every card and activated holding."""
    holdings = MemberCardHolding.objects.filter(status=MemberCardHolding.Status.ACTIVE)
    return [
        {"card_id": h.card_class.card_id, "code": h.code, "openid": h.openid,
         "membership_number": h.member.member_no if h.member else "",
         "bonus": h.shown_bonus or 0, "balance": int((h.shown_balance or 0) * 100)}
        for h in holdings.select_related("card_class", "member")
    ]  # fmt: skip
