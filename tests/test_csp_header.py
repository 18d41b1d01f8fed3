"""The Content-Security-Policy header (django-csp, config/settings.py; issue 25): on the
staff pages, the member centre, the admin and the lockout page, allowing nothing but this
site, and templates that need nothing more (no inline script, handler or style)."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.centre import sign_in
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
TEMPLATES = Path(settings.BASE_DIR) / "templates"


def policy_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


def assert_strict(policy):
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]  # Bootstrap's data: SVG icons
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


def test_the_staff_login_page_has_the_policy():
    assert_strict(policy_of(Client().get("/accounts/login/")))


def test_the_staff_pages_have_it(clerk_client):
    for url in ["/staff/", "/staff/register/"]:
        response = clerk_client.get(url)
        assert response.status_code == 200, url
        assert_strict(policy_of(response))


def test_the_admin_has_it(owner_client):
    for url in ["/admin/", "/admin/members/member/", "/admin/campaigns/segment/add/"]:
        response = owner_client.get(url)
        assert response.status_code == 200, url
        assert_strict(policy_of(response))


def test_the_member_centre_has_it(store):
    assert_strict(policy_of(Client().get("/join/")))
    me = sign_in(Client(), MemberFactory(store=store))
    response = me.get("/me/")
    assert response.status_code == 200
    assert_strict(policy_of(response))


def test_the_lockout_page_has_it(clerk):
    client = Client(REMOTE_ADDR="203.0.113.50")
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "clerk", "password": "x"})
    assert response.status_code == 429
    assert_strict(policy_of(response))


def test_no_nonce_is_needed_so_cached_pages_stay_valid(store):
    """Every page works with 'self' alone: a cached page (/join/ is) has no nonce to go stale."""
    first, second = Client().get("/join/"), Client().get("/join/")
    assert first["Content-Security-Policy"] == second["Content-Security-Policy"]
    assert "nonce-" not in first["Content-Security-Policy"]


def test_a_report_address_can_be_set(settings):
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    assert directives["report-uri"] is None  # CSP_REPORT_URI empty: no reports
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {**directives, "report-uri": ["https://csp.example.com/r"]}
    }
    assert policy_of(Client().get("/accounts/login/"))["report-uri"] == [
        "https://csp.example.com/r"
    ]


# What the policy refuses, looked for in the templates themselves: <script> with a body
# (a JSON data block, json_script's, is data, not script), <style> blocks, style="..."
# attributes, on...="..." handlers and javascript: URLs.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
STYLE_BLOCK = re.compile(r"<style\b", re.I)
STYLE_ATTRIBUTE = re.compile(r"""\sstyle\s*=\s*["']""", re.I)
HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["']""", re.I)
JS_URL = re.compile(r"javascript:", re.I)


@pytest.mark.parametrize(
    "pattern",
    [INLINE_SCRIPT, STYLE_BLOCK, STYLE_ATTRIBUTE, HANDLER, JS_URL],
    ids=["inline-script", "style-block", "style-attribute", "handler", "javascript-url"],
)
def test_no_template_needs_more_than_self(pattern):
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = re.sub(r"{#.*?#}|{% comment %}.*?{% endcomment %}", "", path.read_text(), flags=re.S)
        found += [f"{path.relative_to(TEMPLATES)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert not found, "\n".join(found)


def test_the_scan_finds_what_it_looks_for():
    sample = """<script>alert(1)</script><script src="/s.js"></script>
    <script id="d" type="application/json">{}</script><style>p{}</style>
    <p style="color: red" onclick="x()"><a href="javascript:x()">"""
    assert len(INLINE_SCRIPT.findall(sample)) == 1
    assert STYLE_BLOCK.search(sample) and STYLE_ATTRIBUTE.search(sample)
    assert HANDLER.search(sample) and JS_URL.search(sample)
    assert not HANDLER.search('<button data-once data-print class="once">')


def test_htmx_inserts_no_style_and_evaluates_nothing():
    """htmx would add a <style> for its indicator and run hx-on code: both off."""
    config = (TEMPLATES / "_htmx_config.html").read_text()
    assert '"includeIndicatorStyles": false' in config and '"allowEval": false' in config
    base = (TEMPLATES / "base.html").read_text()
    assert '{% include "_htmx_config.html" %}' in base
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        if "htmx.min.js" in text and path.name not in {"base.html", "_htmx.html"}:
            raise AssertionError(f"{path}: load htmx through admin/_htmx.html")
