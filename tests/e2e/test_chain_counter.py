"""A chain's member served at another store's counter (1366x768, Chinese): a clerk of
静安旗舰店 scans the dynamic code of a 杭州西湖店 member, records a purchase with points
and a coupon (and, found by the phone, the same with the member's pay code); a coupon
found by its code goes, on Enter, to the purchase, and is redeemed without one only
through the confirmation page; the staff 403 and 404 pages.
Screenshots: test-artifacts/chain-*.png."""

from decimal import Decimal

import pytest

from loyalty.benefits.issuing import coupon_issue
from loyalty.models import Card, Coupon, Purchase
from members.dynamic_code import code_for
from members.models import AuditEntry, Role
from members.otp import PAY, otp_issue
from members.services import staff_create
from tests.e2e.test_counter import PASSWORD, assert_fits_the_laptop, log_in
from tests.factories import MemberFactory, StoreFactory
from tests.loyalty.staff_screens.helpers import fund, template

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement && document.activeElement.id")


def test_a_clerk_serves_another_stores_member(live_server, laptop, shot):
    jingan = StoreFactory(code="SH-JA", name="静安旗舰店")
    hangzhou = StoreFactory(code="HZ-XH", name="杭州西湖店")
    clerk = staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=jingan,
                         display_name="小王")  # fmt: skip
    guide = staff_create(username="hz1", password=PASSWORD, role=Role.CLERK, store=hangzhou)
    member = MemberFactory(phone="13800138000", name="韩梅梅", store=hangzhou, guide=guide)
    fund(member, 1200)
    coupon, _ = coupon_issue(template=template(name="立减 10 元"), member=member)
    base = live_server.url

    log_in(laptop, base, "clerk1")
    search = laptop.locator("input[name=q]")
    search.fill(code_for(member))  # the member centre's dynamic code, as a scanner types it
    search.press("Enter")
    laptop.locator("#member-card").wait_for()
    assert "韩梅梅" in laptop.locator("#member-card").inner_text()
    assert "杭州西湖店" in laptop.locator("#member-card").inner_text()
    laptop.locator("#member-other-store").wait_for()
    laptop.locator("#member-dynamic").wait_for()
    assert_fits_the_laptop(laptop)
    shot(laptop, "chain-counter-card")

    laptop.locator("#record-purchase").click()
    laptop.wait_for_url(f"**/staff/m/{member.member_no}/purchase/")
    laptop.locator("input[name=amount]").fill("128")
    laptop.locator("select[name=coupon]").select_option(coupon.code)
    laptop.locator("input[name=points]").fill("500")
    laptop.locator("input[name=points]").press("Enter")
    laptop.locator("#preview").wait_for()
    assert laptop.locator("#cash-to-pay").inner_text() == "¥113.00"
    laptop.locator("#dynamic-code-ok").wait_for()  # no code to ask the member for
    assert laptop.locator("input[name=confirmation_code]").count() == 0
    assert focused_id(laptop) == "confirm"
    assert_fits_the_laptop(laptop)
    shot(laptop, "chain-counter-preview")
    laptop.keyboard.press("Enter")
    laptop.locator("#receipt").wait_for()
    bought = Purchase.objects.get(member=member)
    assert (bought.store, bought.staff, bought.points_used) == (jingan, clerk, 500)
    assert bought.cash_paid == Decimal("113.00")
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
    member.refresh_from_db()
    assert (member.store, member.guide) == (hangzhou, guide)  # home store and guide stay
    assert AuditEntry.objects.filter(action="member.served_elsewhere", actor=clerk).count() == 1
    shot(laptop, "chain-counter-receipt")

    # The 360 page: shown, not managed (the home store edits the profile).
    laptop.goto(f"{base}/staff/members/{member.member_no}/")
    laptop.locator("#other-store-note").wait_for()
    assert_fits_the_laptop(laptop)
    shot(laptop, "chain-member-360")
    assert Card.objects.get(pk=member.pk).points_balance == 1200 - 500 + 113


