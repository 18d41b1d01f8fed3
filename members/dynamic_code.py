"""The dynamic member code (动态会员码): what the card in the member centre shows to scan.

The member number on a card is fixed: a screenshot of it would spend someone's points.
The dynamic code changes every WINDOW_SECONDS, is signed with a key derived from the
server's SECRET_KEY, is accepted during its minute and the next (so 60 to 120 seconds
after it first shows, VALID_SECONDS at most), and a purchase
uses it once (`code_use`: a second purchase with the same code is refused).

A code is 18 ASCII digits, like WeChat's member-card dynamic codes, so a till's scanner
reads it as a Code128 barcode or a QR code: PREFIX, then 16 digits holding a 53-bit
number made of

    mac (MAC_BITS) | the window's last bit (1) | the member's id, masked (ID_BITS)

`mac` is an HMAC of the member's id and the window (minute); the mask is an HMAC of the
mac and the window, so the code shows neither the member's id nor their number and two
minutes' codes look unrelated. Reading one back: the window's last bit says whether it
is this minute's or the last one's; unmask the id, recompute the mac, compare. A guess
passes with a chance of 1 in 2^MAC_BITS (and names a member at random).

Nothing else is 18 digits starting with PREFIX: member numbers are 9 digits, phones 11
(13 with +86), coupon codes at most 16 letters and digits, WeChat Pay's payment codes
start 10-15 and Alipay's 25-30.
"""

import datetime as dt
import hmac
import unicodedata

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from .models import DynamicCodeUse, Member

PREFIX = "88"
DIGITS = 18
WINDOW_SECONDS = 60  # a new code every minute
VALID_SECONDS = 120  # a code is accepted for two minutes from its minute's start
ID_BITS = 28  # member ids up to 268 million
MAC_BITS = 24
PURGE_AFTER = dt.timedelta(days=1)  # used codes are kept this long (retries and audits)
PURGE_BATCH = 500

_SALT = "huiyuan.members.dynamic_code"
_ID_MASK = (1 << ID_BITS) - 1
_MAC_MASK = (1 << MAC_BITS) - 1
_LIMIT = 1 << (MAC_BITS + 1 + ID_BITS)  # the 16 digits hold a number below this


class DynamicCodeError(Exception):
    """A code that cannot be used: `code` is "invalid" (not a code, forged, expired,
    or the member's account is not active) or "used" (another purchase used it);
    `message` is for the clerk."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _window(now: dt.datetime | None) -> int:
    return int((now or timezone.now()).timestamp()) // WINDOW_SECONDS


def _number(purpose: str, text: str, mask: int) -> int:
    digest = salted_hmac(f"{_SALT}.{purpose}", text, algorithm="sha256").digest()
    return int.from_bytes(digest[:8], "big") & mask


def _mac(member_id: int, window: int) -> int:
    return _number("mac", f"{member_id}:{window}", _MAC_MASK)


def _id_pad(mac: int, window: int) -> int:
    return _number("pad", f"{mac}:{window}", _ID_MASK)


def code_digits(text: str) -> str:
    """A code as it is stored and compared: a scanner sends the digits; a clerk may type
    full-width ones or spaces (the card shows it in groups)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text or "") if not ch.isspace())


def _code(member_id: int, window: int) -> str:
    mac = _mac(member_id, window)
    value = (mac << (ID_BITS + 1)) | ((window & 1) << ID_BITS) | (member_id ^ _id_pad(mac, window))
    return f"{PREFIX}{value:0{DIGITS - len(PREFIX)}d}"


def code_for(member: Member, *, now: dt.datetime | None = None) -> str:
    """The member's code of this minute (of `now`'s)."""
    if not 0 < member.pk <= _ID_MASK:
        raise ValueError("member id out of the dynamic code's range")
    return _code(member.pk, _window(now))


def seconds_left(*, now: dt.datetime | None = None) -> int:
    """Seconds until the code changes (1 to WINDOW_SECONDS)."""
    return WINDOW_SECONDS - int((now or timezone.now()).timestamp()) % WINDOW_SECONDS


