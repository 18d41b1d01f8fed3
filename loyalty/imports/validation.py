"""Every cell of a row checked and converted, every problem named with its column.

A cell left empty means "the file has no value": a new member gets the default,
an existing member keeps what they have. A row with any problem is not imported
at all; it comes back in the error file with all of its problems.
"""

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from members.crypto import phone_hasher
from members.models import Member, Store, Tag
from members.phones import normalize_phone

from ..money import MAX_AMOUNT, yuan
from . import phones
from .columns import COLUMNS
from .matching import CountCardMatcher, TierMatcher, Unmatched, fold_name
from .reading import CONTROL
from .report import FORMULA_STARTS

NAME_MAX = Member._meta.get_field("name").max_length
TAG_MAX = Tag._meta.get_field("name").max_length
EMAIL_MAX = 254
ADDRESS_MAX = 1000
NOTE_MAX = 2000
CATEGORY_MAX = 40
ORDER_NO_MAX = 50
POINTS_MAX = 100_000_000
COUNT_MAX = 1_000_000
MONEY_MAX = Decimal("9999999999.99")
EXCEL_EPOCH = dt.date(1899, 12, 30)
# A bare number is read as an Excel serial (a date cell that lost its format: a CSV
# saved from a General column) only from 10000 (1927-05-18) to 99999: a smaller one is
# far likelier a year (1990) or a day (12) than a date before 1927, and is refused.
SERIAL_MIN = 10_000
YEARS = range(1900, 2101)  # a bare number in here is "a year alone", said as such
EARLIEST_DAY = dt.date(1900, 1, 1)
UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

