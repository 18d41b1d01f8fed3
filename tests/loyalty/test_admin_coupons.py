"""The admin as a staff tool for coupons and rewards: usage report, bulk issue,
search by code, void and cancel with a reason, and who may do what."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.benefits.issuing import coupon_issue
from loyalty.benefits.rewards import reward_redeem
from loyalty.ledger import ledger_problems, points_award
from loyalty.models import Coupon, CouponTemplate, Redemption, Reward
from loyalty.purchases import purchase_record
from tests.factories import MemberFactory, TagFactory
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def tpl(db):
    return CouponTemplate.objects.create(
        name="立减 10 元", kind="cash", value=Decimal("10"), valid_days=30, stock=3
    )


def _issue_url(tpl):
    return reverse("admin:loyalty_coupontemplate_issue", args=[tpl.pk])


def test_the_template_list_shows_the_usage_report(owner_client, tpl, member):
    used, _ = coupon_issue(template=tpl, member=member)
    purchase_record(member=member, amount="30", external_ref="A-1", coupon_code=used.code)
    response = owner_client.get(reverse("admin:loyalty_coupontemplate_changelist"))
    assert response.status_code == 200
    row = response.context["cl"].result_list.get(pk=tpl.pk)
    assert (row.n_issued, row.n_redeemed, row.n_expired, row.discount_given) == (
        1,
        1,
        0,
        Decimal("10.00"),
    )
    html = response.content.decode()
    assert "1 / 3" in html and "100.0%" in html


def test_bulk_issue_to_a_list_of_member_numbers_and_phones(owner_client, tpl, store):
    a, b = MemberFactory(store=store), MemberFactory(store=store, phone="13800138000")
    response = owner_client.post(
        _issue_url(tpl), {"members": f"{a.member_no}\n+86 138-0013-8000"}, follow=True
    )
    assert response.status_code == 200
    assert {c.member_id for c in Coupon.objects.filter(template=tpl)} == {a.pk, b.pk}
    assert any("2" in str(m) for m in response.context["messages"])


def test_bulk_issue_to_a_tag_stops_at_the_stock_and_skips_the_limit(owner_client, tpl, store):
    vip = TagFactory(name="VIP")
    members = [MemberFactory(store=store) for _ in range(5)]
    for m in members:
        m.tags.add(vip)
    coupon_issue(template=tpl, member=members[0])  # already holds the one allowed
    response = owner_client.post(_issue_url(tpl), {"tag": vip.pk}, follow=True)
    assert Coupon.objects.filter(template=tpl).count() == 3  # the stock
    text = " ".join(str(m) for m in response.context["messages"])
    assert "out of stock" in text or "库存" in text


def test_bulk_issue_with_an_unknown_member_is_a_form_error(owner_client, tpl, member):
    response = owner_client.post(_issue_url(tpl), {"members": f"{member.member_no}\n99999"})
    assert response.status_code == 200
    assert "99999" in str(response.context["form"].non_field_errors())
    assert not Coupon.objects.exists()  # nothing issued beside the bad line


def test_bulk_issue_needs_one_of_list_or_tag(owner_client, tpl):
    response = owner_client.post(_issue_url(tpl), {"members": ""})
    assert response.status_code == 200 and response.context["form"].non_field_errors()


def test_a_clerk_cannot_issue(clerk_client, tpl):
    assert clerk_client.get(_issue_url(tpl)).status_code in (302, 403)


def test_a_manager_can_issue(manager_client, tpl, member):
    response = manager_client.post(_issue_url(tpl), {"members": member.member_no})
    assert response.status_code == 302
    assert Coupon.objects.filter(member=member).count() == 1


def test_coupon_search_by_code_as_typed(owner_client, tpl, member):
    coupon, _ = coupon_issue(template=tpl, member=member)
    url = reverse("admin:loyalty_coupon_changelist")
    response = owner_client.get(url, {"q": coupon.display_code.lower()})
    assert list(response.context["cl"].result_list) == [coupon]
    response = owner_client.get(url, {"q": member.member_no})
    assert list(response.context["cl"].result_list) == [coupon]


def test_void_action_requires_a_reason(owner_client, tpl, member):
    coupon, _ = coupon_issue(template=tpl, member=member)
    url = reverse("admin:loyalty_coupon_changelist")
    form = {"action": "void", "_selected_action": [coupon.pk], "index": 0}
    owner_client.post(url, {**form, "reason": ""})
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"
    owner_client.post(url, {**form, "reason": "错发"})
    coupon.refresh_from_db()
    assert coupon.status == "void" and coupon.events.last().note == "错发"


def test_manager_sees_only_their_stores_coupons(manager_client, tpl, member, other_store):
    theirs, _ = coupon_issue(template=tpl, member=MemberFactory(store=other_store))
    mine, _ = coupon_issue(template=tpl, member=member)
    response = manager_client.get(reverse("admin:loyalty_coupon_changelist"))
    assert list(response.context["cl"].result_list) == [mine]
    assert manager_client.get(
        reverse("admin:loyalty_coupon_change", args=[theirs.pk])
    ).status_code in (302, 404)


def test_cancel_a_redemption_returns_the_points(owner_client, member):
    reward = Reward.objects.create(name="帆布袋", points_cost=800, stock=5)
    points_award(member=member, points=1000, key="opening", reason="期初")
    redemption, _ = reward_redeem(member=member, reward=reward, key="r1")
    assert card_of(member).points_balance == 200
    url = reverse("admin:loyalty_redemption_changelist")
    owner_client.post(
        url, {"action": "cancel", "_selected_action": [redemption.pk], "reason": "缺货"}
    )
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.CANCELLED
    assert card_of(member).points_balance == 1000
    assert Reward.objects.get(pk=reward.pk).redeemed_count == 0
    assert not ledger_problems()


def test_the_member_page_lists_their_coupons(owner_client, tpl, member):
    coupon, _ = coupon_issue(template=tpl, member=member)
    response = owner_client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert coupon.display_code in response.content.decode()


@pytest.mark.parametrize(
    "name",
    ["coupontemplate", "coupon", "reward", "redemption", "checkin", "referral"],
)
def test_each_changelist_opens(owner_client, name):
    assert owner_client.get(reverse(f"admin:loyalty_{name}_changelist")).status_code == 200
