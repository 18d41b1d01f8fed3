"""The admin's "Issue to members…" is scoped like every manager screen: a store manager
issues to their own store's members only, and the form tells nothing about anyone else's
(issue 25)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import Coupon, CouponTemplate
from tests.factories import MemberFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tpl(db):
    return CouponTemplate.objects.create(
        name="立减 10 元", kind="cash", value=Decimal("10"), valid_days=30
    )


def _issue_url(tpl):
    return reverse("admin:loyalty_coupontemplate_issue", args=[tpl.pk])


def test_a_manager_cannot_issue_to_another_stores_member_by_phone(
    manager_client, tpl, store, other_store
):
    mine = MemberFactory(store=store, phone="13800138000")
    theirs = MemberFactory(store=other_store, phone="13900139000")

    response = manager_client.post(_issue_url(tpl), {"members": "+86 138-0013-8000\n139 0013 9000"})

    assert response.status_code == 200  # the form again, nothing issued
    assert not Coupon.objects.exists()
    assert "139 0013 9000" in str(response.context["form"].non_field_errors())

    response = manager_client.post(_issue_url(tpl), {"members": "+86 138-0013-8000"})

    assert response.status_code == 302  # their own store's member: issued
    assert [c.member_id for c in Coupon.objects.all()] == [mine.pk]
    assert not Coupon.objects.filter(member=theirs).exists()


def test_nor_by_member_number_which_the_owner_may(client, manager, owner, tpl, other_store):
    theirs = MemberFactory(store=other_store)

    client.force_login(manager)
    client.post(_issue_url(tpl), {"members": theirs.member_no})
    assert not Coupon.objects.filter(member=theirs).exists()

    client.force_login(owner)  # owners see every store
    response = client.post(_issue_url(tpl), {"members": theirs.member_no})
    assert response.status_code == 302
    assert Coupon.objects.filter(member=theirs).count() == 1


def test_the_error_does_not_tell_whether_someone_has_the_phone(manager_client, tpl, other_store):
    MemberFactory(store=other_store, phone="13900139000")

    def error(line):
        response = manager_client.post(
            _issue_url(tpl), {"members": line}, HTTP_ACCEPT_LANGUAGE="en"
        )
        return [str(e).replace(line, "…") for e in response.context["form"].non_field_errors()]

    of_another_store, of_nobody = error("13900139000"), error("13700137000")
    assert of_another_store == of_nobody == ["Not found in your stores: …"]


def test_a_manager_issuing_to_a_tag_reaches_only_their_stores_members(
    manager_client, tpl, store, other_store
):
    vip = TagFactory(name="VIP")
    mine, theirs = MemberFactory(store=store), MemberFactory(store=other_store)
    mine.tags.add(vip)
    theirs.tags.add(vip)

    response = manager_client.post(_issue_url(tpl), {"tag": vip.pk})

    assert response.status_code == 302
    assert {c.member_id for c in Coupon.objects.filter(template=tpl)} == {mine.pk}
