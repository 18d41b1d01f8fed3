import pytest

from members.models import Role
from members.services import staff_create
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_clerk_logs_in_and_finds_a_member(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(
        username="clerk1",
        password="pass-2026-xyz",
        role=Role.CLERK,
        store=store,
        display_name="小王",
    )
    member = MemberFactory(phone="13800138000", name="李雷", store=store)

    laptop.goto(f"{live_server.url}/staff/")
    assert "/accounts/login/" in laptop.url
    assert laptop.get_by_role("heading", name="员工登录").is_visible()
    shot(laptop, "staff-login")
    laptop.get_by_label("用户名").fill("clerk1")
    laptop.get_by_label("密码").fill("pass-2026-xyz")
    laptop.get_by_role("button", name="登录").click()

    laptop.wait_for_url(f"{live_server.url}/staff/")
    search = laptop.locator("input[name=q]")
    assert search.evaluate("el => el === document.activeElement")  # keyboard-first
    search.fill("8000")
    search.press("Enter")
    # The only member with these last four digits: the counter shows their card at once,
    # the number masked (the clerk typed only its end).
    card = laptop.locator("#member-card")
    card.wait_for()
    assert member.member_no in card.inner_text()
    assert "138 **** 8000" in card.inner_text()
    shot(laptop, "staff-search-last4")
