"""Days and months as the merchant counts them: Shanghai days (TIME_ZONE), whatever
the server's clock zone."""

import calendar
import datetime as dt

from django.utils import timezone


def local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(
        dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone()
    )


def last_valid_day(end: dt.datetime, zone=None) -> dt.date:
    """The last day (local) of something valid until `end`, exclusive: a coupon's
    valid_until, a lot's expires_at. An end at midnight is the day before's end."""
    return timezone.localdate(end - dt.timedelta(microseconds=1), zone)


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return local_midnight(day), local_midnight(day + dt.timedelta(days=1))
