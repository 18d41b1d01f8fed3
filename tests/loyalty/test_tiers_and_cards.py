import io

import pytest
from django.core.management import call_command

from loyalty.models import Card, PointsEntry, TierChange
from loyalty.purchases import purchase_record
from loyalty.tiers import tier_set
from members.models import AuditEntry
from members.services import member_create
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db


def test_a_new_member_gets_a_card_at_the_lowest_tier(store, tiers):
    member = member_create(phone="13800138000", store=store)
    card = card_of(member)
    assert card.tier == tiers["普通会员"] and card.points_balance == 0
    assert TierChange.objects.get(member=member).reason == "registered"


def test_the_card_is_rolled_back_with_a_failed_registration(store):
    with pytest.raises(Exception):  # noqa: B017 - any failure inside the transaction
        from django.db import transaction

        with transaction.atomic():
            member_create(phone="13800138000", store=store)
            raise RuntimeError("boom")
    assert not Card.objects.exists()


def test_staff_set_a_tier_with_history_and_audit(member, manager, tiers):
    tier_set(member=member, tier=tiers["钻石卡"], actor=manager, note="老客户补录")
    change = TierChange.objects.filter(reason="staff").get()
    assert (change.to_tier, change.actor, change.note) == (tiers["钻石卡"], manager, "老客户补录")
    audit = AuditEntry.objects.get(action="tier.set")
    assert audit.changes["tier"] == ["普通会员", "钻石卡"]


def test_check_ledger_passes_on_a_sound_ledger(member):
    purchase_record(member=member, amount="10", external_ref="P")
    out = io.StringIO()
    call_command("check_ledger", stdout=out)
    assert "Ledger OK" in out.getvalue()


def test_check_ledger_exits_1_naming_the_drifting_members(store):
    sound = MemberFactory(store=store)
    broken = MemberFactory(store=store)
    for m in (sound, broken):
        purchase_record(member=m, amount="10", external_ref=f"P{m.pk}")
    Card.objects.filter(pk=broken.pk).update(points_balance=11)  # drift
    err = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("check_ledger", stderr=err)
    assert exc.value.code == 1
    assert broken.member_no in err.getvalue() and sound.member_no not in err.getvalue()


def test_check_ledger_catches_a_lot_that_disagrees(member):
    purchase_record(member=member, amount="10", external_ref="P")
    PointsEntry.objects.filter(kind="earn").update(remaining=9)
    with pytest.raises(SystemExit):
        call_command("check_ledger", stderr=io.StringIO())