def looks_dynamic(text: str) -> bool:
    """True when `text` is written as a dynamic code (valid or not): 18 digits starting
    with PREFIX. Member numbers, phones and coupon codes never do."""
    digits = code_digits(text)
    return (
        len(digits) == DIGITS
        and digits.isascii()
        and digits.isdigit()
        and digits.startswith(PREFIX)
        and int(digits[len(PREFIX) :]) < _LIMIT
    )


def _member_id(digits: str, now: dt.datetime | None) -> int | None:
    """The member id a well-formed code names, when its signature holds now."""
    value = int(digits[len(PREFIX) :])
    mac, bit, masked = value >> (ID_BITS + 1), (value >> ID_BITS) & 1, value & _ID_MASK
    window = _window(now)
    if window & 1 != bit:  # the minute before's code, in its second minute
        window -= 1
    member_id = masked ^ _id_pad(mac, window)
    if member_id and hmac.compare_digest(_code(member_id, window), digits):
        return member_id
    return None


def member_for_code(text: str, *, now: dt.datetime | None = None) -> Member | None:
    """The active member whose valid code `text` is (this minute's or the last one's),
    else None: not a code, a forged or altered one, expired, or the account not active.
    Reading a code does not use it up (`code_use` does)."""
    if not looks_dynamic(text):
        return None
    member_id = _member_id(code_digits(text), now)
    if member_id is None:
        return None
    return Member.objects.filter(pk=member_id, status=Member.Status.ACTIVE).first()


def _invalid() -> DynamicCodeError:
    return DynamicCodeError(
        "invalid",
        _("This member code is not valid or has expired. Ask the member to refresh it."),
    )


def _used() -> DynamicCodeError:
    return DynamicCodeError(
        "used",
        _("This member code was already used. Ask the member for the next code (within a minute)."),
    )


def code_use(text: str, *, purchase_ref: str, now: dt.datetime | None = None) -> Member:
    """Use the code for the purchase `purchase_ref` (the caller's idempotency key, e.g.
    "purchase:<external_ref>"): returns its member. The same purchase again (a retry)
    gets the member again, even after the code expired; another purchase, or an
    invalid code, raises DynamicCodeError. A unique row per code makes two tills that
    scan it at once use it once."""
    if not looks_dynamic(text):
        raise _invalid()
    digits = code_digits(text)
    now = now or timezone.now()
    purchase_ref = str(purchase_ref)[:100]
    used = DynamicCodeUse.objects.filter(code=digits).select_related("member").first()
    if used is None:
        member = member_for_code(digits, now=now)
        if member is None:
            raise _invalid()
        try:
            with transaction.atomic():
                DynamicCodeUse.objects.create(
                    code=digits, member=member, purchase_ref=purchase_ref, used_at=now
                )
        except IntegrityError:  # another till used it meanwhile
            used = DynamicCodeUse.objects.filter(code=digits).select_related("member").first()
        else:
            _purge(now)
            return member
    if used is None or used.purchase_ref != purchase_ref:
        raise _used()
    if used.member.status != Member.Status.ACTIVE:
        raise _invalid()
    return used.member


def code_release(text: str, *, purchase_ref: str) -> None:
    """Give the code back when the purchase it was used for was refused (nothing
    recorded): the member need not wait for the next one."""
    DynamicCodeUse.objects.filter(
        code=code_digits(text), purchase_ref=str(purchase_ref)[:100]
    ).delete()


def code_used(text: str) -> bool:
    """True when a purchase has used the code."""
    return DynamicCodeUse.objects.filter(code=code_digits(text)).exists()


def _purge(now: dt.datetime) -> None:
    old = DynamicCodeUse.objects.filter(used_at__lt=now - PURGE_AFTER).values_list("pk", flat=True)
    ids = list(old[:PURGE_BATCH])
    if ids:
        DynamicCodeUse.objects.filter(pk__in=ids).delete()