GENDERS = {
    # 1 and 2 (0 unknown): WeChat's user info, and the systems that copy it.
    **dict.fromkeys(
        ("男", "男性", "先生", "男士", "m", "male", "man", "boy", "1"), Member.Gender.MALE
    ),
    **dict.fromkeys(
        ("女", "女性", "女士", "小姐", "f", "female", "woman", "girl", "2"), Member.Gender.FEMALE
    ),
    **dict.fromkeys(("未知", "保密", "不详", "其他", "-", "u", "unknown", "n/a", "na", "0"), None),
}
CONSENTS = {
    **dict.fromkeys(("是", "同意", "1", "yes", "y", "true"), True),
    **dict.fromkeys(("否", "不同意", "0", "no", "n", "false"), False),
}
_TAG_SPLIT = re.compile(r"[,，;；、|]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[T\s]+(\d{1,2})[:：](\d{1,2})(?:[:：](\d{1,2}(?:\.\d+)?))?)?\s*(?:Z|[+-]\d\d:?\d\d)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SERIAL = re.compile(r"^[1-9]\d{4}(?:\.\d+)?$")  # SERIAL_MIN to 99999, maybe a time
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_MONEY_NOISE = re.compile(r"[,\s¥￥元]|rmb|cny", re.I)
_WECHAT_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")  # an openid (28) or a unionid (28-29)
USES_MAX = 10_000


# Columns whose value lands on the row under another name (ids, not names).
ATTRIBUTES = {"tier": "tier_id", "store": "store_id"}


class Problem(Exception):
    """A cell's value is wrong; the message says why, for the report."""


@dataclass(slots=True)
class MemberRow:
    line: int
    cells: list
    e164: str = ""
    phone_hash: str = ""
    name: str | None = None
    gender: str | None = None
    birthday: dt.date | None = None
    email: str | None = None
    addresses: str | None = None
    note: str | None = None
    points: int | None = None
    # Stored value (储值) as the file says it, each None when it does not (check_stored):
    # the whole balance, what of it was paid in, what of it was bonus.
    stored_value: Decimal | None = None
    stored_principal: Decimal | None = None
    stored_bonus: Decimal | None = None
    tier_id: int | None = None
    total_spent: Decimal | None = None
    purchase_count: int | None = None
    last_purchase_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    tags: list[str] = field(default_factory=list)
    store_id: int | None = None
    member_no: str | None = None
    marketing_consent: bool | None = None
    growth_value: int | None = None
    wechat_openid: str | None = None
    wechat_unionid: str | None = None
    referrer_phone: str | None = None  # E.164, the inviter's
    count_card: int | None = None  # a CountCardTemplate's id
    count_card_uses: int | None = None


@dataclass(slots=True)
class PurchaseRow:
    line: int
    cells: list
    e164: str = ""
    phone_hash: str = ""
    order_no: str | None = None
    amount: Decimal | None = None
    occurred_at: dt.datetime | None = None
    store_id: int | None = None
    category: str | None = None


# --- values ---------------------------------------------------------------------------


def is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def unguarded(value: str) -> str:
    """A text cell as meant: without the guard against formulas (report.safe_text) that
    our export and error file put in front of it; a control character (reading.CONTROL)
    is a problem of the cell, never stored (PostgreSQL refuses NUL in any text)."""
    if value.isprintable() and value[:1] != "'":
        return value  # nearly every cell: one call in C
    if found := CONTROL.search(value):
        raise Problem(
            _("The cell contains a control character (%(code)s), which is not text: delete it.")
            % {"code": f"U+{ord(found[0]):04X}"}
        )
    stripped = value.strip()
    if stripped[:1] == "'" and stripped[1:2] in FORMULA_STARTS:
        return stripped[1:].strip()
    return value


def text(value, limit: int) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    result = unguarded(str(value).strip()).strip()
    if len(result) > limit:
        raise Problem(
            _("Too long: %(length)d characters, at most %(limit)d.")
            % {"length": len(result), "limit": limit}
        )
    return result


def gender(value) -> str | None:
    if value in GENDERS:  # as written: most files say 男 / 女
        return GENDERS[value]
    key = unicodedata.normalize("NFKC", str(value)).strip().lower()
    if key not in GENDERS:
        raise Problem(_("“%(value)s” is not a gender (男/女, M/F).") % {"value": value})
    return GENDERS[key]


def yes_or_no(value) -> bool:
    """Yes or no: 是/否, Y/N, yes/no, true/false, 1/0 (an Excel TRUE or 1 cell too)."""
    if isinstance(value, bool | int | float) and value in (0, 1):
        return bool(value)
    key = unicodedata.normalize("NFKC", str(value)).strip().lower()
    if key not in CONSENTS:
        raise Problem(
            _("“%(value)s” is not yes or no (%(examples)s).")
            % {"value": value, "examples": "是/否, Y/N, 1/0"}
        )
    return CONSENTS[key]


def day(value) -> dt.date:
    """A date as people and Excel write it; raises Problem."""
    if value.__class__ is str and len(value) == 10 and value[4] == value[7] == "-":
        try:  # 1990-01-02, by far the most common: without the regex
            return dt.date(int(value[:4]), int(value[5:7]), int(value[8:]))
        except ValueError:
            pass
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        raise Problem(_("“%(value)s” is not a date.") % {"value": value})
    if isinstance(value, int | float):
        value = str(int(value)) if float(value).is_integer() else str(value)
    raw = unicodedata.normalize("NFKC", str(value)).strip()
    try:
        if found := _DATE.match(raw):
            return dt.date(int(found[1]), int(found[2]), int(found[3]))
        if found := _COMPACT_DATE.match(raw):
            return dt.date(int(found[1]), int(found[2]), int(found[3]))
        if _SERIAL.match(raw):
            return EXCEL_EPOCH + dt.timedelta(days=int(float(raw)))
    except (ValueError, OverflowError):
        pass
    raise _not_a_date(value, raw)


def _not_a_date(value, raw: str) -> Problem:
    """Why `raw` is no date: a bare number (a year, a day) gets its own message."""
    if _NUMBER.match(raw) and (number := float(raw)) < SERIAL_MIN:
        if number.is_integer() and int(number) in YEARS:
            return Problem(
                _("“%(value)s” is a year alone, not a date (write it as 1990-01-02).")
                % {"value": value}
            )
        return Problem(
            _(
                "“%(value)s” is a number, not a date: only numbers from 10000 (Excel's "
                "1927-05-18) are read as Excel dates. Write it as 1990-01-02."
            )
            % {"value": value}
        )
    return Problem(_("“%(value)s” is not a date (write it as 1990-01-02).") % {"value": value})


_PLAIN_MOMENT = re.compile(
    r"(\d{4})([-/])(\d{1,2})\2(\d{1,2}) (\d{1,2}):(\d{1,2})(?::(\d{1,2}))?", re.A
)


def _plain_moment(value: str, tz) -> dt.datetime | None:
    """2025/10/15 10:15 or 2025-10-15 10:15:00 (what Excel and most systems write), one
    match without the normalising; None for anything else, which then goes the long way."""
    found = _PLAIN_MOMENT.fullmatch(value)
    if found is None:
        return None
    year, _sep, month, day, hour, minute, second = found.groups()
    try:
        return dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=tz
        )
    except ValueError:
        raise Problem(_("“%(value)s” is not a date.") % {"value": value}) from None


