"""Action points: completing the profile, and one-off actions (follow, bind WeChat), once each."""

import datetime as dt

import pytest

from loyalty.benefits.engagement import award_action, profile_reward
from loyalty.models import PointsEntry
from members.models import Member
from members.services import member_update
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db
BIRTHDAY = dt.date(1992, 5, 20)


def action_entries(member) -> list[tuple[str, int]]:
    return list(
        PointsEntry.objects.filter(member=member, idempotency_key__startswith="action:")
        .order_by("id")
        .values_list("source", "delta")
    )


def test_completing_the_profile_gives_the_points_once(member, conf, assert_ledger_ok):
    assert member.name and not member.gender and member.birthday is None
    member = member_update(member=member, actor=None, gender=Member.Gender.FEMALE)
    assert action_entries(member) == []  # no birthday yet

    member = member_update(member=member, actor=None, birthday=BIRTHDAY)
    assert action_entries(member) == [("action:profile", conf.profile_points)]
    entry = PointsEntry.objects.get(member=member)
    assert (entry.kind, entry.remaining, entry.idempotency_key) == (
        "earn",
        conf.profile_points,
        f"action:{member.phone_hash}:profile",
    )

    # Edited again, emptied and filled in again: still once.
    member = member_update(member=member, actor=None, birthday=dt.date(1992, 5, 21))
    member = member_update(member=member, actor=None, name="")
    member = member_update(member=member, actor=None, name="韩梅梅")
    assert action_entries(member) == [("action:profile", conf.profile_points)]
    assert card_of(member).points_balance == conf.profile_points
    assert_ledger_ok()


def test_all_three_at_once_give_the_points(store, conf):
    member = MemberFactory(store=store, name="")
    member_update(
        member=member, actor=None, name="王芳", gender=Member.Gender.FEMALE, birthday=BIRTHDAY
    )
    assert card_of(member).points_balance == conf.profile_points


def test_a_profile_without_a_name_gives_nothing(store, conf):
    member = MemberFactory(store=store, name="")
    member = member_update(
        member=member, actor=None, gender=Member.Gender.MALE, birthday=BIRTHDAY, email="a@b.cn"
    )
    assert action_entries(member) == []
    assert profile_reward(member=member) == (None, False)


def test_other_edits_of_an_incomplete_profile_give_nothing(member, conf):
    member_update(member=member, actor=None, email="lilei@example.cn", note="常客")
    assert not PointsEntry.objects.exists()


def test_no_profile_points_when_set_to_zero(member, conf):
    conf.profile_points = 0
    conf.save()
    member_update(member=member, actor=None, gender=Member.Gender.MALE, birthday=BIRTHDAY)
    assert not PointsEntry.objects.exists()


def test_an_action_gives_its_points_once(member, assert_ledger_ok):
    first, created = award_action(member=member, action="follow_oa", points=10, reason="关注公众号")
    again, created_again = award_action(
        member=member, action="follow_oa", points=10, reason="关注公众号"
    )
    assert created and not created_again and again == first
    bound, created_bound = award_action(
        member=member, action="bind_wechat", points=20, reason="绑定微信"
    )
    assert created_bound
    assert action_entries(member) == [("action:follow_oa", 10), ("action:bind_wechat", 20)]
    assert card_of(member).points_balance == 30
    assert_ledger_ok()


def test_the_same_action_of_two_members_pays_each(member, store):
    other = MemberFactory(store=store)
    award_action(member=member, action="follow_oa", points=10, reason="关注公众号")
    award_action(member=other, action="follow_oa", points=10, reason="关注公众号")
    assert card_of(member).points_balance == card_of(other).points_balance == 10


def test_an_action_worth_nothing_writes_nothing(member):
    assert award_action(member=member, action="follow_oa", points=0, reason="x") == (None, False)
    assert not PointsEntry.objects.exists()


def test_the_profile_points_are_not_given_again_after_deleting_the_account(store, conf):
    from members.services import member_erase, member_join

    conf.profile_points = 40
    conf.save()
    member = MemberFactory(store=store, name="", gender="", birthday=None)
    phone = member.phone
    member_update(member=member, actor=None, name="韩梅梅", gender="F", birthday=BIRTHDAY)
    assert action_entries(member) == [("action:profile", 40)]
    member_erase(member=member, actor=None)

    again, _created = member_join(phone=phone, consent_version="v1")
    member_update(member=again, actor=None, name="韩梅梅", gender="F", birthday=BIRTHDAY)
    assert action_entries(again) == []


def test_a_profile_rewarded_under_the_old_per_member_key_is_not_rewarded_again(store, conf):
    member = MemberFactory(store=store, name="韩梅梅", gender="F", birthday=BIRTHDAY)
    PointsEntry.objects.filter(member=member).delete()  # the receiver's, under the new key
    entry, created = award_action(member=member, action="probe", points=5, reason="旧")
    assert created
    PointsEntry.objects.filter(pk=entry.pk).update(idempotency_key=f"action:{member.pk}:probe")
    again, created = award_action(member=member, action="probe", points=5, reason="旧")
    assert (again.pk, created) == (entry.pk, False)


def test_a_new_phone_number_does_not_earn_the_profile_points_again(store, conf):
    conf.profile_points = 40
    conf.save()
    member = MemberFactory(store=store, name="", gender="", birthday=None)
    member = member_update(member=member, actor=None, name="韩梅梅", gender="F", birthday=BIRTHDAY)
    member = member_update(member=member, actor=None, phone="13600001111")
    member_update(member=member, actor=None, name="韩梅")
    assert action_entries(member) == [("action:profile", 40)]
