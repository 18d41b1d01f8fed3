"""The counter when the server cannot answer: htmx swaps no error answer, so a search
that met an outage (503, config/outage.py), a full disk (507) or no server at all would
show nothing. The page says so at its top (#htmx-alert, templates/base.html and
static/js/staff.js) and stops saying so once a search goes through again.

The live server runs in this process: the outage is the counter's selector raising what a
database that went away raises. Screenshot: test-artifacts/counter-outage.png."""

import errno

import pytest
from django.db import InterfaceError
from django.utils import translation
from django.utils.translation import gettext

from loyalty.counter import selectors as sel
from members.models import Role
from members.services import staff_create
from tests.e2e.test_counter import PASSWORD, log_in
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

UNAVAILABLE = "系统暂时不可用，请几秒后重试。"
DISK_FULL = "服务器磁盘已满，您提交的内容未能接收，也没有保存任何数据。"
UNREACHABLE = "The server cannot be reached. Check the network, then try again."


@pytest.fixture
def counter(live_server, laptop):
    """A clerk at the counter, and a member to find (李雷, 13800138000)."""
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store,
                 display_name="小王")  # fmt: skip
    MemberFactory(phone="13800138000", name="李雷", store=store)
    log_in(laptop, live_server.url, "clerk1")
    return laptop


def search(page, text="13800138000"):
    box = page.locator("input[name=q]")
    box.fill(text)
    box.press("Enter")


def assert_found(page):
    card = page.locator("#member-card")
    card.wait_for()
    assert "李雷" in card.inner_text()
    page.locator("#htmx-alert").wait_for(state="hidden")


def test_a_search_during_an_outage_says_so_until_one_goes_through(counter, monkeypatch, shot):
    def database_gone(*args, **kwargs):
        raise InterfaceError("connection already closed")

    monkeypatch.setattr(sel, "counter_lookup", database_gone)
    search(counter)
    alert = counter.locator("#htmx-alert")
    alert.wait_for()
    assert alert.inner_text() == UNAVAILABLE
    assert alert.get_attribute("role") == "alert"
    assert "alert-danger" in alert.get_attribute("class")
    # At the top, above where the result would have been; the box is ready for a new scan.
    assert alert.bounding_box()["y"] < counter.locator("#lookup").bounding_box()["y"]
    assert counter.locator("#member-card").count() == 0
    assert counter.locator("input[name=q]").evaluate(
        "el => el === document.activeElement"
        " && el.selectionEnd - el.selectionStart === el.value.length"
    )
    shot(counter, "counter-outage")

    monkeypatch.undo()  # the database is back
    search(counter)
    assert_found(counter)


def test_a_full_disk_is_named(counter, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sel, "counter_lookup", disk_full)
    search(counter)
    alert = counter.locator("#htmx-alert")
    alert.wait_for()
    assert alert.inner_text().startswith(DISK_FULL)

    monkeypatch.undo()
    search(counter)
    assert_found(counter)


def test_a_search_that_cannot_reach_the_server_says_so(counter):
    with translation.override("zh-hans"):
        unreachable = gettext(UNREACHABLE)  # Chinese once the catalog has it

    def drop_htmx(route):  # the network is down for the search box's request only
        if route.request.headers.get("hx-request"):
            route.abort("internetdisconnected")
        else:
            route.continue_()

    counter.route("**/staff/**", drop_htmx)
    search(counter)
    alert = counter.locator("#htmx-alert")
    alert.wait_for()
    assert alert.inner_text() == unreachable
    assert counter.locator("#member-card").count() == 0

    counter.unroute("**/staff/**")
    search(counter)
    assert_found(counter)
