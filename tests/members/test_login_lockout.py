"""Brute force on the staff and admin logins (django-axes): five wrong passwords lock
that username from that address; colleagues behind the same shop IP still log in."""

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = reverse("login")


def attempt(client, username, password, url=LOGIN):
    return client.post(url, {"username": username, "password": password})


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(clerk):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(4):
        assert attempt(client, "clerk", "wrong-password").status_code == 200
    assert attempt(client, "clerk", "wrong-password").status_code == 429  # the fifth
    locked = attempt(client, "clerk", PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.filter(username="clerk").exists()


def test_a_colleague_behind_the_same_shop_ip_still_logs_in(clerk, manager):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(5):
        attempt(client, "clerk", "wrong-password")
    colleague = Client(REMOTE_ADDR="203.0.113.7")
    response = attempt(colleague, "manager", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("staff:home")


def test_a_success_before_the_limit_starts_the_count_again(clerk):
    client = Client(REMOTE_ADDR="203.0.113.8")
    for _ in range(4):
        attempt(client, "clerk", "wrong-password")
    assert attempt(client, "clerk", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        attempt(client, "clerk", "wrong-password")
    assert attempt(client, "clerk", PASSWORD).status_code == 302


def test_the_admin_login_is_protected_too(owner):
    client = Client(REMOTE_ADDR="203.0.113.9")
    url = reverse("admin:login")
    for _ in range(5):
        attempt(client, "owner", "wrong-password", url)
    assert attempt(client, "owner", PASSWORD, url).status_code == 429


def test_the_lockout_page_explains_in_the_users_language(clerk):
    client = Client(REMOTE_ADDR="203.0.113.10", headers={"Accept-Language": "en"})
    for _ in range(6):
        response = attempt(client, "clerk", "wrong-password")
    assert "Too many failed logins" in response.content.decode()