def moment(value) -> dt.datetime:
    """A date and time in Shanghai (a date alone: its midnight); raises Problem."""
    tz = timezone.get_default_timezone()
    if value.__class__ is str and value.isascii() and (plain := _plain_moment(value, tz)):
        return plain
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, tz)
    raw = value
    if isinstance(value, str):
        raw = unicodedata.normalize("NFKC", value).strip()
        found = _DATE.match(raw)
        if found and found[4] is not None:
            try:
                return dt.datetime(
                    int(found[1]), int(found[2]), int(found[3]),
                    int(found[4]), int(found[5]), int(float(found[6] or 0)), tzinfo=tz,
                )  # fmt: skip
            except ValueError:
                raise Problem(_("“%(value)s” is not a date.") % {"value": value}) from None
        if "." in raw and _SERIAL.match(raw):
            naive = dt.datetime.combine(EXCEL_EPOCH, dt.time.min) + dt.timedelta(days=float(raw))
            return timezone.make_aware(naive.replace(microsecond=0), tz)
    if isinstance(value, float) and not value.is_integer() and SERIAL_MIN <= value < 100_000:
        naive = dt.datetime.combine(EXCEL_EPOCH, dt.time.min) + dt.timedelta(days=value)
        return timezone.make_aware(naive.replace(microsecond=0), tz)
    return timezone.make_aware(dt.datetime.combine(day(value), dt.time.min), tz)


def whole(value, limit: int) -> int:
    if isinstance(value, bool):
        raise Problem(_("“%(value)s” is not a whole number.") % {"value": value})
    if value.__class__ is str and value.isascii() and value.isdigit() and len(value) < 19:
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        raw = unicodedata.normalize("NFKC", str(value)).replace(",", "").replace(" ", "")
        try:
            number = Decimal(raw)
            integral = number.is_finite() and number == number.to_integral_value()
        except InvalidOperation:
            integral = False
        if not integral:
            raise Problem(_("“%(value)s” is not a whole number.") % {"value": value})
    if number < 0:
        raise Problem(_("Cannot be negative (%(value)s).") % {"value": value})
    if number > limit:
        raise Problem(_("Too large: at most %(limit)s.") % {"limit": f"{limit:,}"})
    # Made an int only now, within the limit: 1e999999 as an int has a million digits.
    return int(number)


def money(value) -> Decimal:
    if isinstance(value, bool):
        raise Problem(_("“%(value)s” is not an amount.") % {"value": value})
    if value.__class__ is str and value.isascii() and value.replace(".", "", 1).isdigit():
        raw = value  # 1234.50: nothing to clean
    else:
        raw = _MONEY_NOISE.sub("", unicodedata.normalize("NFKC", str(value)))
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise Problem(_("“%(value)s” is not an amount.") % {"value": value}) from None
    if not amount.is_finite():
        raise Problem(_("“%(value)s” is not an amount.") % {"value": value})
    if amount < 0:
        raise Problem(_("Cannot be negative (%(value)s).") % {"value": value})
    # Checked before rounding too: 1e30 cannot even be rounded to the fen.
    if amount > MONEY_MAX or (amount := yuan(amount)) > MONEY_MAX:
        raise Problem(_("Too large: at most %(limit)s.") % {"limit": f"{MONEY_MAX:,}"})
    return amount


