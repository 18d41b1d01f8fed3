"""The first-visit /join/ page is rendered once per link and language (30 s, per
process) and served to everyone with their own CSRF token."""

import re

import pytest
from django.test import Client

from members.member_views import CSRF_SLOT
from tests.centre import text_of

pytestmark = pytest.mark.django_db
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def test_each_first_visit_gets_its_own_working_csrf_token(store, django_assert_num_queries):
    first = Client(enforce_csrf_checks=True, headers={"Accept-Language": "en"})
    first.get("/join/?store=SH01")  # renders the page once
    second = Client(enforce_csrf_checks=True, headers={"Accept-Language": "en"})
    with django_assert_num_queries(0):  # no store, no notice: the page is the copy
        page = second.get("/join/?store=SH01")
    assert page.status_code == 200 and "静安店" in text_of(page)
    assert CSRF_SLOT not in text_of(page)
    tokens = TOKEN.findall(text_of(page))
    assert tokens and "csrftoken" in page.cookies
    # The token in the copy works for this visitor: asking for a code is accepted.
    sent = second.post(
        "/join/?store=SH01",
        {"csrfmiddlewaretoken": tokens[0], "action": "send", "phone": "13912345678"},
    )
    assert sent.status_code == 302
    # ...and someone else's token does not.
    third = Client(enforce_csrf_checks=True)
    third.get("/join/?store=SH01")
    refused = third.post(
        "/join/?store=SH01",
        {"csrfmiddlewaretoken": tokens[0], "action": "send", "phone": "13912345679"},
    )
    assert refused.status_code == 403


def test_a_visitor_with_a_pending_code_sees_the_code_step_not_the_copy(store):
    web = Client(headers={"Accept-Language": "en"})
    web.get("/join/?store=SH01")
    token = web.cookies["csrftoken"].value
    web.post("/join/?store=SH01", {"csrfmiddlewaretoken": token, "action": "send",
                                   "phone": "13912345678"})  # fmt: skip
    page = text_of(web.get("/join/?store=SH01"))
    assert 'value="join"' in page and "139 **** 5678" in page


def test_the_copy_is_per_link_and_language(store, other_store):
    english = Client(headers={"Accept-Language": "en"})
    chinese = Client(headers={"Accept-Language": "zh-hans"})
    assert '<html lang="en">' in text_of(english.get("/join/?store=SH01"))
    assert '<html lang="zh-hans">' in text_of(chinese.get("/join/?store=SH01"))
    other = text_of(english.get(f"/join/?store={other_store.code}"))
    assert other_store.name in other and "静安店" not in other
