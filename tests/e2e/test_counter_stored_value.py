"""Stored value (储值) at the counter on a shop laptop (1366x768, Chinese): a top-up with
an offer and its slip, a purchase paid partly from it, the receipt; the owner's report.
Screenshots: test-artifacts/stored-value-*.png."""

from decimal import Decimal

import pytest

from loyalty.models import Card, CountCardTemplate, LoyaltySettings, TopUpOffer
from members.models import Role
from members.services import staff_create
from tests.e2e.test_counter import PASSWORD, assert_fits_the_laptop, log_in
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_clerk_tops_up_and_the_member_pays_with_it(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store,
                 display_name="小王")  # fmt: skip
    staff_create(username="owner1", password=PASSWORD, role=Role.OWNER, store=None,
                 display_name="老板")  # fmt: skip
    TopUpOffer.objects.create(code="500-50", name="充500送50", pay_amount=Decimal("500"),
                              bonus=Decimal("50"), points=100)  # fmt: skip
    CountCardTemplate.objects.create(code="wash10", name="10 次洗剪吹", uses=10,
                                     price=Decimal("298"), valid_months=12)  # fmt: skip
    TopUpOffer.objects.create(code="1000-150", name="充1000送150", pay_amount=Decimal("1000"),
                              bonus=Decimal("150"))  # fmt: skip
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    # Found by phone, stored value spent without a confirmation (the dynamic code's
    # rule: test_chain_counter.py).
    conf = LoyaltySettings.current()
    conf.spend_needs_dynamic_code = False
    conf.save()
    base = live_server.url

    log_in(laptop, base, "clerk1")
    laptop.locator("input[name=q]").fill("13800138000")
    laptop.locator("input[name=q]").press("Enter")
    laptop.locator("#member-card").wait_for()
    assert laptop.locator("#stored-value-balance").inner_text() == "¥0.00"
    laptop.locator("#stored-value-link").click()
    laptop.wait_for_url(f"**/staff/m/{member.member_no}/stored-value/")
    laptop.get_by_role("link", name="充500送50").click()
    assert laptop.locator("input[name=amount]").input_value() == "500.00"
    laptop.locator("select[name=tender]").select_option("wechat_pay")
    assert_fits_the_laptop(laptop)
    shot(laptop, "stored-value-top-up")
    laptop.locator("#top-up").click()
    laptop.wait_for_url("**/staff/stored-value/*/")
    assert laptop.locator("#slip-balance").inner_text() == "¥550.00"
    shot(laptop, "stored-value-slip")
    assert Card.objects.get(pk=member.pk).stored_value == Decimal("550.00")

    laptop.goto(f"{base}/staff/m/{member.member_no}/purchase/")
    laptop.locator("input[name=amount]").fill("88")
    laptop.locator("input[name=stored_value]").fill("88")
    laptop.locator("input[name=stored_value]").press("Enter")
    laptop.locator("#preview").wait_for()
    assert laptop.locator("#stored-value-used").inner_text() == "−¥88.00"
    assert laptop.locator("#cash-to-pay").inner_text() == "¥0.00"
    assert_fits_the_laptop(laptop)
    shot(laptop, "stored-value-purchase")
    laptop.locator("#confirm").press("Enter")
    laptop.wait_for_url("**/staff/purchases/*/")
    assert laptop.locator("#receipt-stored-balance").inner_text() == "¥462.00"
    shot(laptop, "stored-value-receipt")

    # A count card (次卡), paid from stored value, then one use from the member card.
    laptop.goto(f"{base}/staff/m/{member.member_no}/count-cards/")
    laptop.locator("select[name=template]").select_option("wash10")
    laptop.locator("select[name=tender]").select_option("stored_value")
    laptop.locator("#sell").click()
    laptop.wait_for_url(f"**/staff/m/{member.member_no}/count-cards/")
    assert "10 / 10" in laptop.locator("#count-cards").inner_text()
    laptop.goto(f"{base}/staff/m/{member.member_no}/")
    laptop.locator(".count-card button").first.click()
    laptop.wait_for_url(f"**/staff/m/{member.member_no}/")
    laptop.locator(".count-card").first.wait_for()
    assert "9" in laptop.locator(".count-card").first.inner_text()
    assert_fits_the_laptop(laptop)
    shot(laptop, "count-card-on-the-member-card")
    laptop.goto(f"{base}/staff/m/{member.member_no}/count-cards/")
    shot(laptop, "count-cards")

    laptop.context.clear_cookies()  # the owner on the same laptop
    log_in(laptop, base, "owner1")
    laptop.goto(f"{base}/dashboard/stored-value/")
    assert "164.00" in laptop.locator("#fig-owed").inner_text()  # 462 less the 298 card
    assert "储值" in laptop.title()
    assert_fits_the_laptop(laptop)
    shot(laptop, "stored-value-report")


def test_the_owner_sets_up_prepaid_in_the_admin_in_chinese(live_server, laptop, shot):
    from loyalty.count_cards import count_card_sell

    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="owner1", password=PASSWORD, role=Role.OWNER, store=None,
                 display_name="老板")  # fmt: skip
    CountCardTemplate.objects.create(code="wash10", name="10 次洗剪吹", uses=10,
                                     price=Decimal("298"), valid_months=12)  # fmt: skip
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    count_card_sell(member=member, template_code="wash10", external_ref="s1", store=store)
    base = live_server.url
    log_in(laptop, base, "owner1")
    for path, name, words in [
        (
            "/admin/loyalty/countcardtemplate/add/",
            "admin-count-card-template",
            ["次卡模板", "适用服务"],
        ),
        ("/admin/loyalty/countcard/", "admin-count-cards", ["次卡", "10 次洗剪吹"]),
        ("/admin/loyalty/topupoffer/add/", "admin-top-up-offer", ["充值优惠"]),
    ]:
        laptop.goto(base + path)
        text = laptop.locator("body").inner_text()
        for word in words:
            assert word in text, (path, word)
        shot(laptop, name)
