"""/me/messages/: the member's inbox (the outbox's inbox channel), only their own."""

import pytest
from django.test import Client

from campaigns.models import Message
from tests.centre import sign_in, text_of
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(db):
    return Client(headers={"Accept-Language": "en"})


def _message(member, key, title, channel="inbox"):
    return Message.objects.create(
        member=member, channel=channel, event="campaign", dedupe_key=key, title=title, body="…"
    )


def test_it_lists_the_members_inbox_only(web, store):
    me, other = MemberFactory(store=store), MemberFactory(store=store)
    _message(me, "a", "积分到账")
    _message(me, "b", "控制台副本", channel="console")
    _message(other, "c", "别人的消息")
    sign_in(web, me)

    page = text_of(web.get("/me/messages/"))

    assert "积分到账" in page and "控制台副本" not in page and "别人的消息" not in page


def test_an_empty_inbox_says_so(web, store):
    sign_in(web, MemberFactory(store=store))

    assert "No messages yet" in text_of(web.get("/me/messages/"))


def test_mark_all_read_is_post_only_and_touches_only_mine(web, store):
    me, other = MemberFactory(store=store), MemberFactory(store=store)
    mine, theirs = _message(me, "a", "x"), _message(other, "b", "y")
    sign_in(web, me)

    assert web.get("/me/messages/read/").status_code == 405
    web.post("/me/messages/read/")

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.read_at is not None and theirs.read_at is None


def test_the_inbox_needs_a_signed_in_member(web):
    assert web.get("/me/messages/")["Location"] == "/me/login/?next=/me/messages/"
