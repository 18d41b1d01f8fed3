"""Helpers for tests of /join/ and the member centre (/me/)."""

import re

from members import sms
from members.member_auth import MEMBER_SESSION_KEY


def sign_in(client, member):
    """Sign `member` in to the member centre on this test client (as the SMS login does)."""
    session = client.session
    session[MEMBER_SESSION_KEY] = member.pk
    session.save()
    return client


def sign_in_in_browser(page, base: str, phone: str) -> None:
    """The member centre's SMS-code login in a browser (the in-memory backend's code)."""
    page.goto(f"{base}/me/login/")
    page.locator("input[name=phone]").fill(phone)
    page.locator("button[value=send]").click()
    page.locator("input[name=code]").fill(sms.outbox[-1].code)
    page.locator("button[value=login]").click()
    page.wait_for_url(f"{base}/me/")


def last_code(phone_digits: str | None = None) -> str:
    """The code the in-memory SMS backend 'sent' last (to this phone, when given)."""
    for sent in reversed(sms.outbox):
        if phone_digits is None or sent.phone.endswith(phone_digits):
            return sent.code
    raise AssertionError("no SMS code was sent")


def send_code(client, url: str, phone: str):
    return client.post(url, {"action": "send", "phone": phone})


def join(client, phone: str, *, url: str = "/join/", name: str = "", consent: bool = True):
    """Both steps of /join/: ask for a code, then enter it; returns the last response."""
    send_code(client, url, phone)
    data = {"action": "join", "code": last_code(phone[-4:]), "name": name}
    if consent:
        data["consent"] = "on"
    return client.post(url, data)


def login(client, phone: str, *, url: str = "/me/login/"):
    send_code(client, url, phone)
    return client.post(url, {"action": "login", "code": last_code(phone[-4:])})


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())
