"""Replies to marketing SMS (上行短信): an unsubscribe word withdraws marketing consent.

Carriers require every marketing SMS to end with "回T退订"; whoever answers T (or TD,
退订, N, 取消, or R, the word Tencent Cloud's own marketing templates ask for) is
unsubscribed: member_marketing_set(consent=False), audited. Any other reply changes
nothing. Safe to repeat (a provider delivers a reply again when it missed our answer).
Two ways in: `manage.py sms_inbound` and Tencent Cloud's reply callback (sms_views.py).
"""

import logging
import unicodedata
from datetime import datetime

from .phones import mask_phone
from .services import member_by_phone, member_marketing_set

log = logging.getLogger("huiyuan.sms")

UNSUBSCRIBE_WORDS = frozenset({"T", "TD", "退订", "N", "取消", "R"})


class Reply:
    """What a reply did."""

    IGNORED = "ignored"  # not an unsubscribe word
    UNKNOWN = "unknown"  # no member has this phone
    UNCHANGED = "unchanged"  # consent was withdrawn already
    UNSUBSCRIBED = "unsubscribed"


def is_unsubscribe(text: str) -> bool:
    """T, td, ＴＤ, " 退订。" ... : the reply's one word, in any case and width."""
    word = unicodedata.normalize("NFKC", text or "").strip().strip("。.!！").strip()
    return word.upper() in UNSUBSCRIBE_WORDS


def sms_reply_record(*, phone: str, text: str, now: datetime | None = None) -> str:
    """Act on one reply from `phone` (any written form); a Reply value.

    Raises ValidationError when `phone` is not a mobile number."""
    if not is_unsubscribe(text):
        return Reply.IGNORED
    member = member_by_phone(phone)
    if member is None:
        return Reply.UNKNOWN
    if not member_marketing_set(member=member, consent=False, now=now):
        return Reply.UNCHANGED
    log.info("marketing consent withdrawn by SMS reply from %s", mask_phone(member.phone))
    return Reply.UNSUBSCRIBED
