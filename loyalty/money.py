"""Money is Decimal yuan with two places; all rounding goes through here."""

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("1000000.00")  # one bill or one top-up


def yuan(value) -> Decimal:
    """Round to the fen, half up (how a till rounds a discount)."""
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def yuan_down(value) -> Decimal:
    """Round to the fen, down: a value we give away (points' cash value) never rounds up."""
    return Decimal(value).quantize(FEN, rounding=ROUND_DOWN)


def to_fen(amount: Decimal) -> int:
    """WeChat Pay speaks integer fen; convert at the boundary only."""
    return int(yuan(amount) * 100)


def from_fen(fen: int) -> Decimal:
    return yuan(Decimal(fen) / 100)


def clean_amount(amount) -> Decimal:
    """An amount of yuan typed or sent: above 0, at most MAX_AMOUNT, whole fen."""
    try:
        value = Decimal(str(amount))
    except ArithmeticError as exc:
        raise ValidationError({"amount": _("Enter an amount in yuan, e.g. 38.50.")}) from exc
    if not value.is_finite() or value <= 0 or value > MAX_AMOUNT:
        raise ValidationError(
            {"amount": _("The amount must be above 0 and at most 1,000,000 yuan.")}
        )
    if value != value.quantize(Decimal("0.01")):
        raise ValidationError({"amount": _("Amounts have at most two decimal places (fen).")})
    return value
