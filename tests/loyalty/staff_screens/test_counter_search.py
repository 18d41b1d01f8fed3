"""The counter's one search box: phone (full or last 4), member number or the card's QR,
name, a coupon code or a pickup code; clerks see their store only, numbers masked."""

import pytest
from django.urls import reverse

from loyalty.benefits.issuing import coupon_issue
from loyalty.benefits.rewards import reward_redeem
from loyalty.models import Card
from members.models import User
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import fund, reward, template

URL = reverse("staff:home")


@pytest.mark.django_db
def test_it_requires_login(client):
    response = client.get(URL, {"q": "13800138000"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_it_refuses_accounts_without_a_staff_profile(client):
    user = User.objects.create_user("visitor", password="x-long-password-1")
    client.force_login(user)
    assert client.get(URL).status_code == 403


@pytest.mark.django_db
def test_it_refuses_post(clerk_client):
    assert clerk_client.post(URL, {"q": "13800138000"}).status_code == 405


@pytest.mark.django_db
def test_clerk_finds_a_member_by_the_phone_they_typed_and_sees_it_in_full(clerk_client, store):
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    response = clerk_client.get(URL, {"q": "138-0013-8000"})
    assert list(response.context["results"]) == [member]
    assert "138 0013 8000" in response.content.decode()


@pytest.mark.django_db
def test_last_four_digits_show_masked_numbers(clerk_client, store):
    MemberFactory(phone="13800138000", store=store)
    MemberFactory(phone="13900138000", store=store)
    response = clerk_client.get(URL, {"q": "8000"})
    page = response.content.decode()
    assert len(response.context["results"]) == 2
    assert "138 **** 8000" in page and "139 **** 8000" in page and "13800138000" not in page


@pytest.mark.django_db
def test_clerk_never_finds_a_franchise_stores_member(clerk_client, franchise):
    theirs = MemberFactory(phone="13800138000", store=franchise)
    for query in ("13800138000", "8000", theirs.member_no, theirs.name):
        response = clerk_client.get(URL, {"q": query}, HTTP_HX_REQUEST="true")
        assert list(response.context["results"]) == [], query
        assert theirs.member_no not in response.content.decode()


@pytest.mark.django_db
def test_owner_finds_members_of_every_store(owner_client, store, other_store):
    member = MemberFactory(phone="13800138000", store=other_store)
    response = owner_client.get(URL, {"q": member.member_no})
    assert list(response.context["results"]) == [member]


@pytest.mark.django_db
def test_htmx_requests_get_only_the_results_partial(clerk_client, store):
    MemberFactory(phone="13800138000", store=store)
    response = clerk_client.get(URL, {"q": "13800138000"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "<html" not in page and "138 0013 8000" in page


@pytest.mark.django_db
def test_one_member_found_shows_their_card_at_once(clerk_client, store):
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    fund(member, 1234)
    response = clerk_client.get(URL, {"q": member.member_no}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert 'id="member-card"' in page and "1234" in page and "李雷" in page
    # Found by the number on the card, not by the phone: the phone stays masked.
    assert "138 **** 8000" in page and "13800138000" not in page
    assert reverse("staff:purchase", args=[member.member_no]) in page


@pytest.mark.django_db
def test_the_card_qr_scanned_with_a_newline_finds_the_member(clerk_client, store):
    member = MemberFactory(phone="13800138000", store=store)
    response = clerk_client.get(URL, {"q": f" {member.member_no}\n"})
    assert response.context["member"] == member


@pytest.mark.django_db
def test_a_coupon_code_finds_the_coupon_and_its_member(clerk_client, store):
    member = MemberFactory(phone="13800138000", store=store)
    coupon, _ = coupon_issue(template=template(name="免费拿铁"), member=member)
    response = clerk_client.get(URL, {"q": coupon.display_code.lower()}, HTTP_HX_REQUEST="true")
    assert response.context["lookup"].coupon == coupon
    page = response.content.decode()
    assert "免费拿铁" in page and member.member_no in page and 'id="coupon-found"' in page


@pytest.mark.django_db
def test_a_pickup_code_finds_the_redemption(clerk_client, store):
    member = MemberFactory(phone="13800138000", store=store)
    fund(member, 1000)
    redemption, _ = reward_redeem(member=member, reward=reward(name="保温杯"), key="k1")
    response = clerk_client.get(URL, {"q": redemption.pickup_code}, HTTP_HX_REQUEST="true")
    assert response.context["lookup"].redemption == redemption
    assert "保温杯" in response.content.decode()


@pytest.mark.django_db
def test_a_franchise_stores_coupon_code_is_not_found(clerk_client, franchise):
    theirs = MemberFactory(phone="13900139000", store=franchise)
    coupon, _ = coupon_issue(template=template(), member=theirs)
    response = clerk_client.get(URL, {"q": coupon.code})
    assert response.context["lookup"].coupon is None
    assert theirs.member_no not in response.content.decode()


@pytest.mark.django_db
def test_an_unknown_phone_offers_to_register_it(clerk_client, store):
    response = clerk_client.get(URL, {"q": "13700137000"})
    assert reverse("staff:register") + "?phone=13700137000" in response.content.decode()


@pytest.mark.django_db
def test_no_match_says_so(clerk_client, store):
    response = clerk_client.get(URL, {"q": "13700137000"})
    assert "未找到" in response.content.decode() or "No member" in response.content.decode()


@pytest.mark.django_db
def test_lookup_query_count_is_pinned(clerk_client, store, django_assert_num_queries):
    MemberFactory(phone="13800138000", store=store)
    MemberFactory(phone="13900138000", store=store)
    # session, user (+staff profile), members (+store, card, tier via joins)
    with django_assert_num_queries(3):
        clerk_client.get(URL, {"q": "8000"}, HTTP_HX_REQUEST="true")


@pytest.mark.django_db
def test_the_card_query_count_is_pinned(clerk_client, store, django_assert_max_num_queries):
    member = MemberFactory(phone="13800138000", store=store)
    fund(member, 500)
    # session, user with staff profile, member with card and tier, then the settings and
    # tiers the screens keep a few seconds (loyalty.display): read on this first lookup.
    with django_assert_max_num_queries(5):
        response = clerk_client.get(URL, {"q": "13800138000"}, HTTP_HX_REQUEST="true")
    assert response.context["card"].points_balance == 500
    # The next lookup reuses the copies: three queries find a member and show the card.
    with django_assert_max_num_queries(3):
        clerk_client.get(URL, {"q": "13800138000"}, HTTP_HX_REQUEST="true")


@pytest.mark.django_db
def test_the_cards_extras_follow_in_a_second_request(
    clerk_client, store, django_assert_max_num_queries
):
    member = MemberFactory(phone="13800138000", store=store)
    fund(member, 500)
    for n in range(3):
        coupon_issue(template=template(name=f"券{n}"), member=member)
    page = clerk_client.get(URL, {"q": "13800138000"}, HTTP_HX_REQUEST="true").content.decode()
    extras = reverse("staff:card_extras", args=[member.member_no])
    assert f'hx-get="{extras}"' in page and 'hx-trigger="load"' in page
    assert "券0" not in page  # the coupons come with the extras
    # session, user, member, expiring points, coupons, check-in, tags, last purchases,
    # count cards: the same whatever the member holds.
    with django_assert_max_num_queries(10):  # 9, and the stores coupons are limited to
        response = clerk_client.get(extras, HTTP_HX_REQUEST="true")
    assert len(response.context["coupons"]) == 3
    body = response.content.decode()
    # Each part replaces its placeholder in the card (htmx out-of-band swaps).
    for part in ("card-figures", "card-more", "card-coupons"):
        assert f'id="{part}" hx-swap-oob="true"' in body
    assert "券0" in body and "券2" in body


@pytest.mark.django_db
def test_the_extras_of_a_franchise_stores_member_are_refused(clerk_client, franchise):
    theirs = MemberFactory(phone="13800138000", store=franchise)
    response = clerk_client.get(reverse("staff:card_extras", args=[theirs.member_no]))
    assert response.status_code == 403
    assert clerk_client.get(reverse("staff:card_extras", args=["NOSUCH"])).status_code == 404


@pytest.mark.django_db
def test_the_extras_need_a_staff_login(client, store):
    member = MemberFactory(phone="13800138000", store=store)
    response = client.get(reverse("staff:card_extras", args=[member.member_no]))
    assert response.status_code == 302


@pytest.mark.django_db
def test_the_full_page_shows_the_whole_card_at_once(clerk_client, store):
    """Without htmx (a scanner's Enter before the page's scripts ran) nothing is lazy."""
    member = MemberFactory(phone="13800138000", store=store)
    coupon_issue(template=template(name="免费拿铁"), member=member)
    page = clerk_client.get(URL, {"q": "13800138000"}).content.decode()
    assert "免费拿铁" in page and 'hx-trigger="load"' not in page


@pytest.mark.django_db
def test_the_card_speaks_the_clerks_language(clerk_client, clerk, store):
    """The card is a Jinja template translated per request (config/platform/jinja2.py): Chinese by
    default, English for a clerk whose browser asks for it, in the same process."""
    from tests.loyalty.staff_screens.helpers import english

    member = MemberFactory(phone="13800138000", store=store)
    Card.objects.filter(pk=member.pk).update(points_debt=30)
    for client, words in (
        (clerk_client, ["录入消费", "会员详情", "因退款欠扣 30 积分"]),
        (english(clerk), ["Record a purchase", "Member 360", "Owes 30 points from a refund"]),
        (clerk_client, ["录入消费"]),
    ):
        page = client.get(URL, {"q": "13800138000"}, HTTP_HX_REQUEST="true").content.decode()
        assert 'id="member-card"' in page
        for word in words:
            assert word in page, word


@pytest.mark.django_db
def test_the_full_counter_page_query_count_is_pinned(
    clerk_client, clerk, store, django_assert_max_num_queries
):
    """The page without htmx shows the card with its extras at once: the lookup's columns
    (COUNTER_COLUMNS) must hold all the card reads, or each would cost a query more."""
    member = MemberFactory(phone="13800138000", store=store, guide=clerk)
    fund(member, 500)
    clerk_client.get(URL, {"q": "13800138000"})  # the display copies, read once
    # session, user, member with card and tier; expiring points, coupons, check-in,
    # tags, guide, last purchases, count cards; the clerk's permissions (user's, group's).
    with django_assert_max_num_queries(12):
        response = clerk_client.get(URL, {"q": "13800138000"})
    body = response.content.decode()
    assert 'id="member-card"' in body and "500" in body
