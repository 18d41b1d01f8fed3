"""A NUL character anywhere in a request's address, query string, URL-encoded form or
headers is a 400, before any view: on PostgreSQL one in a URL segment was a 500
(`/staff/members/12%003/`: PG refuses NUL in text)."""

from urllib.parse import urlencode

import pytest
from django.test import Client

from config import settings as project_settings
from tests.factories import MemberFactory

MIDDLEWARE = "config.middleware_nul.RefuseNulMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _wired(settings):
    """The middleware where config/settings.py puts it: before the session's."""
    if MIDDLEWARE not in settings.MIDDLEWARE:
        middleware = list(settings.MIDDLEWARE)
        middleware.insert(middleware.index(SESSION), MIDDLEWARE)
        settings.MIDDLEWARE = middleware


@pytest.fixture
def staff(owner):
    client = Client()
    client.force_login(owner)
    return client


def test_a_nul_in_a_url_segment_is_a_400_not_a_500(staff, store):
    member = MemberFactory(store=store)
    for url in (
        "/staff/members/12\x003/",
        f"/staff/members/{member.member_no}\x00/",
        f"/staff/m/{member.member_no}\x00/",
        "/admin/members/member/1\x00/change/",
    ):
        response = staff.get(url)
        assert response.status_code == 400, url
    assert staff.get(f"/staff/members/{member.member_no}/").status_code == 200


def test_a_nul_in_the_query_string_is_a_400(staff, client):
    assert staff.get("/admin/members/member/", {"q": "李\x00雷"}).status_code == 400
    assert staff.get("/staff/", {"q": "138\x00"}).status_code == 400
    assert client.get("/join/", {"store": "SH\x0001"}).status_code == 400
    assert client.get("/join/privacy-notice/", {"version\x00": "1"}).status_code == 400
    assert client.get("/join/", {"store": "SH01"}).status_code == 200


def _form_post(client, url, data):
    """As a browser posts a form without a file: URL-encoded."""
    return client.post(url, urlencode(data), content_type="application/x-www-form-urlencoded")


def test_a_nul_in_a_form_field_is_a_400(client, staff, store):
    member = MemberFactory(store=store)
    phone = {"action": "send", "phone": "1380013800\x000"}
    assert _form_post(client, "/me/login/", phone).status_code == 400
    login = {"username": "owner\x00", "password": "x"}
    assert _form_post(client, "/accounts/login/", login).status_code == 400
    # A multipart form (the test client's default, a browser's with a file) too.
    assert client.post("/me/login/", phone).status_code == 400
    tag = {"name": "VIP\x00"}
    assert staff.post(f"/staff/members/{member.member_no}/tags/", tag).status_code == 400
    # Without a NUL, forms pass; a view exempt from CSRF (the SMS callback) still reads
    # its own multipart body: it was not parsed before it.
    assert (
        _form_post(client, "/me/login/", {"action": "send", "phone": "13800138000"}).status_code
        == 302
    )
    assert client.post("/sms/inbound/?token=wrong", {"x": "1"}).status_code == 403


def test_a_nul_in_a_header_is_a_400_and_a_cookie_with_one_is_dropped(client):
    assert client.get("/join/", headers={"User-Agent": "x\x00y"}).status_code == 400
    client.cookies["sessionid"] = "abc\x00def"
    response = client.get("/join/")
    assert response.status_code == 200  # as a first visit: the bad cookie is not read


def test_the_middleware_sits_before_the_session_in_settings():
    """config/settings.py wires it (the fixture above only stands in until it does)."""
    middleware = project_settings.MIDDLEWARE
    assert MIDDLEWARE in middleware
    assert middleware.index(MIDDLEWARE) < middleware.index(SESSION)
