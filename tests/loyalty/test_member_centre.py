"""The loyalty part of the member centre (/me/): card, points, purchases, coupons,
rewards, check-in, referral; each member sees only their own."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from loyalty.benefits.issuing import coupon_issue
from loyalty.ledger import points_award
from loyalty.models import CheckIn, Coupon, CouponTemplate, PointsEntry, Redemption, Reward
from loyalty.purchases import purchase_record
from tests.centre import messages_of, sign_in, text_of
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(db):
    return Client(headers={"Accept-Language": "en"})


@pytest.fixture
def me(web, member):
    return sign_in(web, member)


@pytest.fixture
def template(db):
    return CouponTemplate.objects.create(name="10 元券", kind="cash", value=10, valid_days=30)


@pytest.mark.parametrize(
    "url", ["/me/", "/me/points/", "/me/purchases/", "/me/coupons/", "/me/rewards/", "/me/invite/"]
)
def test_each_page_asks_a_stranger_to_log_in(web, url):
    response = web.get(url)

    assert response.status_code == 302 and response["Location"].startswith("/me/login/?next=")


@pytest.mark.parametrize("url", ["/me/checkin/", "/me/rewards/redeem/", "/me/invite/create/"])
def test_changes_are_post_only(me, url):
    assert me.get(url).status_code == 405


def test_the_card_shows_the_numbers_to_scan_points_and_tier_progress(me, member, tiers):
    purchase_record(member=member, amount="120.00", external_ref="POS-1")

    page = text_of(me.get("/me/"))

    assert member.member_no in page
    assert page.count("<svg") >= 2  # the barcode and the QR code
    assert re.search(r'id="points-balance">\s*120<', page)
    assert "worth ¥1.20" in page  # 100 points pay 1 yuan
    assert "Spend ¥380.00 more to reach 银卡" in page and "银卡 brings:" in page


def test_the_card_warns_of_points_expiring_within_30_days(me, member, conf):
    soon = timezone.now() + dt.timedelta(days=10)
    points_award(member=member, points=70, key="k1", reason="gift", expires_at=soon)
    points_award(member=member, points=5, key="k2", reason="gift")

    page = text_of(me.get("/me/"))

    last_day = timezone.localdate(soon - dt.timedelta(microseconds=1)).isoformat()
    assert f"70 points expire after {last_day}" in page


def test_the_top_tier_has_no_progress_bar(me, member, tiers):
    purchase_record(member=member, amount="6000.00", external_ref="POS-1")

    assert "highest tier" in text_of(me.get("/me/"))


def test_check_in_once_a_day_with_the_streak(me, member, conf):
    response = me.post("/me/checkin/")

    assert response.status_code == 302 and response["Location"] == "/me/"
    assert "+5 points. 1 day in a row" in " ".join(messages_of(me.get("/me/")))
    me.post("/me/checkin/")
    assert "already checked in" in " ".join(messages_of(me.get("/me/")))
    assert CheckIn.objects.filter(member=member).count() == 1
    assert "Checked in today" in text_of(me.get("/me/"))


def test_points_history_is_the_members_ledger_with_a_pinned_query_count(
    me, member, conf, django_assert_max_num_queries
):
    for i in range(25):
        points_award(member=member, points=i + 1, key=f"k{i}", reason=f"gift {i}")

    with django_assert_max_num_queries(12):
        page = text_of(me.get("/me/points/"))

    assert "gift 24" in page and "gift 4" not in page  # 20 a page, newest first
    assert "gift 4" in text_of(me.get("/me/points/?page=2"))


def test_purchases_list_the_members_purchases(me, member, store):
    purchase_record(member=member, amount="38.50", external_ref="POS-1", store=store)

    page = text_of(me.get("/me/purchases/"))

    assert "静安店" in page and "¥38.50" in page


def test_coupons_are_split_into_usable_used_and_expired_each_with_a_qr(
    me, member, template, django_assert_max_num_queries
):
    usable, _ = coupon_issue(template=template, member=member, source=Coupon.Source.STAFF)
    old, _ = coupon_issue(
        template=template,
        member=member,
        source=Coupon.Source.STAFF,
        apply_limits=False,
        key="old",
        now=timezone.now() - dt.timedelta(days=40),
    )

    with django_assert_max_num_queries(12):
        page = text_of(me.get("/me/coupons/"))

    assert usable.display_code in page and old.display_code not in page
    assert page.count('class="qr-code"') == 1
    expired = text_of(me.get("/me/coupons/?status=expired"))
    assert old.display_code in expired and usable.display_code not in expired
    assert "You have not used a coupon yet" in text_of(me.get("/me/coupons/?status=used"))
    assert me.get("/me/coupons/?status=bogus").status_code == 200
    assert me.get("/me/coupons/?status=%00bogus").status_code == 400  # middleware_nul


def test_a_reward_is_redeemed_once_per_form_token(me, member, conf):
    points_award(member=member, points=500, key="gift", reason="gift")
    reward = Reward.objects.create(name="帆布袋", points_cost=200, stock=5)
    page = text_of(me.get("/me/rewards/"))
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)

    for _twice in range(2):  # a double tap
        response = me.post("/me/rewards/redeem/", {"reward": reward.pk, "token": token})
        assert response.status_code == 302

    redemption = Redemption.objects.get(member=member)
    assert card_of(member).points_balance == 300
    assert redemption.pickup_code in text_of(me.get("/me/rewards/"))


def test_redeeming_without_enough_points_is_a_message(me, member):
    reward = Reward.objects.create(name="随行杯", points_cost=1000)

    me.post("/me/rewards/redeem/", {"reward": reward.pk, "token": "t" * 22})

    assert "Not enough points" in " ".join(messages_of(me.get("/me/rewards/")))
    assert not Redemption.objects.exists()


def test_a_broken_redeem_form_is_a_message_not_an_error(me):
    response = me.post("/me/rewards/redeem/", {"reward": "x", "token": "<script>"})

    assert response.status_code == 302
    assert "cannot be redeemed" in " ".join(messages_of(me.get("/me/rewards/")))


def test_the_invitation_link_is_made_by_post_and_shown_with_its_qr(me, member):
    assert "Get my invitation link" in text_of(me.get("/me/invite/"))

    me.post("/me/invite/create/")

    member.refresh_from_db()
    page = text_of(me.get("/me/invite/"))
    assert f"http://testserver/join/?ref={member.referral_code}" in page
    assert 'id="referral-qr"' in page


def test_a_member_sees_only_their_own_data(web, member, store, template):
    other = MemberFactory(phone="13900000001", name="韩梅梅", store=store)
    theirs, _ = coupon_issue(template=template, member=other, source=Coupon.Source.STAFF)
    points_award(member=other, points=10, key="other-gift", reason="their secret gift")
    purchase_record(member=other, amount="66.00", external_ref="POS-THEIRS", store=store)
    sign_in(web, member)

    pages = " ".join(
        text_of(web.get(url)) for url in ("/me/", "/me/points/", "/me/purchases/", "/me/coupons/")
    )

    assert other.member_no not in pages and theirs.display_code not in pages
    assert "their secret gift" not in pages and "66.00" not in pages
    assert not PointsEntry.objects.filter(member=member).exists()


def test_the_card_says_what_a_tier_brings_from_its_rules(me, member, tiers):
    """Not only the free text: the price rate, the multiplier and the coupons, as applied."""
    from decimal import Decimal

    from loyalty.tiers import tier_set
    from members.models import User

    gold = list(tiers.values())[1]
    gold.discount_rate, gold.points_multiplier, gold.benefits = Decimal("0.95"), 2, "免费停车"
    gold.birthday_coupon = CouponTemplate.objects.create(
        name="生日蛋糕券", kind="cash", value=20, valid_days=30
    )
    gold.save()
    page = text_of(me.get("/me/"))  # gold is the next tier
    assert f"{gold.name} brings:" in page
    for perk in ("5% off every purchase (9.5折)", "points ×2 on purchases",
                 "a birthday coupon: 生日蛋糕券", "免费停车"):  # fmt: skip
        assert perk in page, perk
    tier_set(member=member, tier=gold, actor=User.objects.create_user("boss"))
    assert "Your benefits: 5% off every purchase (9.5折)" in text_of(me.get("/me/"))