def test_a_clerk_serves_another_stores_member_by_phone_with_the_pay_code(live_server, laptop, shot):
    """By the phone (a static key): points and a coupon are spent once the member reads
    out the pay code of their member centre (the setting 消费需动态码, on by default)."""
    jingan = StoreFactory(code="SH-JA", name="静安旗舰店")
    hangzhou = StoreFactory(code="HZ-XH", name="杭州西湖店")
    clerk = staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=jingan)
    member = MemberFactory(phone="13800138000", name="韩梅梅", store=hangzhou)
    fund(member, 1200)
    coupon, _ = coupon_issue(template=template(name="立减 10 元"), member=member)
    base = live_server.url

    log_in(laptop, base, "clerk1")
    search = laptop.locator("input[name=q]")
    search.fill("138 0013 8000")
    search.press("Enter")
    laptop.locator("#member-card").wait_for()
    assert "杭州西湖店" in laptop.locator("#member-card").inner_text()
    assert "其他门店会员" in laptop.locator("#member-card").inner_text()  # another store's
    laptop.locator("#record-purchase").click()
    laptop.wait_for_url(f"**/staff/m/{member.member_no}/purchase/")
    laptop.locator("input[name=amount]").fill("128")
    laptop.locator("select[name=coupon]").select_option(coupon.code)
    laptop.locator("input[name=points]").fill("500")
    laptop.locator("input[name=points]").press("Enter")
    laptop.locator("#preview").wait_for()
    code_field = laptop.locator("input[name=confirmation_code]")
    code_field.wait_for()  # found by the phone: the member confirms the spend
    code_field.fill(otp_issue(phone=member.phone, purpose=PAY))  # read out from /me/
    shot(laptop, "chain-counter-phone-pay-code")
    code_field.press("Enter")
    laptop.locator("#receipt").wait_for()
    bought = Purchase.objects.get(member=member)
    assert (bought.store, bought.staff, bought.points_used) == (jingan, clerk, 500)
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED


def test_a_coupon_is_redeemed_without_a_purchase_only_when_confirmed(live_server, laptop, shot):
    jingan = StoreFactory(code="SH-JA", name="静安旗舰店")
    hangzhou = StoreFactory(code="HZ-XH", name="杭州西湖店")
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=jingan)
    member = MemberFactory(phone="13800138000", name="韩梅梅", store=hangzhou)
    coupon, _ = coupon_issue(
        template=template(name="免费拿铁", kind="gift", gift_name="拿铁", value=0), member=member
    )
    base = live_server.url
    log_in(laptop, base, "clerk1")

    search = laptop.locator("input[name=q]")
    search.fill(coupon.display_code)
    search.press("Enter")
    laptop.locator("#coupon-found").wait_for()
    laptop.wait_for_function("() => document.activeElement.id === 'coupon-with-purchase'")
    assert_fits_the_laptop(laptop)
    shot(laptop, "chain-coupon-found")
    laptop.keyboard.press("Enter")  # the second Enter: the purchase with the coupon
    laptop.wait_for_url(f"**/staff/m/{member.member_no}/purchase/?coupon={coupon.code}")
    assert laptop.locator("select[name=coupon]").input_value() == coupon.code
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.ISSUED

    laptop.goto(f"{base}/staff/?q={coupon.code}")
    laptop.locator("#coupon-no-purchase").click()
    laptop.locator("#verify-confirm").wait_for()
    assert focused_id(laptop) == "verify-with-purchase"  # Enter still takes the purchase path
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.ISSUED
    assert_fits_the_laptop(laptop)
    shot(laptop, "chain-coupon-confirm")
    laptop.locator("#verify-confirm-button").click()
    laptop.locator("#member-card").wait_for()
    coupon.refresh_from_db()
    assert (coupon.status, coupon.redeemed_store) == (Coupon.Status.REDEEMED, jingan)
    assert not Purchase.objects.exists()
    shot(laptop, "chain-coupon-redeemed")


def test_the_staff_403_and_404_pages(live_server, laptop, shot):
    jingan = StoreFactory(code="SH-JA", name="静安旗舰店")
    franchise = StoreFactory(code="FR-01", name="加盟店")
    franchise.serves_own_members_only = True
    franchise.save()
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=jingan)
    theirs = MemberFactory(phone="13800138000", store=franchise)
    base = live_server.url
    log_in(laptop, base, "clerk1")

    response = laptop.goto(f"{base}/staff/members/{theirs.member_no}/")
    assert response.status == 403
    laptop.locator("#error-page").wait_for()
    assert "门店前台" in laptop.locator("nav").inner_text()  # the staff layout, in Chinese
    assert_fits_the_laptop(laptop)
    shot(laptop, "chain-403")
    laptop.keyboard.press("Enter")  # the way back has the focus
    laptop.wait_for_url(f"{base}/staff/")

    response = laptop.goto(f"{base}/staff/no-such-page/")
    assert response.status == 404
    laptop.locator("#error-page").wait_for()
    shot(laptop, "chain-404")
