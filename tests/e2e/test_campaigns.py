"""The owner composes a campaign in the admin (two variants and a holdout), is stopped
by the WeChat title rule, previews it, starts sending and reads the report (issue #22)."""

import pytest

from campaigns.marketing.models import Campaign, CampaignMember, MarketingSettings
from campaigns.models import Segment
from loyalty.models import Coupon, CouponTemplate
from loyalty.purchases import purchase_record
from members.models import Role
from members.services import staff_create
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
MEMBERS = 120


def buy(members, every: int, tag: str, coupons: bool = False):
    """Every `every`-th member of the group buys, some with the campaign's coupon."""
    for n, row in enumerate(members):
        if n % every:
            continue
        coupon = Coupon.objects.filter(member_id=row.member_id).first() if coupons else None
        purchase_record(member=row.member, amount="88", external_ref=f"{tag}-{n}",
                        coupon_code=coupon.code if coupon and n % 2 == 0 else "")  # fmt: skip


def test_owner_composes_previews_sends_and_reads_the_report(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="boss", password="pass-2026-xyz", role=Role.OWNER, store=None,
                 display_name="老板")  # fmt: skip
    for n in range(MEMBERS):
        MemberFactory(store=store, name=f"会员{n:03d}")
    # no quiet hours, whatever the hour the test runs at
    MarketingSettings.objects.update_or_create(pk=1, defaults={"quiet_from": 0, "quiet_until": 0})
    CouponTemplate.objects.create(name="满50减10元券", code="back10", kind="threshold", value=10,
                                  min_spend=50, valid_days=14)  # fmt: skip
    Segment.objects.create(name="全部会员", rules={"all": []})

    laptop.goto(f"{live_server.url}/accounts/login/?next=/admin/campaigns/campaign/add/")
    laptop.get_by_label("用户名").fill("boss")
    laptop.get_by_label("密码").fill("pass-2026-xyz")
    laptop.get_by_role("button", name="登录").click()
    laptop.wait_for_url("**/admin/campaigns/campaign/add/")
    laptop.locator("#id_name").fill("双十二回归礼")
    laptop.locator("#id_segment").select_option(label="全部会员")
    laptop.locator("input[name=channels][value=sms]").check()
    laptop.locator("#id_title").fill("双十二回归礼：好久不见，送您满减券和积分啦")  # 21 characters
    laptop.locator("#id_message").fill("{name}，送您{coupon}，有效期至{expires}。")
    laptop.locator("#id_holdout_percent").fill("30")
    laptop.locator("#id_variants-0-coupon_template").select_option(label="满50减10元券")
    laptop.locator("#id_variants-1-points").fill("100")
    laptop.locator("#id_variants-1-message").fill("{name}，送您100积分，现有{points}积分。")
    laptop.locator("input[name=_continue]").click()
    error = laptop.locator(".campaign-errors .errorlist")
    error.wait_for()
    assert "21" in error.inner_text()
    assert not Campaign.objects.exists()
    shot(laptop, "campaign-compose-error")
    laptop.locator("#id_title").fill("好久不见，送您一份回归礼")
    shot(laptop, "campaign-compose")
    laptop.locator("input[name=_continue]").click()
    laptop.wait_for_url("**/admin/campaigns/campaign/*/change/")
    campaign = Campaign.objects.get()
    assert [v.name for v in campaign.variants.order_by("name")] == ["A", "B"]

    # the preview: audience, split, the message for three members; nothing sent
    assert laptop.locator("[data-audience]").inner_text() == str(MEMBERS)
    samples = laptop.locator(".campaign-samples tbody tr")
    assert samples.count() == 3
    assert "会员119，送您满50减10元券" in samples.first.inner_text()
    assert not CampaignMember.objects.exists()
    shot(laptop, "campaign-preview")

    laptop.locator(".campaign-start input[type=submit]").click()  # django-q runs in sync here
    laptop.wait_for_url("**/admin/campaigns/campaign/*/change/")
    laptop.locator("#campaign-status").wait_for()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert CampaignMember.objects.filter(campaign=campaign).count() == MEMBERS
    shot(laptop, "campaign-sent")

    groups = CampaignMember.objects.filter(campaign=campaign).select_related("member", "variant")
    buy(groups.filter(variant__name="A").order_by("pk"), 2, "a", coupons=True)
    buy(groups.filter(variant__name="B").order_by("pk"), 4, "b")
    buy(groups.filter(variant__isnull=True).order_by("pk"), 12, "h")
    laptop.locator("#campaign-status a.button").click()
    laptop.wait_for_url("**/admin/campaigns/campaign/*/report/")
    verdicts = laptop.locator(".campaign-verdicts li")
    assert verdicts.count() == 3  # A against B, then each against the holdout
    assert "差异显著" in verdicts.first.inner_text() or "差异不显著" in verdicts.first.inner_text()
    shot(laptop, "campaign-report")
