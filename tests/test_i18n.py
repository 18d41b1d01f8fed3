"""The Simplified Chinese catalog stays complete, compiled, and in use.

Fails when a new string was extracted but not translated (or left fuzzy), when
the .po was edited without `make messages` recompiling the .mo, and when the
pages stop following the visitor's language (Chinese by default).
"""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings

CATALOG_DIR = Path(settings.LOCALE_PATHS[0]) / "zh_Hans" / "LC_MESSAGES"
PO_PATH = CATALOG_DIR / "django.po"
MO_PATH = CATALOG_DIR / "django.mo"
FIX = "translate them in locale/zh_Hans/LC_MESSAGES/django.po, then run `make messages`"


@pytest.fixture(scope="module")
def po():
    assert PO_PATH.exists(), f"{PO_PATH} is missing: run `make messages`"
    return polib.pofile(str(PO_PATH))


def _live(entries):
    return [e for e in entries if not e.obsolete]


def test_catalog_declares_one_plural_form(po):
    assert po.metadata.get("Plural-Forms", "").replace(" ", "").startswith("nplurals=1;")
    extra = [e.msgid for e in _live(po) if e.msgid_plural and set(e.msgstr_plural) != {0}]
    assert not extra, f"Chinese has one plural form (msgstr[0] only), not so in: {extra}"


def test_every_entry_is_translated(po):
    untranslated = [e.msgid for e in _live(po.untranslated_entries())]
    assert not untranslated, f"{len(untranslated)} untranslated msgid(s), {FIX}: {untranslated}"


def test_no_entry_is_fuzzy(po):
    fuzzy = [e.msgid for e in _live(po.fuzzy_entries())]
    assert not fuzzy, (
        f"{len(fuzzy)} fuzzy msgid(s) (check the translation, then delete the "
        f"'#, fuzzy' line; fuzzy entries are left out of the .mo): {fuzzy}"
    )


def test_jinja_templates_strings_are_in_the_catalog(po):
    """templates/jinja2/ (the counter's card) is translated through `{{ _("...") }}`,
    which makemessages reads as Django syntax: each such string must be a live msgid
    (a Jinja-only form such as `{% trans %}` would be missed by makemessages)."""
    live = {e.msgid for e in _live(po)}
    jinja_dir = Path(settings.BASE_DIR) / "templates" / "jinja2"
    templates = sorted(jinja_dir.rglob("*.html"))
    assert templates
    missing, forms = [], []
    for path in templates:
        text = path.read_text()
        missing += [(path.name, m) for m in _JINJA_STRING.findall(text) if m not in live]
        forms += [(path.name, f) for f in ("{% trans", "gettext(", "_('") if f in text]
    assert not missing, f"not in the catalog, run `make messages` and {FIX}: {missing}"
    assert not forms, f'write {{{{ _("...") }}}} so that makemessages finds it: {forms}'


_JINJA_STRING = re.compile(r'\b_\("((?:[^"\\]|\\.)*)"\)')


# %(name)s, %(n)d, %(total).1f ... and {name} (str.format)
_PLACEHOLDER = re.compile(r"%\(\w+\)[#0 +-]*\d*(?:\.\d+)?[sdifr]|\{\w*\}")


def _placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def test_translations_keep_placeholders(po):
    wrong = []
    for e in _live(po.translated_entries()):
        source = e.msgid_plural or e.msgid
        translations = e.msgstr_plural.values() if e.msgid_plural else [e.msgstr]
        for text in translations:
            if _placeholders(text) != _placeholders(source):
                wrong.append((e.msgid, text))
    assert not wrong, f"placeholders changed by the translation: {wrong}"


def _entries_of(mo: polib.MOFile) -> set[tuple]:
    return {
        (
            e.msgctxt,
            e.msgid,
            e.msgid_plural,
            e.msgstr,
            tuple(sorted(e.msgstr_plural.items())),
        )
        for e in mo
    }


def test_compiled_catalog_matches_po(po, tmp_path):
    """The committed .mo holds exactly what compiling the .po gives now."""
    assert MO_PATH.exists(), f"{MO_PATH} is missing: run `make messages`"
    fresh_path = tmp_path / "django.mo"
    po.save_as_mofile(str(fresh_path))
    expected = _entries_of(polib.mofile(str(fresh_path)))
    committed = _entries_of(polib.mofile(str(MO_PATH)))
    stale = sorted((e[1], e[3] or dict(e[4])) for e in committed - expected)
    missing = sorted((e[1], e[3] or dict(e[4])) for e in expected - committed)
    assert not (stale or missing), (
        "django.mo is out of date with django.po: run `make messages` "
        f"(or manage.py compilemessages). Missing from .mo: {missing}; "
        f"only in .mo: {stale}"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "accept_language, lang",
    [
        (None, "zh-hans"),  # no header: LANGUAGE_CODE
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-hans"),  # a browser in mainland China
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
    ],
)
def test_login_page_follows_the_language(client, accept_language, lang):
    headers = {"HTTP_ACCEPT_LANGUAGE": accept_language} if accept_language else {}
    response = client.get("/accounts/login/", **headers)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{lang}">' in html
    if lang == "en":
        assert "Staff login" in html
        assert "员工登录" not in html
    else:
        assert "员工登录" in html
        assert "Staff login" not in html
        assert "Log in" not in html


@pytest.mark.django_db
def test_third_party_admin_names_and_the_picker_are_chinese(owner_client):
    """django-axes, django-q2 and the admin's two-box picker (config/apps.py)."""
    index = owner_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "登录保护" in index and "任务队列" in index and "登录尝试" in index
    assert "Axes" not in index and "Django Q" not in index and "Access attempts" not in index
    catalog = owner_client.get("/admin/jsi18n/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "\\u5168\\u9009%s" in catalog or "全选%s" in catalog  # "Choose all %s"