def stored_money(value) -> Decimal:
    """Stored value: an amount as `money` reads it, at most what one top-up may be."""
    amount = money(value)
    if amount > MAX_AMOUNT:
        raise Problem(_("Too large: at most %(limit)s.") % {"limit": f"{MAX_AMOUNT:,}"})
    return amount


# --- rows -----------------------------------------------------------------------------


class Validator:
    """Checks rows of one file against this merchant's tiers and stores, as of `now`."""

    def __init__(self, *, kind: str, mapping: dict[str, str], headers: list[str], now=None):
        self.kind = kind
        self.now = now or timezone.now()
        self.today = timezone.localdate(self.now)
        self.latest = self.now + dt.timedelta(days=1)
        self.columns = [
            (int(index), key, headers[int(index)] if int(index) < len(headers) else key)
            for index, key in sorted(mapping.items(), key=lambda item: int(item[0]))
            if key
        ]
        self.tiers = TierMatcher()
        self.totals: list[int] = []  # lines of totals rows skipped (runner._chunk)
        self.earliest: dt.datetime | None = None  # of the good rows' dates (runner._chunk)
        self.stores = {}
        stores = list(Store.objects.all())
        for store in stores:
            self.stores[fold_name(store.name)] = self.stores[store.name] = store.pk
        for store in stores:  # a code wins over another store's name
            self.stores[fold_name(store.code)] = self.stores[store.code] = store.pk
        self.row_class = MemberRow if kind == "members" else PurchaseRow
        self.required = {c.key for c in COLUMNS[kind] if c.required}
        self.hash = phone_hasher()  # members.crypto.phone_hash, the key read once
        self.region = settings.PHONE_REGION  # normalize_phone's default, read once too

    def header_of(self, key: str) -> str:
        return next((header for _i, k, header in self.columns if k == key), key)

    def phone_of(self, cells: list, key: str = "phone") -> str | None:
        """The row's normalised phone (the pre-pass), or its inviter's (key
        "referrer_phone": referrers.py); None when there is none or a bad one."""
        value = self._cell(cells, key)
        try:
            return self._phone_or_none(unguarded(value) if value.__class__ is str else value)
        except Problem:  # a control character
            return None

    @cached_property
    def _index_of(self) -> dict[str, int]:
        """{field: index of the first column mapped to it}."""
        found = {}
        for index, key, _header in self.columns:
            found.setdefault(key, index)
        return found

    def _cell(self, cells: list, key: str):
        """The row's cell of the column mapped to `key`; None when there is none."""
        index = self._index_of.get(key)
        return cells[index] if index is not None and index < len(cells) else None

    def order_key_of(self, cells: list) -> int | None:
        """The row's order number as a key (order_key), or None (none, or a bad one):
        the pre-pass of a purchase file."""
        value = self._cell(cells, "order_no")
        if value is None or value == "":
            return None
        try:
            order_no = text(value, ORDER_NO_MAX)
        except Problem:
            return None
        return order_key(order_no) if order_no else None

    def validate(self, line: int, cells: list):
        """(row, problems): problems is [[column header, message], ...], empty when good."""
        row = self.row_class(line=line, cells=cells)
        problems = []
        width = len(cells)
        for index, header, attribute, convert, required in self.plan:
            value = cells[index] if index < width else None
            if value.__class__ is str and not (value.isprintable() and value[:1] != "'"):
                try:  # a control character, a line break, a guard against formulas ...
                    value = unguarded(value)
                except Problem as exc:
                    problems.append([header, str(exc)])
                    continue
            if convert is None:  # the phone
                raw = phones.phone_text(value)
                if not raw:
                    problems.append([header, _("A mobile number is required.")])
                    continue
                if "*" in raw or "＊" in raw:
                    problems.append([header, masked_message(raw)])
                    continue
                try:
                    row.e164 = normalize_phone(raw, self.region)
                except ValidationError as exc:
                    problems.append([header, exc.messages[0]])
                    continue
                row.phone_hash = self.hash(row.e164)
                continue
            if value is None or value == "" or (value.__class__ is str and value.isspace()):
                if required:
                    problems.append([header, _("A value is required.")])
                continue
            try:
                setattr(row, attribute, convert(value))
            except Problem as exc:
                problems.append([header, str(exc)])
        if len(self.stored_columns) > 1:  # one figure alone has nothing to agree with
            self.check_stored(row, problems)
        if self.count_card_columns and (
            (row.count_card is None and row.count_card_uses)  # uses of no package
            or (row.count_card is not None and row.count_card_uses is None)
        ):  # no package and 0 uses (a POS's row without a count card) is nothing to import
            problems.append([self.header_of("count_card"), count_card_pair_message()])
        return row, problems

    @cached_property
    def count_card_columns(self) -> bool:
        """Whether the file names count cards: the package and the uses left go together."""
        return any(key in ("count_card", "count_card_uses") for _i, key, _h in self.columns)

    @cached_property
    def plan(self) -> list[tuple]:
        """Per mapped column: (index, header, row attribute, converter, required);
        the phone's converter is None (it is checked in validate itself)."""
        return [
            (
                index,
                header,
                ATTRIBUTES.get(key, key),
                None if key == "phone" else self.converters[key],
                key in self.required,
            )  # fmt: skip
            for index, key, header in self.columns
        ]

    @cached_property
    def converters(self) -> dict:
        return {
            "name": lambda v: text(v, NAME_MAX),
            "gender": gender,
            "birthday": self._birthday,
            "email": self._email,
            "addresses": lambda v: text(v, ADDRESS_MAX),
            "note": lambda v: text(v, NOTE_MAX),
            "points": lambda v: whole(v, POINTS_MAX),
            "purchase_count": lambda v: whole(v, COUNT_MAX),
            "total_spent": money,
            "stored_value": stored_money,
            "stored_principal": stored_money,
            "stored_bonus": stored_money,
            "amount": money,
            "created_at": self._moment,
            "last_purchase_at": self._moment,
            "occurred_at": self._when_it_happened,
            "tier": self._tier,
            "store": self._store,
            "tags": self._tags,
            "order_no": lambda v: text(v, ORDER_NO_MAX),
            "member_no": lambda v: text(v, ORDER_NO_MAX),
            "category": lambda v: text(v, CATEGORY_MAX),
            "marketing_consent": yes_or_no,
            "growth_value": lambda v: whole(v, POINTS_MAX),
            "wechat_openid": wechat_id,
            "wechat_unionid": wechat_id,
            "referrer_phone": self._phone_or_none,
            "count_card": self._count_card,
            "count_card_uses": lambda v: whole(v, USES_MAX),
        }

    @cached_property
    def stored_columns(self) -> list[str]:
        """The stored-value fields mapped, in the order their figures are derived."""
        mapped = {key for _i, key, _h in self.columns}
        return [k for k in ("stored_value", "stored_principal", "stored_bonus") if k in mapped]

    def check_stored(self, row: MemberRow, problems: list) -> None:
        """The row's stored value as one opening: of the balance, the paid-in part and the
        bonus, any two given make the third (balance = paid in + bonus) and all three
        must agree; one alone stays alone (opening_stored_value.opening_of). The cap is
        the writer's to check (OpeningStoredValue.problem): it holds an opening to it,
        not the figures of our own export coming back, nor an opening imported before."""
        balance, principal, bonus = row.stored_value, row.stored_principal, row.stored_bonus
        given = sum(v is not None for v in (balance, principal, bonus))
        if given == 2:
            if balance is None:
                balance = row.stored_value = principal + bonus
            elif principal is None:
                principal = row.stored_principal = balance - bonus
            else:
                bonus = row.stored_bonus = balance - principal
        header = self.header_of(self.stored_columns[0])
        if given >= 2 and (principal < 0 or bonus < 0 or balance != principal + bonus):
            message = _(
                "The stored value balance must be what was paid in plus the bonus: here "
                "the balance is %(balance)s, paid in %(principal)s, bonus %(bonus)s."
            ) % {"balance": balance, "principal": principal, "bonus": bonus}
            problems.append([header, message])

    def _birthday(self, value) -> dt.date:
        birthday = day(value)
        if birthday > self.today:
            raise Problem(_("A birthday cannot be in the future (%(day)s).") % {"day": birthday})
        if birthday < EARLIEST_DAY:
            raise Problem(_("“%(value)s” is not a date.") % {"value": value})
        return birthday

    def _email(self, value) -> str:
        email = text(value, EMAIL_MAX)
        if not _EMAIL.match(email):
            raise Problem(_("“%(value)s” is not an e-mail address.") % {"value": email})
        return email

    def _when_it_happened(self, value) -> dt.datetime:
        """A purchase's time: required, so a zero timestamp is a problem, not no date."""
        when = self._moment(value)
        if when is None:
            raise Problem(_("“%(value)s” is not a date.") % {"value": value})
        return when

    def _moment(self, value) -> dt.datetime | None:
        when = moment(value)
        if when == UNIX_EPOCH:
            return None  # a zero timestamp written as a date (CRMEB): no date
        if when > self.latest:
            raise Problem(_("“%(value)s” is in the future.") % {"value": value})
        if when.date() < EARLIEST_DAY:
            raise Problem(_("“%(value)s” is not a date.") % {"value": value})
        return when

    def _tier(self, value) -> int:
        try:
            return self.tiers.match(value)
        except Unmatched as exc:
            raise Problem(str(exc)) from None

    def _count_card(self, value) -> int:
        try:
            return self.count_cards.match(text(value, 100))
        except Unmatched as exc:
            raise Problem(str(exc)) from None

    @cached_property
    def count_cards(self) -> CountCardMatcher:
        return CountCardMatcher()

    def _phone_or_none(self, value) -> str | None:
        """A cell as a normalised phone, or None when it is none (empty, masked, not a
        number): an inviter's so is no referrer, the member imported all the same."""
        raw = phones.phone_text(value)
        if not raw or "*" in raw or "＊" in raw:
            return None
        try:
            return normalize_phone(raw, self.region)
        except ValidationError:
            return None

    def _store(self, value) -> int:
        found = self.stores.get(value) if value.__class__ is str else None
        if found is None:
            found = self.stores.get(fold_name(text(value, 100)))
        if found is None:
            raise Problem(_("Unknown store “%(value)s” (code or name).") % {"value": value})
        return found

    def _tags(self, value) -> list[str]:
        names = []
        for part in _TAG_SPLIT.split(str(value)):
            name = part.strip()
            if not name:
                continue
            if len(name) > TAG_MAX:
                raise Problem(
                    _("Tag “%(tag)s…” is too long: at most %(limit)d characters.")
                    % {"tag": name[:10], "limit": TAG_MAX}
                )
            if name not in names:
                names.append(name)
        return names


