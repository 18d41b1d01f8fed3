"""Money is Decimal yuan with two places; all rounding goes through here."""

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


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
