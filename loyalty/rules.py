"""The rules every purchase and every card screen is computed with: the loyalty
settings, the tiers and the active earn rules, kept in this process. One cache, two
ways to ask it:

- `purchase_rules()`: as they are now. What changes points or money asks this way:
  one small SELECT of a stamp per call, the rows read again only when it changed.
  Loyalty migration 0009 keeps the stamp: triggers set a new random stamp on any change
  to the three tables, whoever makes it (the admin, a shell, another process).
- `shown_rules()`: for display (the counter's card, the member centre), as of at most
  REFRESH_SECONDS ago, without even the stamp's SELECT; a save or delete in this
  process forgets it at once (`forget`, connected in LoyaltyConfig.ready), another
  worker shows a change within seconds.

Read-only: callers must not change or save the instances.
"""

import time
from dataclasses import dataclass

from django.db import connections, router

from .models import EarnRule, LoyaltySettings, Tier

REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class Rules:
    """The settings, tiers (lowest level first) and active earn rules."""

    conf: LoyaltySettings
    tiers: list[Tier]
    earn: list[EarnRule]


_kept: dict[str, tuple[str, Rules]] = {}  # database alias -> (stamp, rules)
_shown: dict[str, tuple[float, Rules]] = {}  # database alias -> (monotonic time, rules)


def _read() -> Rules:
    # Read only when the stamp moved (rarely): the ORM is fast enough here. The tiers
    # come with their coupon templates, which the card's perks name.
    return Rules(
        conf=LoyaltySettings.current(),
        tiers=list(
            Tier.objects.select_related("birthday_coupon", "monthly_coupon").order_by("level")
        ),
        earn=list(EarnRule.objects.filter(active=True).order_by("name", "id")),
    )


def purchase_rules() -> Rules:
    """The settings, tiers and active earn rules, as they are now.

    The stamp is read first, so rules changed in between are read again next time,
    never kept under a stamp that is not theirs.
    """
    alias = router.db_for_read(LoyaltySettings)
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT stamp FROM loyalty_rules_stamp WHERE id = 1")
        row = cursor.fetchone()
    stamp = row[0] if row else None
    kept = _kept.get(alias)
    if stamp is not None and kept is not None and kept[0] == stamp:
        return kept[1]
    rules = _read()
    if stamp is not None:
        _kept[alias] = (stamp, rules)
    return rules


def shown_rules() -> Rules:
    """The rules as of at most REFRESH_SECONDS ago: for showing a card, never for a change."""
    alias = router.db_for_read(LoyaltySettings)
    now = time.monotonic()
    hit = _shown.get(alias)
    if hit is not None and now - hit[0] < REFRESH_SECONDS:
        return hit[1]
    rules = purchase_rules()
    _shown[alias] = (now, rules)
    return rules


def forget(**kwargs) -> None:
    """Drop what is kept (a receiver of post_save / post_delete; tests call it too)."""
    _kept.clear()
    _shown.clear()


def lowest_tier() -> Tier | None:
    """The lowest tier, as kept with the purchase rules (one stamp read, not a query
    of the tiers: every registration's card starts here, under SQLite's write lock)."""
    tiers = purchase_rules().tiers
    return tiers[0] if tiers else None
