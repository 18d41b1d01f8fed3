"""config/platform/fixed_sql.py: reads and writes written once as SQL must give and store exactly
what the ORM gives and stores (they serve the hot paths: sign-in, API key, purchase)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from config.platform.fixed_sql import FixedInsert, FixedRead, FixedUpdate
from loyalty.models import Card, GrowthEntry, PointsEntry, Purchase, Tier
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _same(a, b, model) -> None:
    for field in model._meta.concrete_fields:
        assert getattr(a, field.attname) == getattr(b, field.attname), field.name


def test_a_read_with_a_join_gives_the_orms_instances(store):
    member = MemberFactory(store=store)
    gold = Tier.objects.order_by("level")[1]
    Card.objects.filter(pk=member.pk).update(tier=gold, total_spent=Decimal("1234.50"))
    read = FixedRead(Card, "t0.member_id = %s", related=("tier",))
    [card] = read(member.pk)
    orm = Card.objects.select_related("tier").get(pk=member.pk)
    _same(card, orm, Card)
    assert Card.tier.is_cached(card) and card.tier.name == gold.name
    _same(card.tier, orm.tier, Tier)
    assert isinstance(card.total_spent, Decimal) and timezone.is_aware(card.tier_since)
    assert card._state.adding is False and card._state.db == "default"


def test_instances_are_made_as_from_db_makes_them_and_init_receivers_still_run(store):
    from django.db.models.signals import post_init

    member = MemberFactory(store=store, name="李雷")
    read = FixedRead(Member, "t0.id = %s", fields=("member_no", "name", "store"))
    [fast] = read(member.pk)
    orm = Member.objects.only("member_no", "name", "store").get(pk=member.pk)
    assert fast.get_deferred_fields() == orm.get_deferred_fields()
    assert vars(fast).keys() == vars(orm).keys() and fast == orm
    assert fast.phone == member.phone  # a deferred column loads on access, decrypted
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    # A receiver connected after the read was built still sees the instances it makes.
    post_init.connect(receiver, sender=Member)
    try:
        [again] = read(member.pk)
    finally:
        post_init.disconnect(receiver, sender=Member)
    assert seen == [again]


def test_a_missing_join_is_cached_as_none_and_a_subset_defers_the_rest(store):
    member = MemberFactory(store=store, name="李雷")
    Card.objects.filter(pk=member.pk).update(tier=None)
    [card] = FixedRead(Card, "t0.member_id = %s", related=("tier",))(member.pk)
    assert Card.tier.is_cached(card) and card.tier is None
    read = FixedRead(Member, "t0.member_no = %s", fields=("member_no", "status"))
    found = read.first(member.member_no)
    assert found.pk == member.pk and found.get_deferred_fields() >= {"name", "phone"}
    assert found.name == "李雷"  # deferred: loaded on access, as the ORM does
    assert read.first("nobody") is None


def test_a_join_may_go_on_from_a_joined_model(store):
    """("store", "card", "card__tier"): the member, its store, its card and the card's
    tier, as select_related("store", "card__tier") gives them."""
    member = MemberFactory(store=store)
    gold = Tier.objects.order_by("level")[1]
    Card.objects.filter(pk=member.pk).update(tier=gold)
    read = FixedRead(Member, "t0.id = %s", related=("store", "card", "card__tier"))
    found = read.first(member.pk)
    orm = Member.objects.select_related("store", "card__tier").get(pk=member.pk)
    _same(found, orm, Member)
    assert Member.store.is_cached(found) and found.store.code == store.code
    assert Card.tier.is_cached(found.card) and found.card.tier.name == gold.name
    assert found.card.member is found  # the reverse side cached, as the ORM does
    Card.objects.filter(pk=member.pk).update(tier=None)
    assert read.first(member.pk).card.tier is None
    Card.objects.filter(pk=member.pk).delete()  # no card: no tier to join from either
    cardless = read.first(member.pk)
    assert Member.card.is_cached(cardless)  # known to have none, as the ORM knows
    with pytest.raises(Card.DoesNotExist):
        _ = cardless.card
    with pytest.raises(ValueError):
        FixedRead(Member, "1 = 1", related=("card__tier",)).first()  # "card" not named


def test_joined_models_read_only_the_fields_named_as_only_reads_them(store):
    """fields=("name", "store__code", "card__points_balance", "card__tier__name"): each
    part reads what only() reads of it (the named columns, its key, the keys of its
    joins) and defers the rest; a part none is named of is read whole."""
    member = MemberFactory(store=store, name="韩梅梅")
    gold = Tier.objects.order_by("level")[1]
    Card.objects.filter(pk=member.pk).update(tier=gold, points_balance=321)
    names = ("name", "store__code", "card__points_balance", "card__tier__name")
    read = FixedRead(Member, "t0.id = %s", fields=names, related=("store", "card", "card__tier"))
    found = read.first(member.pk)
    orm = (
        Member.objects.select_related("store", "card__tier")
        .only(*names, "card__tier")
        .get(pk=member.pk)
    )
    for fast, slow in [
        (found, orm),
        (found.store, orm.store),
        (found.card, orm.card),
        (found.card.tier, orm.card.tier),
    ]:
        assert fast.get_deferred_fields() == slow.get_deferred_fields(), type(fast)
        assert vars(fast).keys() - {"_state"} == vars(slow).keys() - {"_state"}
    assert found.card.points_balance == 321 and found.card.tier.name == gold.name
    assert found.store.name == store.name  # deferred: loaded on access
    whole = FixedRead(Member, "t0.id = %s", fields=("name",), related=("store",))
    assert not whole.first(member.pk).store.get_deferred_fields()
    with pytest.raises(ValueError):
        FixedRead(Member, "1 = 1", fields=("card__points_balance",)).first()  # no card joined


def test_member_search_finds_one_value_as_the_orm_does(store, other_store):
    """member_search's phone and member-number lookups (fixed SQL) find what its ORM
    query finds, with the same joins and scope: an exact key finds a member of any store
    of the chain (issue 24), unless a store serves its own members only."""
    from loyalty.counter.selectors import COUNTER_COLUMNS
    from members.models import Role, StaffProfile, User
    from members.selectors import member_search

    here, there = MemberFactory(store=store), MemberFactory(store=other_store)
    clerk = User.objects.create_user("clerk_fx")
    StaffProfile.objects.create(user=clerk, store=store, role=Role.CLERK)
    owner = User.objects.create_user("owner_fx")
    StaffProfile.objects.create(user=owner, store=store, role=Role.OWNER)
    franchise = User.objects.create_user("franchise_fx")
    StaffProfile.objects.create(user=franchise, store=other_store, role=Role.CLERK)
    other_store.serves_own_members_only = True
    other_store.save()
    cases = [(clerk, here, True), (clerk, there, False), (owner, there, True),
             (franchise, there, True), (franchise, here, False)]  # fmt: skip
    for who, member, seen in cases:
        for q in (member.phone, member.member_no):
            kind, found = member_search(who, q, related=("card__tier",), only=COUNTER_COLUMNS)
            assert kind in ("phone", "member_no")
            assert [m.pk for m in found] == ([member.pk] if seen else [])
            if seen:
                orm = Member.objects.select_related("store", "card__tier").get(pk=member.pk)
                assert found[0].name == orm.name and found[0].store.name == orm.store.name
                assert found[0].card.tier_id == orm.card.tier_id
                assert found[0].card.tier.name == orm.card.tier.name


def test_an_insert_stores_what_save_stores(store):
    member = MemberFactory(store=store)
    now = timezone.now()
    fields = dict(member_id=member.pk, kind=PointsEntry.Kind.EARN, delta=7, balance_after=7,
                  remaining=7, expires_at=now + dt.timedelta(days=30), reason="测试",
                  created_at=now)  # fmt: skip
    fast = FixedInsert(PointsEntry)(PointsEntry(**fields, idempotency_key="fast"))
    slow = PointsEntry(**fields, idempotency_key="slow")
    slow.save(force_insert=True)
    assert fast.pk and fast._state.adding is False
    a, b = PointsEntry.objects.get(pk=fast.pk), PointsEntry.objects.get(pk=slow.pk)
    for field in PointsEntry._meta.concrete_fields:
        if field.name not in ("id", "idempotency_key"):
            assert getattr(a, field.attname) == getattr(b, field.attname), field.name


def test_an_insert_refused_by_a_unique_index_is_djangos_integrity_error(store):
    member = MemberFactory(store=store)
    insert = FixedInsert(GrowthEntry)
    row = dict(member_id=member.pk, delta=1, balance_after=1, reason="x", idempotency_key="k")
    insert(GrowthEntry(**row))
    with pytest.raises(IntegrityError), transaction.atomic():
        insert(GrowthEntry(**row))
    assert GrowthEntry.objects.count() == 1


def test_an_update_writes_the_fields_and_refuses_a_missing_row(store):
    member = MemberFactory(store=store)
    purchase = Purchase.objects.create(
        member=member, external_ref="R1", gross_amount=10, cash_paid=10, occurred_at=timezone.now()
    )
    purchase.points_balance_after, purchase.tier_after = 10, "银卡"
    update = FixedUpdate(Purchase, ["points_balance_after", "tier_after"])
    update(purchase)
    purchase.refresh_from_db()
    assert (purchase.points_balance_after, purchase.tier_after) == (10, "银卡")
    purchase.pk = 10**9
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        update(purchase)


def test_a_conditional_update_changes_the_row_only_while_the_condition_holds(store):
    from loyalty.benefits.issuing import coupon_issue
    from loyalty.models import Coupon, CouponTemplate

    member = MemberFactory(store=store)
    template = CouponTemplate.objects.create(name="券", kind="cash", value=5, valid_days=30)
    coupon, _ = coupon_issue(template=template, member=member)
    claim = FixedUpdate(Coupon, ["status", "redeemed_store"], where=(("status", "="),))
    used = {"status": Coupon.Status.REDEEMED, "redeemed_store": store}
    assert claim.set(coupon.pk, used, Coupon.Status.ISSUED) == 1
    assert claim.set(coupon.pk, used, Coupon.Status.ISSUED) == 0  # used already
    coupon.refresh_from_db()
    assert (coupon.status, coupon.redeemed_store_id) == (Coupon.Status.REDEEMED, store.pk)


def test_an_insert_reads_back_what_the_database_fills_in(store):
    member = MemberFactory(store=store)
    Card.objects.filter(pk=member.pk).delete()
    card = FixedInsert(Card)(Card(member=member, tier_since=timezone.now()))
    assert (card.lifecycle, card.rfm_r, card.rfm_m) == ("", 0, 0)  # db_default, as save() reads
    assert Card.objects.get(pk=member.pk).points_balance == 0


def test_a_db_default_field_given_a_value_is_written_by_the_insert_not_by_save(store, monkeypatch):
    """A purchase paid partly from stored value gives stored_value_used (a db_default
    field) a value: still one fixed INSERT, never the save() path, as save() stores it."""
    member = MemberFactory(store=store)
    monkeypatch.setattr(Purchase, "save", lambda *a, **k: pytest.fail("save() was used"))
    insert = FixedInsert(Purchase)
    paid = {"gross_amount": Decimal("20.00"), "cash_paid": Decimal("12.00")}
    sv = Decimal("8.00")
    given = insert(Purchase(member=member, external_ref="SV-1", stored_value_used=sv, **paid))
    left = insert(Purchase(member=member, external_ref="SV-2", **paid))
    assert given.stored_value_used == Decimal("8.00")
    assert left.stored_value_used == Decimal("0.00")  # read back from the database's default
    monkeypatch.undo()
    stored = {p.external_ref: p.stored_value_used for p in Purchase.objects.all()}
    assert stored == {"SV-1": Decimal("8.00"), "SV-2": Decimal("0.00")}
    orm = Purchase.objects.create(member=member, external_ref="SV-3", stored_value_used=sv, **paid)
    ours, theirs = Purchase.objects.get(pk=given.pk), Purchase.objects.get(pk=orm.pk)
    differ = {"id", "external_ref", "occurred_at", "created_at"}
    for field in Purchase._meta.concrete_fields:
        if field.name not in differ:
            assert getattr(ours, field.attname) == getattr(theirs, field.attname), field.name


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_a_naive_datetime_is_read_in_the_sites_zone_and_misuse_is_refused(store):
    from members.models import PrivacyNotice

    notice = PrivacyNotice.objects.create(
        version="v1", title="t", body="b", published_at=timezone.now() - dt.timedelta(hours=3)
    )
    naive = timezone.localtime().replace(tzinfo=None) - dt.timedelta(hours=2)  # Shanghai
    read = FixedRead(PrivacyNotice, "t0.published_at <= %s")
    assert read.first(naive) == notice  # 2 h ago in Shanghai, not 2 h ago + 8 h in UTC
    assert list(PrivacyNotice.objects.filter(published_at__lte=naive)) == [notice]
    claim = FixedUpdate(Card, ["points_balance"], where=(("tier", "="),))
    with pytest.raises(ValueError, match="IS NULL"):
        claim.set(1, {"points_balance": 0}, None)


@pytest.mark.django_db(transaction=True)
def test_a_row_lock_outside_a_transaction_is_refused_as_select_for_update_is():
    from django.db.transaction import TransactionManagementError

    with pytest.raises(TransactionManagementError):
        FixedRead(Card, "t0.member_id = %s", lock=True)(1)
