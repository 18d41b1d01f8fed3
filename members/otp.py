"""One-time SMS codes: send with limits, check with a bounded number of tries.

Limits (all counted in the database, so they hold across processes and hosts):
one code per phone per 60 s, 5 per phone per hour, 20 per IP per hour. A code
expires after 5 minutes and dies after 5 wrong tries; only the latest code of a
phone counts. Codes are stored as keyed hashes, never in clear.
"""

import datetime as dt
import hashlib
import hmac
import logging
import math
import secrets
import unicodedata

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from config.platform.fixed_sql import FixedRead, FixedUpdate

from . import crypto, sms
from .models import OneTimeCode
from .phones import normalize_phone

log = logging.getLogger("huiyuan.otp")

CODE_DIGITS = 6
CODE_MINUTES = 5
MAX_TRIES = 5
RESEND_SECONDS = 60
PER_PHONE_PER_HOUR = 5
PER_IP_PER_HOUR = 20
# A store's counter or a POS key asks for many members' pay codes an hour, all from one
# address: counted by that source instead, with a limit a busy shop stays under.
PER_SOURCE_PER_HOUR = 300
PURGE_AFTER = dt.timedelta(days=1)
PURGE_BATCH = 500


class OtpError(Exception):
    """A limit or a wrong code: `message` is for the person, `code` for tests and logs."""

    def __init__(self, code: str, message: str, *, retry_after: int = 0):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _keyed(purpose: str, value: str) -> str:
    key = f"huiyuan.otp.{purpose}:{settings.SECRET_KEY}".encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


LOGIN = "login"  # sign-in and registration
PAY = "pay"  # a large stored-value spend (loyalty.stored_value.stored_value_confirm)


def code_hash(phone_hash: str, code: str, purpose: str = LOGIN) -> str:
    # Keyed and bound to the phone: a leaked table does not give 6-digit codes away
    # by brute force, and one phone's code is no use for another. Bound to its purpose
    # too: a pay code the member reads out to a cashier cannot sign anyone in.
    if purpose == LOGIN:
        return _keyed("code", f"{phone_hash}:{code}")
    return _keyed("code", f"{purpose}:{phone_hash}:{code}")


def ip_hash(ip: str) -> str:
    return _keyed("ip", ip) if ip else ""


