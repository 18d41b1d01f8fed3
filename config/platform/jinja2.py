"""The Jinja2 environment of the templates under templates/jinja2/ (settings.TEMPLATES).

Those templates are translated like the Django ones: `{{ _("text") }}` is also Django
template syntax, so `makemessages` finds the strings in them, and a string with a
placeholder is `{{ _("%(n)s points")|format(n=...) }}` (the msgid blocktranslate makes).
"""

import re
import weakref

from django.urls import (
    NoReverseMatch,
    Resolver404,
    get_script_prefix,
    get_urlconf,
    resolve,
    reverse,
)
from django.utils import dateformat, timezone
from django.utils.translation import get_language, gettext, ngettext, trans_real
from jinja2 import Environment, nodes
from jinja2.utils import internalcode
from jinja2.visitor import NodeTransformer


def url(name: str, *args) -> str:
    """`{% url name arg %}`: url("staff:card", member.member_no), reverse()'s string.

    reverse() resolves the namespaces and checks the converters anew on every call: three
    links cost an eighth of a counter lookup. For arguments that are all digits (member
    numbers, ids) the URL is a shape remembered per name, argument lengths, URL conf,
    script prefix and language, made from reverse() itself and kept only when the route
    it resolves to has nothing but str and int converters (every digit string passes
    them, and quoting leaves digits alone) and the shape gives back that very URL. Any
    other case is reverse() as it is."""
    return _url(_scope(), name, args)


def _scope() -> tuple:
    """What else a reversed URL depends on, read once per render by `per_render`."""
    return get_urlconf(), get_script_prefix(), get_language()


def _url(scope: tuple, name: str, args: tuple) -> str:
    if not args or not all(_digits(arg) for arg in args):
        return reverse(name, args=args)
    lengths = tuple(len(str(arg)) for arg in args)
    key = (name, lengths, *scope)
    shape = _shapes.get(key, _UNKNOWN)
    if shape is _UNKNOWN:
        shape = _shapes[key] = _shape(name, lengths)
    if shape is None:
        return reverse(name, args=args)
    return shape.format(*args)


def _digits(value) -> bool:
    if type(value) is int:  # not bool
        return value >= 0
    return type(value) is str and value.isascii() and value.isdigit()


def _shape(name: str, lengths: tuple[int, ...]) -> str | None:
    probes = ["1" + "0" * (length - 1) for length in lengths]
    try:
        probe_url = reverse(name, args=probes)
        prefix = get_script_prefix()
        route = resolve("/" + probe_url.removeprefix(prefix)).route
    except (NoReverseMatch, Resolver404):
        return None
    tokens = _ROUTE_TOKEN.findall(route)
    if len(tokens) != len(probes) or any(
        converter not in ("", "str", "int") for converter in tokens
    ):
        return None
    escaped = route.replace("{", "{{").replace("}", "}}")
    shape = prefix + _ROUTE_TOKEN.sub("{}", escaped)
    return shape if shape.format(*probes) == probe_url else None


_ROUTE_TOKEN = re.compile(r"<(?:(\w+):)?\w+>")
_UNKNOWN = object()
_shapes: dict[tuple, str | None] = {}


def date(value, format_string: str) -> str:
    """Django's `date` filter: an aware datetime in the current time zone, then formatted."""
    if value is None or value == "":
        return ""
    if hasattr(value, "tzinfo") and timezone.is_aware(value):
        value = timezone.localtime(value)
    return dateformat.format(value, format_string)


def per_render(request) -> dict:
    """Context processor: `_` bound to the active language's catalog (for strings that are
    not literals: literals are translated when compiled) and `url` to the URL conf,
    script prefix and language, for one render. Django's gettext and url() would
    look them up again on every call (context-local reads: a tenth of the card's time
    with a dozen strings and three links); these are what they would find."""
    scope = _scope()
    found = {"url": lambda name, *args: _url(scope, name, args)}
    if scope[2] is not None:  # else translation is deactivated: Django's gettext as it is
        found["_"] = found["gettext"] = trans_real.translation(scope[2]).gettext
    return found


class _Environment(Environment):
    """Jinja's Environment, with each template compiled once per language: a literal
    string asked of the catalog, `{{ _("points") }}`, is translated when the template is
    compiled (the language active then), and so is part of the template's text, escaped
    once; only strings with values in them, `_("%(n)s points")|format(n=...)`, and
    strings that are not literals are translated at each render. A template is cached
    per name and language (Jinja caches per name); a Jinja bytecode cache, whose key
    knows no language, must not be configured."""

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        language = get_language()
        if language is None:  # translation deactivated: Django's gettext changes nothing
            return tree
        return _Translate(trans_real.translation(language).gettext).visit(tree)

    @internalcode
    def _load_template(self, name, globals):
        # Jinja's own, with the language in the cache key.
        if self.loader is None:
            raise TypeError("no loader for this environment specified")
        cache_key = (weakref.ref(self.loader), name, get_language())
        if self.cache is not None:
            template = self.cache.get(cache_key)
            if template is not None and (not self.auto_reload or template.is_up_to_date):
                if globals:
                    template.globals.update(globals)
                return template
        template = self.loader.load(self, name, self.make_globals(globals))
        if self.cache is not None:
            self.cache[cache_key] = template
        return template

    def make_globals(self, d):
        """A template's globals as one dict, not Jinja's ChainMap over the environment's:
        every render copies them into its context, and a ChainMap copies key by key in
        Python (a twentieth of the card's time). Jinja asks that globals not change
        after a template is loaded; these are set once, in `environment` below."""
        return {**self.globals, **(d or {})}


class _Translate(NodeTransformer):
    """`_("literal")` / `gettext("literal")` -> the literal's translation, a constant."""

    def __init__(self, translate):
        self.translate = translate

    def visit_Call(self, node):
        node = self.generic_visit(node)
        if (
            isinstance(node.node, nodes.Name)
            and node.node.name in ("_", "gettext")
            and len(node.args) == 1
            and isinstance(node.args[0], nodes.Const)
            and type(node.args[0].value) is str
            and not (node.kwargs or node.dyn_args or node.dyn_kwargs)
        ):
            return nodes.Const(self.translate(node.args[0].value), lineno=node.lineno)
        return node


def environment(**options) -> Environment:
    env = _Environment(**options)
    env.globals.update(url=url, _=gettext, gettext=gettext, ngettext=ngettext)
    env.filters["date"] = date
    return env
