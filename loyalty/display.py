"""How loyalty's dates and numbers are written for people, one way on every screen:
the counter, the receipt, the admin and the member centre (issue #24).

The templates reach these through {% load loyalty_display %} (loyalty/templatetags);
the counter's Jinja card gets the strings ready-made from its selectors.
"""

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _

from .dates import last_valid_day, local_day_bounds
from .models import Purchase, StoredValueEntry

DAY_FORMAT = "%Y-%m-%d"  # 2026-12-31: every day a member or a clerk reads


def last_day(value: dt.date | dt.datetime | str | None) -> dt.date | None:
    """The last valid day of `value`: an exclusive end (a coupon's valid_until, a points
    lot's expires_at: loyalty.dates.last_valid_day) or a day that is one already (a date,
    or its ISO text: a count card's last_day)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return last_valid_day(value)
    return value


def day_text(value: dt.date | dt.datetime | None) -> str:
    """2026-12-31 (last_day of `value`), or "" for none."""
    day = last_day(value)
    return day.strftime(DAY_FORMAT) if day else ""


def valid_through(value: dt.date | dt.datetime | None) -> str:
    """有效期至 2026-12-31 ("valid until 2026-12-31", the last day it can be used): what a
    coupon, or anything valid until `value`, says of its validity wherever it is shown."""
    text = day_text(value)
    return _("valid until %(day)s") % {"day": text} if text else ""


def _day_number(rows, time_field: str, store, at: dt.datetime, pk: int, prefix="") -> str:
    """STORE-YYYYMMDD-NNNN: the row's place among its store's rows of that (Shanghai)
    day, in the order they were recorded (pk): a row recorded later never renumbers an
    earlier one. Counted on the (store, time) index: one store's day."""
    day = timezone.localdate(at)
    start, end = local_day_bounds(day)
    seq = rows.filter(**{f"{time_field}__gte": start, f"{time_field}__lt": end}, pk__lte=pk).count()
    code = store.code.upper() if store is not None else ""
    parts = [code, day.strftime("%Y%m%d"), f"{prefix}{max(seq, 1):04d}"]
    return "-".join(part for part in parts if part)


def receipt_number(purchase: Purchase) -> str:
    """The receipt's order number, short and readable: SH01-20261231-0012, the 12th
    purchase of store SH01 that day (the external_ref stays the key)."""
    rows = Purchase.objects.filter(store_id=purchase.store_id)
    return _day_number(rows, "occurred_at", purchase.store, purchase.occurred_at, purchase.pk)


def slip_number(entry: StoredValueEntry) -> str:
    """A stored-value slip's number: SH01-20261231-SV0003, the store's 3rd that day."""
    rows = StoredValueEntry.objects.filter(store_id=entry.store_id)
    return _day_number(rows, "created_at", entry.store, entry.created_at, entry.pk, prefix="SV")
