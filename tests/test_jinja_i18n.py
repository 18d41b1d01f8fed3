"""config/platform/jinja2's environment translates literal strings when a template is compiled,
once per language: the text must be what Django's gettext gives at render time, in
whichever language is active, and strings that are not literals still translate."""

import pytest
from django.utils import translation
from jinja2 import DictLoader

from config.platform.jinja2 import environment, per_render

SOURCE = (
    '{{ _("Record a purchase") }}|{{ gettext("Member 360") }}|{{ _(word) }}|'
    '{{ _("Owes %(n)s points from a refund (repaid from the next earnings).")|format(n=7) }}|'
    '{{ _("<b>") }}'
)


@pytest.fixture
def env():
    return environment(loader=DictLoader({"t.html": SOURCE}), autoescape=True)


def _render(env, language):
    with translation.override(language):
        context = {"word": "points", **per_render(None)}
        return env.get_template("t.html").render(context)


def _expected(language):
    with translation.override(language):
        g = translation.gettext
        owes = g("Owes %(n)s points from a refund (repaid from the next earnings).")
        return "|".join(
            [g("Record a purchase"), g("Member 360"), g("points"), owes % {"n": 7}, "&lt;b&gt;"]
        )


def test_each_language_gets_its_own_compiled_text(env):
    zh, en = _render(env, "zh-hans"), _render(env, "en")
    assert zh == _expected("zh-hans") and "录入消费" in zh
    assert en == _expected("en") and en.startswith("Record a purchase|")
    assert _render(env, "zh-hans") == zh  # the cached template of each language, again
    assert len({key[2] for key in env.cache}) == 2


def test_literals_are_part_of_the_compiled_template(env):
    with translation.override("zh-hans"):
        template = env.get_template("t.html")
        code = env.compile(SOURCE, raw=True)
    assert "录入消费" in code and "Record a purchase" not in code
    assert template.render(word="x", _=lambda s: "called").startswith("录入消费|")


def test_translation_deactivated_leaves_the_strings_as_written(env):
    with translation.override(None):
        text = env.get_template("t.html").render({"word": "points", **per_render(None)})
    assert text.startswith("Record a purchase|Member 360|points|Owes 7 points")
