"""loyalty's columns and filters on the admin member list (members.admin.MEMBER_LIST),
added by LoyaltyConfig.ready(): the card's tier, points, spend, last purchase, lifecycle
stage and RFM segment.

The card and its tier are joined to the page's one query. Each filter reads an index of
the card that starts with its column and goes on with the member id (card_tier_member,
card_lifecycle, card_rfm_segment); while one is on, the list is newest first by the
card's member id, so a page is read in that index's order, never by sorting every match.
The card's columns are not sortable: that would sort the whole table.
"""

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TierFilter(admin.RelatedFieldListFilter):
    # Cards are made at the lowest tier (ledger.card_create): no "(None)" choice, whose
    # left join would read every member to find hardly any.
    include_empty_choice = False


# The columns: read off the card the page joined (member.card). A member without one
# raises Card.DoesNotExist, which the change list shows as "-".


@admin.display(description=_("tier"))
def tier(member):
    return member.card.tier


@admin.display(description=_("points balance"))
def points_balance(member):
    return member.card.points_balance


@admin.display(description=_("total spent"))
def total_spent(member):
    return member.card.total_spent


@admin.display(description=_("last purchase"))
def last_purchase(member):
    at = member.card.last_purchase_at
    return timezone.localdate(at) if at else None  # the day (Shanghai's): the list is wide


@admin.display(description=_("lifecycle stage"))
def lifecycle(member):
    return member.card.get_lifecycle_display() or None  # None: "-" before the first run


@admin.display(description=_("RFM segment"))
def rfm_segment(member):
    return member.card.get_rfm_segment_display() or None  # None: "-", never bought


MEMBER_LIST_ENTRIES = {
    "columns": [tier, lifecycle, rfm_segment, points_balance, total_spent, last_purchase],
    "filters": [("card__tier", TierFilter), "card__lifecycle", "card__rfm_segment"],
    "related": ["card__tier"],
}
NEWEST_FIRST = {"card__": "-card__member_id"}


def add_member_list_entries(member_list: dict) -> None:
    """Add loyalty's entries to the registry, once (ready() may run more than once)."""
    for key, entries in MEMBER_LIST_ENTRIES.items():
        member_list[key].extend([e for e in entries if e not in member_list[key]])
    member_list["newest_first"].update(NEWEST_FIRST)
