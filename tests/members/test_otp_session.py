"""The pending code's state in the session (which lives 12 hours in the database) keeps
the phone's keyed hash, its last 4 digits and a sealed copy: never the number in clear."""

import datetime as dt
import json

import pytest
import time_machine
from django.utils import timezone

from members import crypto
from members.member_auth import OTP_SESSION_KEY
from members.models import Member
from tests.centre import last_code, send_code, text_of
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
PHONE, E164 = "13912345678", "+8613912345678"


def _session_text(client) -> str:
    """Everything the session row holds, decoded (as anyone reading the table could)."""
    return json.dumps(dict(client.session.items()), ensure_ascii=False)


def test_after_the_code_is_sent_the_session_holds_no_phone_in_clear(web):
    send_code(web, "/join/", PHONE)

    stored = web.session[OTP_SESSION_KEY]
    assert PHONE not in _session_text(web) and "912345" not in _session_text(web)
    assert stored["phone_hash"] == crypto.phone_hash(E164)
    assert stored["phone_last4"] == "5678"
    # The code step shows the last 4 digits; the join still gets the whole number.
    page = text_of(web.get("/join/"))
    assert "*** **** 5678" in page
    response = web.post(
        "/join/", {"action": "join", "code": last_code("5678"), "consent": "on", "name": ""}
    )
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert Member.objects.get().phone == E164
    assert OTP_SESSION_KEY not in web.session


def test_an_unknown_number_proven_at_login_joins_without_a_clear_number_kept(web):
    send_code(web, "/me/login/", PHONE)
    response = web.post("/me/login/", {"action": "login", "code": last_code("5678")})
    assert response.status_code == 302 and response["Location"] == "/join/"

    assert PHONE not in _session_text(web)
    assert web.session[OTP_SESSION_KEY]["verified_at"] is not None
    response = web.post("/join/", {"action": "join", "consent": "on", "name": ""})
    assert response.status_code == 302
    assert Member.objects.get().phone == E164


def test_a_member_logs_in_from_the_hashed_state(web, store):
    member = MemberFactory(phone=PHONE, store=store)
    send_code(web, "/me/login/", PHONE)
    assert PHONE not in _session_text(web)
    response = web.post("/me/login/", {"action": "login", "code": last_code("5678")})
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert web.session["_huiyuan_member_id"] == member.pk


def test_a_stale_state_leaves_the_session(web):
    send_code(web, "/join/", PHONE)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=11)):
        page = text_of(web.get("/join/"))
    assert 'value="send"' in page and "*** **** 5678" not in page
    assert OTP_SESSION_KEY not in web.session


def test_a_state_whose_hash_does_not_match_its_sealed_number_is_no_state(web):
    send_code(web, "/join/", PHONE)
    session = web.session
    session[OTP_SESSION_KEY] = {
        **session[OTP_SESSION_KEY],
        "phone_hash": crypto.phone_hash("+8613800138000"),
    }
    session.save()
    response = web.post("/join/", {"action": "join", "code": last_code("5678"), "consent": "on"})
    assert response.status_code == 302 and response["Location"] == "/join/"
    assert not Member.objects.exists()
