"""Password spraying on the staff and admin logins (django-axes, config/settings.py AXES_*):
a few passwords tried on many usernames from one address stay under the per-username
count, so the address has its own, higher limit across usernames (issue 25)."""

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = reverse("login")
SPRAYER = "198.51.100.23"


def attempt(client, username, password, url=LOGIN):
    return client.post(url, {"username": username, "password": password})


def spray(client, failures, url=LOGIN):
    """`failures` wrong passwords, at most 2 per username: no username reaches its own limit."""
    return [attempt(client, f"user{n // 2}", "Summer2026!", url) for n in range(failures)]


def test_the_defaults_allow_more_failures_from_an_address_than_for_a_username():
    assert settings.AXES_FAILURE_LIMIT_PER_USER == 5
    assert settings.AXES_FAILURE_LIMIT_PER_ADDRESS == 20
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_many_usernames_from_one_address_lock_the_address(clerk):
    client = Client(REMOTE_ADDR=SPRAYER)
    responses = spray(client, 19)
    assert {r.status_code for r in responses} == {200}  # each a plain "wrong password"
    assert attempt(client, "user99", "Summer2026!").status_code == 429  # the 20th failure
    # From then on every login from there is refused, a real one with its right password too.
    locked = attempt(client, "clerk", PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_says_the_address_is_paused(clerk):
    client = Client(REMOTE_ADDR=SPRAYER, headers={"Accept-Language": "en"})
    spray(client, 20)
    page = attempt(client, "clerk", PASSWORD).content.decode()
    assert "Logins from this address are paused" in page
    assert "This account is locked" not in page


def test_other_addresses_still_log_in(clerk):
    spray(Client(REMOTE_ADDR=SPRAYER), 20)
    elsewhere = Client(REMOTE_ADDR="203.0.113.40")
    response = attempt(elsewhere, "clerk", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("staff:home")


def test_a_shop_with_a_few_mistakes_across_its_clerks_is_not_locked(clerk, manager):
    shop = Client(REMOTE_ADDR="203.0.113.41")
    for username in ("clerk", "manager", "owner", "someone"):
        for _ in range(4):  # each just under the per-username limit: 16 in all
            assert attempt(shop, username, "wrong-password").status_code == 200
    response = attempt(Client(REMOTE_ADDR="203.0.113.41"), "manager", PASSWORD)
    assert response.status_code == 302


def test_a_success_does_not_reset_the_addresss_count(clerk):
    """An attacker with one valid account cannot log in with it to start spraying afresh."""
    client = Client(REMOTE_ADDR=SPRAYER)
    spray(client, 18)
    assert attempt(client, "clerk", PASSWORD).status_code == 302
    client.logout()
    # The sprayed usernames' records are untouched; two more failures lock the address.
    assert AccessAttempt.objects.filter(ip_address=SPRAYER).exclude(username="clerk").count() == 9
    spray(client, 2)
    assert attempt(client, "clerk", PASSWORD).status_code == 429


def test_the_address_is_free_again_after_the_cool_off(clerk):
    client = Client(REMOTE_ADDR=SPRAYER)
    spray(client, 20)
    assert attempt(client, "clerk", PASSWORD).status_code == 429
    later = timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        response = attempt(Client(REMOTE_ADDR=SPRAYER), "clerk", PASSWORD)
    assert response.status_code == 302


def test_the_admin_login_counts_the_same_address(owner):
    client = Client(REMOTE_ADDR=SPRAYER)
    url = reverse("admin:login")
    spray(client, 20, url)
    assert attempt(client, "owner", PASSWORD, url).status_code == 429


def test_the_address_limit_is_a_setting(clerk, settings):
    settings.AXES_FAILURE_LIMIT_PER_ADDRESS = 6
    client = Client(REMOTE_ADDR=SPRAYER)
    assert {r.status_code for r in spray(client, 5)} == {200}
    assert attempt(client, "user9", "Summer2026!").status_code == 429
    assert attempt(client, "clerk", PASSWORD).status_code == 429
