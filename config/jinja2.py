"""The Jinja2 environment of the templates under templates/jinja2/ (settings.TEMPLATES).

Those templates are translated like the Django ones: `{{ _("text") }}` is also Django
template syntax, so `makemessages` finds the strings in them, and a string with a
placeholder is `{{ _("%(n)s points")|format(n=...) }}` (the msgid blocktranslate makes).
"""

from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.translation import gettext, ngettext
from jinja2 import Environment


def url(name: str, *args) -> str:
    """`{% url name arg %}`: url("staff:card", member.member_no)."""
    return reverse(name, args=args)


def date(value, format_string: str) -> str:
    """Django's `date` filter: an aware datetime in the current time zone, then formatted."""
    if value is None or value == "":
        return ""
    if hasattr(value, "tzinfo") and timezone.is_aware(value):
        value = timezone.localtime(value)
    return dateformat.format(value, format_string)


def environment(**options) -> Environment:
    env = Environment(**options)
    env.globals.update(url=url, _=gettext, gettext=gettext, ngettext=ngettext)
    env.filters["date"] = date
    return env
