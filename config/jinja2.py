"""The Jinja2 environment of the templates under templates/jinja2/ (settings.TEMPLATES).

Those templates are translated like the Django ones: `{{ _("text") }}` is also Django
template syntax, so `makemessages` finds the strings in them, and a string with a
placeholder is `{{ _("%(n)s points")|format(n=...) }}` (the msgid blocktranslate makes).
"""

from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.translation import get_language, gettext, ngettext, trans_real
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


def translations(request) -> dict:
    """Context processor: `_` bound to the active language's catalog for one render.
    Django's gettext looks the active language up again on every call (a context-local
    read), a tenth of the card's time with a dozen strings; this is the object it finds."""
    language = get_language()
    if language is None:  # translation deactivated: Django's gettext as it is
        return {}
    found = trans_real.translation(language).gettext
    return {"_": found, "gettext": found}


def environment(**options) -> Environment:
    env = Environment(**options)
    env.globals.update(url=url, _=gettext, gettext=gettext, ngettext=ngettext)
    env.filters["date"] = date
    return env