def wechat_id(value) -> str:
    """An openid or a unionid: letters, digits, _ and -, 16 to 64 of them."""
    found = text(value, 64)
    if not _WECHAT_ID.match(found):
        raise Problem(_("“%(value)s” is not a WeChat openid or unionid.") % {"value": found})
    return found


def masked_message(raw: str) -> str:
    return _(
        "The mobile number is masked (%(value)s): the member cannot be found or reached by "
        "it. Export the full numbers from the old system (an owner's export shows them)."
    ) % {"value": raw}


def count_card_pair_message() -> str:
    return _("A count card needs both its package and the uses left: fill in both, or neither.")


def order_key(order_no: str) -> int:
    """An order number (as validated) as a signed 64-bit integer: the in-file duplicate
    key of a purchase file, 8 bytes a row in the pre-pass's array. Two different
    numbers share a key with a chance under 1 in 30 million in a file of 10^6 rows (they
    would both be refused as duplicates, never merged)."""
    digest = hashlib.blake2b(order_no.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _lines_shown(lines: list[int]) -> str:
    return ", ".join(str(n) for n in lines[:5]) + (" …" if len(lines) > 5 else "")


def duplicate_message(lines: list[int]) -> str:
    return _(
        "This mobile number is on %(count)d rows of the file (lines %(lines)s): none of "
        "them is imported. Keep one row."
    ) % {"count": len(lines), "lines": _lines_shown(lines)}


def duplicate_order_message(lines: list[int]) -> str:
    return _(
        "This order number is on %(count)d rows of the file (lines %(lines)s): none of "
        "them is imported. Keep one row."
    ) % {"count": len(lines), "lines": _lines_shown(lines)}
