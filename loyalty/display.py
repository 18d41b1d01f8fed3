"""Per-process copies of the rows every screen reads to *show* a card: the loyalty
settings and the tiers. For display only (the counter's card, the member centre): what
changes points or money always reads the database (LoyaltySettings.current()).

A copy lives at most REFRESH_SECONDS; a save or delete in this process drops it at once
(post_save / post_delete, connected in LoyaltyConfig.ready), so another worker shows a
change within seconds. Two ORM queries fewer on every lookup at the counter.
"""

import time
from collections.abc import Callable

from .models import LoyaltySettings, Tier

REFRESH_SECONDS = 5.0

_copies: dict[str, tuple[float, object]] = {}


def _copy(key: str, load: Callable[[], object]):
    now = time.monotonic()
    hit = _copies.get(key)
    if hit is not None and now - hit[0] < REFRESH_SECONDS:
        return hit[1]
    value = load()
    _copies[key] = (now, value)
    return value


def settings() -> LoyaltySettings:
    """The loyalty settings, as of at most REFRESH_SECONDS ago. Do not change or save it."""
    return _copy("settings", LoyaltySettings.current)


def tiers() -> tuple[Tier, ...]:
    """All tiers, lowest level first, as of at most REFRESH_SECONDS ago."""
    return _copy(
        "tiers",
        lambda: tuple(
            Tier.objects.select_related("birthday_coupon", "monthly_coupon").order_by("level")
        ),
    )


def forget(**kwargs) -> None:
    """Drop the copies (a receiver of post_save / post_delete; tests call it too)."""
    _copies.clear()
