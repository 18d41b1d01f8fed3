"""Demo prepaid: the top-up offers and a sample of members who topped up and paid with
it; count card templates and a few members' cards, some used; all through the real
services (so check_ledger proves them like any other)."""

import datetime as dt
import random
from decimal import Decimal

from loyalty.count_cards import count_card_sell, count_card_use
from loyalty.errors import LoyaltyError
from loyalty.models import Card, CountCardTemplate, Tender, TopUpOffer
from loyalty.purchases import purchase_record
from loyalty.stored_value import stored_value_top_up

TOPPED_UP_MEMBERS = 120
COUNT_CARD_MEMBERS = 40
TEMPLATES = [
    {"code": "wash10", "name": "10 次洗剪吹", "uses": 10, "price": Decimal("298"),
     "valid_months": 12, "services": "洗剪吹、洗发"},
    {"code": "care5", "name": "5 次头皮护理", "uses": 5, "price": Decimal("580"),
     "valid_months": 6, "services": "头皮护理"},
    {"code": "coffee20", "name": "20 杯美式咖啡卡", "uses": 20, "price": Decimal("360"),
     "valid_months": 3, "services": ""},
]  # fmt: skip
OFFERS = [
    {"code": "c200", "name": "充200送20", "pay_amount": Decimal("200"), "bonus": Decimal("20")},
    {"code": "c500", "name": "充500送60", "pay_amount": Decimal("500"), "bonus": Decimal("60")},
    {"code": "c1000", "name": "充1000送150 再送500积分", "pay_amount": Decimal("1000"),
     "bonus": Decimal("150"), "points": 500},
]  # fmt: skip


def seed_stored_value(*, member_ids, rng: random.Random, now) -> tuple[int, int]:
    """Offers (once), then top-ups and a purchase or two paid from them: (top-ups, spends)."""
    for spec in OFFERS:
        TopUpOffer.objects.get_or_create(code=spec["code"], defaults=spec)
    offers = list(TopUpOffer.objects.filter(active=True))
    topped = spent = 0
    for pk in rng.sample(list(member_ids), min(TOPPED_UP_MEMBERS, len(member_ids))):
        card = Card.objects.select_related("member__store").get(pk=pk)
        member, offer = card.member, rng.choice(offers)
        when = now - dt.timedelta(days=rng.randint(3, 60), hours=rng.randint(0, 10))
        try:
            stored_value_top_up(
                member=member, amount=offer.pay_amount, external_ref=f"demo-top-up-{pk}",
                tender=rng.choice(Tender.values), offer_code=offer.code, store=member.store,
                now=when,
            )  # fmt: skip
        except LoyaltyError:
            continue  # over the cap: the member has enough
        topped += 1
        for n in range(rng.randint(0, 2)):
            amount, at = Decimal(rng.randint(30, 180)), when + dt.timedelta(days=n + 1)
            try:
                purchase_record(
                    member=member, amount=amount, external_ref=f"demo-sv-{pk}-{n}",
                    store=member.store, stored_value_to_use=amount, apply_tier_discount=False,
                    occurred_at=at, now=at,
                )  # fmt: skip
            except LoyaltyError:
                break
            spent += 1
    return topped, spent


def seed_count_cards(*, member_ids, rng: random.Random, now) -> tuple[int, int]:
    """Templates (once), then cards sold to a sample of members and some uses: (cards, uses)."""
    for spec in TEMPLATES:
        CountCardTemplate.objects.get_or_create(code=spec["code"], defaults=spec)
    templates = list(CountCardTemplate.objects.filter(active=True))
    sold = used = 0
    for pk in rng.sample(list(member_ids), min(COUNT_CARD_MEMBERS, len(member_ids))):
        member = Card.objects.select_related("member__store").get(pk=pk).member
        template = rng.choice(templates)
        when = now - dt.timedelta(days=rng.randint(5, 80), hours=rng.randint(0, 10))
        try:
            card, _created = count_card_sell(
                member=member, template_code=template.code, external_ref=f"demo-cc-{pk}",
                tender=rng.choice(Tender.values), store=member.store, now=when,
            )  # fmt: skip
        except LoyaltyError:
            continue
        sold += 1
        services = template.service_names() or [""]
        for n in range(rng.randint(0, template.uses - 1)):
            at = when + dt.timedelta(days=n + 1, hours=rng.randint(0, 6))
            if at >= now:
                break
            try:
                count_card_use(
                    member=member, card_id=card.pk, key=f"demo-cc-{pk}-{n}",
                    service=rng.choice(services), store=member.store, now=at,
                )  # fmt: skip
            except LoyaltyError:
                break
            used += 1
    return sold, used
