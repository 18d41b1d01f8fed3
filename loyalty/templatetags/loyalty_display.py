"""{% load loyalty_display %}: loyalty's dates and numbers written one way (loyalty.display).

{{ coupon.valid_until|valid_through }} -> 有效期至 2026-12-31
{{ lot.expires_at|last_day_text }}     -> 2026-12-31 (an exclusive end: the day before)
{{ purchase|receipt_number }}          -> SH01-20261231-0012
{{ entry|slip_number }}                -> SH01-20261231-SV0003
{{ next_perks|without:my_perks }}      -> the next tier's perks the member lacks
"""

from django import template

from loyalty import display

register = template.Library()

register.filter("valid_through", display.valid_through)
register.filter("last_day_text", display.day_text)
register.filter("receipt_number", display.receipt_number)
register.filter("slip_number", display.slip_number)


@register.filter
def without(items, other):
    """The items of `items` not in `other`, in their order (a tier's perks less the ones
    the member has already: each said once on /me/)."""
    other = set(other or ())
    return [item for item in items or () if item not in other]
