"""/me/login/ and /me/logout/: the member centre's own SMS-code sign-in."""

import pytest

from members.member_auth import MEMBER_SESSION_KEY
from members.models import Member
from members.services import member_erase
from tests.centre import last_code, login, messages_of, send_code, sign_in, text_of
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
PHONE = "13800138000"


@pytest.fixture
def member(store):
    return MemberFactory(phone=PHONE, name="李雷", store=store)


def test_the_member_centre_asks_for_a_login(web):
    response = web.get("/me/")

    assert response.status_code == 302
    assert response["Location"] == "/me/login/?next=/me/"


def test_it_logs_in_with_the_phone_and_a_code(web, member):
    response = login(web, "138 0013 8000", url="/me/login/?next=/me/coupons/")

    assert response.status_code == 302 and response["Location"] == "/me/coupons/"
    assert web.session[MEMBER_SESSION_KEY] == member.pk
    assert web.get("/me/").status_code == 200


def test_the_member_session_is_not_a_staff_login(web, member):
    login(web, PHONE)

    response = web.get("/me/")
    assert response.wsgi_request.user.is_anonymous
    assert web.get("/staff/").status_code == 302  # staff pages still ask for staff login


def test_it_gives_a_new_session_id_at_login(web, member):
    send_code(web, "/me/login/", PHONE)
    before = web.session.session_key

    web.post("/me/login/", {"action": "login", "code": last_code()})

    assert web.session.session_key != before


def test_an_unknown_phone_is_offered_to_join_without_a_second_code(web):
    response = login(web, PHONE)

    assert response.status_code == 302 and response["Location"] == "/join/"
    page = web.get("/join/")
    assert "Number verified" in text_of(page) and 'name="code"' not in text_of(page)
    web.post("/join/", {"action": "join", "consent": "on"})
    assert Member.objects.get().phone == "+8613800138000"


def test_a_wrong_login_code_is_a_message(web, member):
    send_code(web, "/me/login/", PHONE)
    wrong = "000000" if last_code() != "000000" else "111111"

    response = web.post("/me/login/", {"action": "login", "code": wrong})

    assert response.status_code == 200 and "tries left" in text_of(response)
    assert MEMBER_SESSION_KEY not in web.session


def test_next_only_goes_to_this_site(web, member):
    response = login(web, PHONE, url="/me/login/?next=https://evil.example.com/")

    assert response["Location"] == "/me/"


def test_logout_is_post_only_and_signs_out(web, member):
    sign_in(web, member)
    assert web.get("/me/logout/").status_code == 405

    response = web.post("/me/logout/")

    assert response.status_code == 302 and response["Location"] == "/me/login/"
    assert MEMBER_SESSION_KEY not in web.session
    assert web.get("/me/").status_code == 302
    assert "logged out" in " ".join(messages_of(web.get("/me/login/")))


def test_an_erased_member_is_signed_out_everywhere(web, member):
    sign_in(web, member)
    member_erase(member=member)

    assert web.get("/me/").status_code == 302


def test_the_login_limits_are_the_join_limits(web, member):
    send_code(web, "/me/login/", PHONE)

    response = web.post("/me/login/", {"action": "send", "phone": PHONE})

    assert response.status_code == 200 and "You can ask for another in" in text_of(response)


def test_the_per_ip_limit_reads_the_proxy_header_only_when_told(web, settings):
    from members.models import OneTimeCode
    from members.otp import ip_hash

    settings.TRUSTED_PROXIES = 1
    web.post(
        "/me/login/",
        {"action": "send", "phone": PHONE},
        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9",
    )

    assert OneTimeCode.objects.get().ip_hash == ip_hash("203.0.113.9")
