"""The stages a card is put in every night (loyalty.jobs.lifecycle_and_rfm): the
lifecycle stage and the RFM segment. Segments, lists and reports read them."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Lifecycle(models.TextChoices):
    NEW = "new", _("New")
    # Not the member status "Active" (正常): a stage of its own in Chinese (活跃).
    ACTIVE = "active", pgettext_lazy("lifecycle", "Active")
    DORMANT = "dormant", _("Dormant")
    CHURNED = "churned", _("Churned")
    PROSPECT = "prospect", _("Registered, no purchase yet")


class RfmSegment(models.TextChoices):
    """The eight classic RFM segments (docs/loyalty.md): each score is "high" at 4 or 5
    (the top two quintiles) and "low" at 1 to 3. Empty: never bought."""

    CHAMPIONS = "champions", _("Important value customers")  # R high, F high, M high
    IMPORTANT_DEVELOP = "important_develop", _("Important customers to develop")  # R+ F- M+
    IMPORTANT_KEEP = "important_keep", _("Important customers to keep")  # R- F+ M+
    IMPORTANT_WIN_BACK = "important_win_back", _("Important customers to win back")  # R- F- M+
    GENERAL_VALUE = "general_value", _("General value customers")  # R+ F+ M-
    GENERAL_DEVELOP = "general_develop", _("General customers to develop")  # R+ F- M-
    GENERAL_KEEP = "general_keep", _("General customers to keep")  # R- F+ M-
    GENERAL_WIN_BACK = "general_win_back", _("General customers to win back")  # R- F- M-


RFM_HIGH = 4  # a score of 4 or 5 is "high"

# (R high, F high, M high) -> segment
RFM_SEGMENT_OF = {
    (True, True, True): RfmSegment.CHAMPIONS,
    (True, False, True): RfmSegment.IMPORTANT_DEVELOP,
    (False, True, True): RfmSegment.IMPORTANT_KEEP,
    (False, False, True): RfmSegment.IMPORTANT_WIN_BACK,
    (True, True, False): RfmSegment.GENERAL_VALUE,
    (True, False, False): RfmSegment.GENERAL_DEVELOP,
    (False, True, False): RfmSegment.GENERAL_KEEP,
    (False, False, False): RfmSegment.GENERAL_WIN_BACK,
}


def rfm_segment(r: int, f: int, m: int) -> str:
    """The segment of three scores (1-5); "" when unscored (0)."""
    if not (r and f and m):
        return ""
    return RFM_SEGMENT_OF[(r >= RFM_HIGH, f >= RFM_HIGH, m >= RFM_HIGH)].value
