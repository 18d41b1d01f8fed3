"""Who may spend a member's points, stored value or count card (issue 24): the rule the
counter and the POS API both apply before they record the spend.

A member found by the dynamic code of their member centre (members/dynamic_code.py) is
at the till: the spend needs nothing more. Found by the static member number or the
phone only, which a screenshot or a receipt gives away, the spend needs the member's
confirmation when the setting `spend_needs_dynamic_code` is on: the pay code of the
member centre or the SMS code (members.otp PAY), as a large stored-value spend does.

Stored value above `stored_value_confirm_limit` already asks for that code in the
spend's own service (purchase_record, count_card_sell), which uses it up: there the
rule leaves the check to it, one code confirming both.
"""

from decimal import Decimal

from django.utils.translation import gettext as _

from .rules import purchase_rules
from .stored_value import ConfirmationRequired, stored_value_confirm

ZERO = Decimal("0")


def spend_needs_confirmation(
    *, dynamic: bool, points: int = 0, stored_value=ZERO, count_card: bool = False, conf=None
) -> bool:
    """True when this spend, by a member found with a static key (dynamic False), needs
    the member's confirmation: the setting is on and it spends points, stored value or a
    count card. `conf`: the settings (purchase_rules().conf when not given)."""
    if dynamic or not (points or (stored_value or ZERO) > 0 or count_card):
        return False
    conf = conf or purchase_rules().conf
    return conf.spend_needs_dynamic_code


def spend_confirm(
    *,
    member,
    dynamic: bool,
    points: int = 0,
    stored_value=ZERO,
    count_card: bool = False,
    confirmation_code: str = "",
    now=None,
) -> None:
    """Check the rule before a spend is recorded. ConfirmationRequired (422
    confirmation_required) when the spend needs the member's confirmation and no code was
    given; ConfirmationInvalid (confirmation_invalid) for a wrong, old or used code. A
    right code is used up (members.otp), so a retry of a recorded spend must not come here."""
    conf = purchase_rules().conf
    if not spend_needs_confirmation(
        dynamic=dynamic, points=points, stored_value=stored_value, count_card=count_card, conf=conf
    ):
        return
    if (stored_value or ZERO) > conf.stored_value_confirm_limit:
        return  # the spend's own check asks for this same code (see above)
    if not (confirmation_code or "").strip():
        raise ConfirmationRequired(
            _(
                "Spending points, stored value or a count card with the member number or "
                "phone needs the member's confirmation: scan the dynamic code in their member "
                "centre, or ask for their pay code."
            )
        )
    stored_value_confirm(member=member, code=confirmation_code, now=now)
