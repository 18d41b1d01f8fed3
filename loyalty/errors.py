"""The business errors of loyalty: a rule said no. `code` is stable for API clients
(the POS and the mall read it); the message is for people."""


class LoyaltyError(Exception):
    """A business rule said no. `code` is stable for API clients; the message is for people."""

    code = "business_rule"
    status = 422

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotEnoughPoints(LoyaltyError):
    code = "not_enough_points"


class PointsOverCap(LoyaltyError):
    code = "points_over_cap"


class TierDiscountNotApplicable(LoyaltyError):
    code = "tier_discount_not_applicable"


class RefundNotPossible(LoyaltyError):
    code = "refund_not_possible"


class ReferenceConflict(LoyaltyError):
    """The idempotency key was already used for a different request."""

    code = "reference_conflict"
    status = 409


class CouponNotUsable(LoyaltyError):
    code = "coupon_not_usable"


class CouponNotFound(LoyaltyError):
    code = "coupon_not_found"
    status = 404


class CouponNotValidHere(CouponNotUsable):
    """The coupon's template is limited to stores, and this is not one of them."""

    code = "coupon_not_valid_here"
