"""Member 360: profile, card, tags, guide, timeline, manual points and coupons."""

from decimal import Decimal

import pytest
from django.urls import reverse

from campaigns.models import Message
from loyalty.benefits.issuing import coupon_issue
from loyalty.models import Card, Coupon, PointsEntry
from loyalty.purchases import purchase_record
from members.models import AuditEntry, Member, Tag
from tests.loyalty.staff_screens.helpers import english, fund, template

pytestmark = pytest.mark.django_db


def url(name, m, *args):
    return reverse(f"staff:{name}", args=[m.member_no, *args])


def test_the_timeline_shows_everything_newest_first(manager, member):
    purchase_record(member=member, amount=Decimal("88"), external_ref="t1")
    coupon_issue(template=template(name="生日券"), member=member)
    fund(member, 50)
    Message.objects.create(
        member=member, channel="inbox", event="campaign", dedupe_key="c1:inbox",
        title="双十二", body="全场双倍积分",
    )  # fmt: skip
    response = english(manager).get(url("member", member))
    kinds = {e.kind for e in response.context["timeline"]}
    assert {"registered", "purchase", "coupon", "points", "tier", "message"} <= kinds
    times = [e.at for e in response.context["timeline"]]
    assert times == sorted(times, reverse=True)
    page = response.content.decode()
    assert "双十二" in page and "生日券" in page and "¥88" in page


def test_a_clerk_sees_the_phone_masked(clerk, manager, member):
    assert "138 **** 8000" in english(clerk).get(url("member", member)).content.decode()
    assert "138 0013 8000" in english(manager).get(url("member", member)).content.decode()


def test_editing_the_profile_is_audited_old_to_new(manager, member):
    data = {"name": "李雷雷", "phone": "13800138000", "gender": "M", "birthday": "1990-05-01",
            "email": "", "note": "爱喝燕麦拿铁"}  # fmt: skip
    response = english(manager).post(url("member_edit", member), data)
    assert response["Location"] == url("member", member)
    member.refresh_from_db()
    assert (member.name, member.note) == ("李雷雷", "爱喝燕麦拿铁")
    entry = AuditEntry.objects.get(action="member.update")
    assert entry.actor == manager and entry.changes["name"] == ["李雷", "李雷雷"]


def test_a_phone_of_another_member_is_refused(manager, member, store):
    from tests.factories import MemberFactory

    other = MemberFactory(phone="13700137000", store=store)
    data = {"name": "x", "phone": "13700137000", "gender": "", "birthday": "", "email": "",
            "note": ""}  # fmt: skip
    response = english(manager).post(url("member_edit", member), data)
    assert other.member_no in response.content.decode()
    assert Member.objects.get(pk=member.pk).phone == "+8613800138000"


def test_tags_are_added_and_removed_with_an_audit_entry_each(manager, member):
    tag = Tag.objects.create(name="爱喝拿铁")
    client = english(manager)
    client.post(url("tag_add", member), {"tag": tag.pk})
    client.post(url("tag_add", member), {"tag": tag.pk})  # twice: one tag, one entry
    assert list(member.tags.all()) == [tag]
    client.post(url("tag_remove", member, tag.pk))
    assert not member.tags.exists()
    changes = list(
        AuditEntry.objects.filter(action="member.tags").values_list("changes", flat=True)
    )
    assert changes == [{"tags": ["爱喝拿铁", None]}, {"tags": [None, "爱喝拿铁"]}]


def test_the_guide_is_one_of_the_stores_staff(manager, clerk, member, other_clerk):
    client = english(manager)
    client.post(url("guide", member), {"guide": clerk.pk})
    assert Member.objects.get(pk=member.pk).guide == clerk
    response = client.post(url("guide", member), {"guide": other_clerk.pk}, follow=True)
    assert "Choose a guide from this store" in response.content.decode()
    assert Member.objects.get(pk=member.pk).guide == clerk


def test_manual_points_need_a_reason_and_are_audited_once(manager, member):
    client = english(manager)
    response = client.post(url("points_adjust", member), {"delta": "100", "reason": "",
                                                          "token": "tok-0123456789abcdef"},
                           follow=True)  # fmt: skip
    assert Card.objects.get(pk=member.pk).points_balance == 0
    assert "This field is required" in response.content.decode()
    data = {"delta": "100", "reason": "补录小票", "token": "tok-0123456789abcdef"}
    client.post(url("points_adjust", member), data)
    client.post(url("points_adjust", member), data)  # the double click
    assert Card.objects.get(pk=member.pk).points_balance == 100
    assert PointsEntry.objects.filter(kind="adjust").count() == 1
    assert AuditEntry.objects.get(action="points.adjust").actor == manager


def test_taking_more_points_than_the_balance_is_refused(manager, member):
    response = english(manager).post(
        url("points_adjust", member),
        {"delta": "-100", "reason": "错发", "token": "tok-0123456789abcdef"},
        follow=True,
    )
    assert "Not enough points" in response.content.decode()


def test_a_manager_issues_a_coupon(manager, member):
    tpl = template(name="店长券")
    english(manager).post(url("coupon_issue", member), {"template": tpl.pk})
    coupon = Coupon.objects.get(member=member)
    assert coupon.issued_by == manager and coupon.source == Coupon.Source.STAFF
    assert AuditEntry.objects.filter(action="coupon.issue", actor=manager).exists()


def test_a_coupon_over_its_limit_is_refused_with_the_reason(manager, member):
    tpl = template(name="店长券", per_member_limit=1)
    client = english(manager)
    client.post(url("coupon_issue", member), {"template": tpl.pk})
    response = client.post(url("coupon_issue", member), {"template": tpl.pk}, follow=True)
    assert "already has the most coupons" in response.content.decode()


def test_a_clerk_sees_no_editing_forms(clerk, member):
    page = english(clerk).get(url("member", member)).content.decode()
    assert 'id="adjust-form"' not in page and url("member_edit", member) not in page


@pytest.mark.parametrize("role,most", [("clerk", 23), ("manager", 29)])
def test_the_360_query_count_is_pinned(role, most, member, request, django_assert_max_num_queries):
    user = request.getfixturevalue(role)
    for n in range(5):
        purchase_record(member=member, amount=Decimal("10"), external_ref=f"q{n}")
        coupon_issue(template=template(name=f"券{n}"), member=member)
    member.tags.add(Tag.objects.create(name="常客"))
    client = english(user)
    with django_assert_max_num_queries(most):
        response = client.get(url("member", member))
    assert len(response.context["timeline"]) > 10


def test_the_counter_card_query_count_is_pinned(clerk, member, django_assert_max_num_queries):
    for n in range(5):
        purchase_record(member=member, amount=Decimal("10"), external_ref=f"q{n}")
        coupon_issue(template=template(name=f"券{n}"), member=member)
    client = english(clerk)
    with django_assert_max_num_queries(15):
        response = client.get(reverse("staff:card", args=[member.member_no]))
    assert len(response.context["last_purchases"]) == 5