def _serialise(*names: str) -> None:
    """Make concurrent senders for the same phone or IP take turns.

    PostgreSQL: transaction-scoped advisory locks, taken in a fixed order (no
    deadlock). SQLite: the IMMEDIATE transaction already holds the write lock.
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted({int(hashlib.sha256(n.encode()).hexdigest()[:15], 16) for n in names if n})
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _minutes_left(oldest: dt.datetime, now: dt.datetime) -> int:
    return max(1, math.ceil((oldest + dt.timedelta(hours=1) - now).total_seconds() / 60))


@transaction.atomic
def _claim_send(
    *,
    phone_key: str,
    ip_key: str,
    now: dt.datetime,
    purpose: str = LOGIN,
    by_source: bool = False,
) -> tuple[OneTimeCode, str]:
    limit = PER_SOURCE_PER_HOUR if by_source else PER_IP_PER_HOUR
    _serialise(f"otp:phone:{phone_key}", f"otp:ip:{ip_key}")
    hour_ago = now - dt.timedelta(hours=1)
    recent = OneTimeCode.objects.filter(phone_hash=phone_key, created_at__gt=hour_ago)
    last = recent.filter(failed=False).order_by("-created_at").first()
    if last is not None and (now - last.created_at).total_seconds() < RESEND_SECONDS:
        wait = math.ceil(RESEND_SECONDS - (now - last.created_at).total_seconds())
        raise OtpError(
            "too_soon",
            ngettext(
                "A code was just sent. You can ask for another in %(n)d second.",
                "A code was just sent. You can ask for another in %(n)d seconds.",
                wait,
            )
            % {"n": wait},
            retry_after=wait,
        )
    times = list(recent.order_by("created_at").values_list("created_at", flat=True))
    if len(times) >= PER_PHONE_PER_HOUR:
        minutes = _minutes_left(times[0], now)
        raise OtpError(
            "phone_hourly",
            ngettext(
                "Too many codes for this number. Please try again in %(n)d minute.",
                "Too many codes for this number. Please try again in %(n)d minutes.",
                minutes,
            )
            % {"n": minutes},
            retry_after=minutes * 60,
        )
    if ip_key:
        by_ip = list(
            OneTimeCode.objects.filter(ip_hash=ip_key, created_at__gt=hour_ago)
            .order_by("created_at")
            .values_list("created_at", flat=True)[:limit]
        )
        if len(by_ip) >= limit and by_source:
            minutes = _minutes_left(by_ip[0], now)
            raise OtpError(
                "source_hourly",
                ngettext(
                    "Too many codes were sent from this store's counter or till this hour. "
                    "Please try again in %(n)d minute.",
                    "Too many codes were sent from this store's counter or till this hour. "
                    "Please try again in %(n)d minutes.",
                    minutes,
                )
                % {"n": minutes},
                retry_after=minutes * 60,
            )
        if len(by_ip) >= limit:
            minutes = _minutes_left(by_ip[0], now)
            raise OtpError(
                "ip_hourly",
                ngettext(
                    "Too many codes were requested from your network. "
                    "Please try again in %(n)d minute.",
                    "Too many codes were requested from your network. "
                    "Please try again in %(n)d minutes.",
                    minutes,
                )
                % {"n": minutes},
                retry_after=minutes * 60,
            )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row = OneTimeCode(
        phone_hash=phone_key,
        ip_hash=ip_key,
        code_hash=code_hash(phone_key, code, purpose),
        created_at=now,
        expires_at=now + dt.timedelta(minutes=CODE_MINUTES),
    )
    row.save(force_insert=True)
    return row, code


def _purge(now: dt.datetime) -> None:
    stale = OneTimeCode.objects.filter(created_at__lt=now - PURGE_AFTER).values_list(
        "pk", flat=True
    )[:PURGE_BATCH]
    ids = list(stale)
    if ids:
        OneTimeCode.objects.filter(pk__in=ids).delete()


def _sender(ip: str, source: str) -> str:
    """The key a sender's codes are counted by: a named source (a store's counter, a POS
    key) by its name, anyone else by their address."""
    return _keyed("source", source) if source else ip_hash(ip)


def otp_send(
    *,
    phone: str,
    ip: str = "",
    source: str = "",
    now: dt.datetime | None = None,
    purpose: str = LOGIN,
) -> dict:
    """Send a fresh code to `phone` (any written form). Raises ValidationError for a bad
    phone, OtpError for a limit, sms.SmsError when the provider failed. `source` names
    a staff sender ("store:12", "api_key:3"), counted apart from the addresses.

    Returns {"phone": E.164, "code": the code if the backend keeps it local, else None}.
    The SMS leaves after the row is committed: no network call inside the transaction.
    """
    now = now or timezone.now()
    e164 = normalize_phone(phone)
    row, code = _claim_send(
        phone_key=crypto.phone_hash(e164),
        ip_key=_sender(ip, source),
        now=now,
        purpose=purpose,
        by_source=bool(source),
    )
    try:
        backend = sms.send_code(phone=e164, code=code, minutes=CODE_MINUTES)
    except sms.SmsError:
        OneTimeCode.objects.filter(pk=row.pk).update(failed=True)
        raise
    _purge(now)
    return {"phone": e164, "code": code if backend.reveals_code else None}


def otp_issue(
    *, phone: str, ip: str = "", now: dt.datetime | None = None, purpose: str = PAY
) -> str:
    """A fresh code for `phone`, shown rather than sent: the member centre's one-time pay
    code (a signed-in member confirms a large stored-value spend with it). The same
    limits, lifetime and check (otp_check) as an SMS code; it replaces the latest one."""
    now = now or timezone.now()
    e164 = normalize_phone(phone)
    _row, code = _claim_send(
        phone_key=crypto.phone_hash(e164), ip_key=ip_hash(ip), now=now, purpose=purpose
    )
    _purge(now)
    return code


# Every sign-in and registration checks a code: the two statements written once.
_latest_code = FixedRead(
    OneTimeCode,
    "t0.phone_hash = %s AND t0.failed = %s",
    order_by="t0.created_at DESC, t0.id DESC",
    limit=1,
)
_use_code = FixedUpdate(OneTimeCode, ["used_at"], where=(("used_at", "IS NULL"), ("attempts", "<")))


def otp_check(
    *, phone: str, code: str, now: dt.datetime | None = None, purpose: str = LOGIN
) -> str:
    """Check `code` against the latest code sent to `phone` for `purpose`; use it up when
    right (a code of another purpose does not match).

    Returns the E.164 phone. Raises OtpError (no code, expired, wrong, too many tries,
    already used) or ValidationError for a bad phone.
    """
    now = now or timezone.now()
    e164 = normalize_phone(phone)
    phone_key = crypto.phone_hash(e164)
    row = _latest_code.first(phone_key, False)
    if row is None or row.used_at is not None:
        raise OtpError("no_code", _("Please ask for a code first."))
    if row.attempts >= MAX_TRIES:
        raise OtpError("dead", _("Too many wrong tries. Please ask for a new code."))
    if now >= row.expires_at:
        raise OtpError("expired", _("This code has expired. Please ask for a new one."))
    # Full-width digits from a Chinese keyboard count; spaces do not.
    code = "".join(ch for ch in unicodedata.normalize("NFKC", code or "") if not ch.isspace())
    if not constant_time_compare(row.code_hash, code_hash(phone_key, code, purpose)):
        # A conditional UPDATE: parallel guesses cannot get past MAX_TRIES together.
        counted = OneTimeCode.objects.filter(pk=row.pk, attempts__lt=MAX_TRIES).update(
            attempts=F("attempts") + 1
        )
        left = MAX_TRIES - row.attempts - 1
        if not counted or left <= 0:
            raise OtpError("dead", _("Too many wrong tries. Please ask for a new code."))
        raise OtpError(
            "wrong",
            ngettext(
                "That code is not right. %(n)d try left.",
                "That code is not right. %(n)d tries left.",
                left,
            )
            % {"n": left},
        )
    used = _use_code.set(row.pk, {"used_at": now}, MAX_TRIES)  # if unused, tries left
    if not used:  # the same code raced in from two tabs: only one wins
        raise OtpError("no_code", _("Please ask for a code first."))
    return e164
