"""{% load member_display %}: a member's phone and the privacy notice's version as people
read them.

{{ e164|phone }}          -> 138 0013 8000   (members.phones.format_phone)
{{ e164|masked_phone }}   -> 138 **** 8000   (members.phones.mask_phone)
{{ version|notice_version }} -> 2026-11-27 for the built-in notice (members.privacy)
"""

from django import template

from members.phones import format_phone, mask_phone
from members.privacy import version_label

register = template.Library()

register.filter("phone", format_phone)
register.filter("masked_phone", mask_phone)
register.filter("notice_version", version_label)
