"""Demo stored value: the top-up offers, and a sample of members who topped up and paid
with it, through the real services (so check_ledger proves them like any other)."""

import datetime as dt
import random
from decimal import Decimal

from loyalty.errors import LoyaltyError
from loyalty.models import Card, Tender, TopUpOffer
from loyalty.purchases import purchase_record
from loyalty.stored_value import stored_value_top_up

TOPPED_UP_MEMBERS = 120
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
