"""The member card's dynamic code on a phone (375x667, Chinese, issue 24): the barcode
and QR code carry the rotating code, a countdown runs, and the next code comes in
without a reload; a code a purchase used says so.

The browser's clock (Playwright's page.clock) and the server's (time_machine) move
together, so the minute passes without waiting for it. Screenshots:
test-artifacts/member-dynamic-code*.png.
"""

import datetime as dt
import re

import pytest
import time_machine
from django.utils import timezone

from members.dynamic_code import code_use, member_for_code
from tests.centre import sign_in_in_browser
from tests.e2e.test_member_journey import assert_fits_the_phone, decoded
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = "13912345678"


def shown_code(page) -> str:
    return page.locator("#card-code").inner_text().replace(" ", "")


def test_the_card_shows_a_rotating_code_refreshed_without_reloading(
    live_server, phone_page, shot, settings
):
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    store = StoreFactory(code="SH01", name="静安旗舰店")
    member = MemberFactory(phone=PHONE, name="王小明", store=store)
    page = phone_page
    # 50 s into a minute: the code has 10 s left.
    start = timezone.now().replace(second=50, microsecond=0) + dt.timedelta(minutes=1)
    with time_machine.travel(start, tick=True) as server_clock:
        page.clock.install(time=start)
        sign_in_in_browser(page, live_server.url, PHONE)

        first = shown_code(page)
        assert re.fullmatch(r"88\d{16}", first)
        assert member_for_code(first) == member
        assert member.member_no in page.locator("#member-no").inner_text()  # still readable
        countdown = page.locator("#code-countdown").inner_text()
        assert re.search(r"\d+", countdown) and ("秒" in countdown or "second" in countdown)
        assert_fits_the_phone(page)
        page.locator("#dynamic-code").scroll_into_view_if_needed()
        shot(page, "member-dynamic-code")
        for scanned in (decoded(page, "#card-barcode"), decoded(page, "#card-qr")):
            assert scanned == [first]  # what a till's scanner reads

        # The minute turns: the page fetches the next code, no reload.
        page.evaluate("window.notReloaded = true")
        server_clock.shift(dt.timedelta(seconds=12))
        page.clock.run_for(12_000)
        page.wait_for_function(
            "first => document.getElementById('card-code').textContent.replace(/ /g, '') !== first",
            arg=first,
        )
        second = shown_code(page)
        assert second != first and member_for_code(second) == member
        assert page.evaluate("window.notReloaded") is True
        for scanned in (decoded(page, "#card-barcode"), decoded(page, "#card-qr")):
            assert scanned == [second]
        assert page.locator("#code-used").is_hidden()

        # A till uses it: the page says so when it next asks (here: brought back to the front).
        code_use(second, purchase_ref="purchase:E2E-1")
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        page.locator("#code-used").wait_for(state="visible")
        assert_fits_the_phone(page)
        shot(page, "member-dynamic-code-used")
