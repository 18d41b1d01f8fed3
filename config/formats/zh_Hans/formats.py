"""Dates and times under zh-hans as every staff screen and the member centre write them
(2026-12-07, 2026-12-07 09:30), so the admin's lists and forms say them the same way
and not a second way (Django's own zh_Hans: 2026年12月7日). Input formats and the rest
are Django's."""

from django.conf.locale.zh_Hans.formats import *  # noqa: F403

DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
