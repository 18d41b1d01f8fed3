"""Count cards (次卡) through the kernel's services (loyalty/count_cards.py): sales by
cash and by stored value, uses until used up, the refusals, expiry (at a use and by the
nightly job), pro-rata refunds, the proof of check_ledger, and many tills using the last
uses of one card at once. The doors (counter, POS API, member centre) have their own."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from loyalty import signals
from loyalty.count_cards import (
    CountCardNotFound,
    CountCardNotRefundable,
    CountCardNotUsable,
    CountCardTemplateNotAvailable,
    count_card_expiry,
    count_card_refund,
    count_card_refund_amount,
    count_card_sell,
    count_card_templates_on_sale,
    count_card_use,
    count_cards_expire,
    count_cards_expiring,
    count_cards_of,
)
from loyalty.errors import LoyaltyError, ReferenceConflict
from loyalty.ledger import ledger_problems
from loyalty.models import (
    CountCard,
    CountCardEntry,
    CountCardTemplate,
    LoyaltySettings,
    StoredValueEntry,
    TopUpOffer,
)
from loyalty.stored_value import ConfirmationRequired, NotEnoughStoredValue, stored_value_top_up
from members.models import AuditEntry
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of
from tests.loyalty.test_concurrency import CLIENTS, run_at_once

D = Decimal
SH = ZoneInfo("Asia/Shanghai")
SOLD = dt.datetime(2026, 1, 31, 10, 0, tzinfo=SH)


@pytest.fixture
def wash(db):
    """10 washes for 300 yuan, valid 12 months, for 洗车 and 打蜡, in every store."""
    return CountCardTemplate.objects.create(
        code="wash10", name="洗车10次卡", uses=10, price=D("300.00"), valid_months=12,
        services="洗车、打蜡",
    )  # fmt: skip


@pytest.fixture
def trio(db):
    """3 uses for 100 yuan (a third of 100 is not a whole fen), valid 1 month, any service."""
    return CountCardTemplate.objects.create(
        code="trio", name="三次卡", uses=3, price=D("100.00"), valid_months=1
    )


@pytest.fixture
def changes(db):
    """The count_card_changed events sent, as (kind, member_id, card id, stored value entry)."""
    seen = []

    def receiver(sender, member_id, card, entry, stored_value_entry, **kwargs):
        seen.append((entry.kind, member_id, card.pk, stored_value_entry))

    signals.count_card_changed.connect(receiver, dispatch_uid="test_count_cards")
    yield seen
    signals.count_card_changed.disconnect(dispatch_uid="test_count_cards")


@pytest.fixture
def funded(member, store):
    """400 yuan principal and 100 bonus of stored value."""
    TopUpOffer.objects.create(code="c400", name="充400送100", pay_amount=400, bonus=100)
    stored_value_top_up(member=member, amount="400.00", external_ref="FUND", offer_code="c400",
                        store=store)  # fmt: skip
    return member


def sell(member, template, ref="SALE-1", **kwargs):
    card, created = count_card_sell(
        member=member, template_code=template.code, external_ref=ref, **kwargs
    )
    assert created
    return card


def use(member, card, key, **kwargs):
    return count_card_use(member=member, card_id=card.pk, key=key, **kwargs)


# --- selling ---------------------------------------------------------------------------


def test_a_sale_paid_at_the_till(member, store, clerk, wash, changes):
    card, created = count_card_sell(
        member=member, template_code="wash10", external_ref="POS-1", tender="wechat_pay",
        store=store, actor=clerk, now=SOLD,
    )  # fmt: skip
    assert created
    card.refresh_from_db()
    assert (card.name, card.uses_left, card.uses_total) == ("洗车10次卡", 10, 10)
    assert card.status == "active"
    assert (card.price_paid, card.tender, card.reference) == (D("300.00"), "wechat_pay", "POS-1")
    assert (card.store, card.actor, card.sold_at) == (store, clerk, SOLD)
    # 12 months from 2026-01-31: valid through 2027-01-31, Shanghai time.
    assert card.expires_at == dt.datetime(2027, 2, 1, tzinfo=SH)
    assert card.last_day() == dt.date(2027, 1, 31)
    sale = CountCardEntry.objects.get()
    assert (sale.kind, sale.delta, sale.left_after, sale.amount) == ("sale", 10, 10, D("300.00"))
    assert (sale.member, sale.idempotency_key) == (member, "count_card:POS-1")
    assert not StoredValueEntry.objects.exists()
    assert changes == [("sale", member.pk, card.pk, None)]
    assert ledger_problems() == []


def test_a_sale_paid_from_stored_value(funded, store, wash, changes):
    card = sell(funded, wash, "POS-2", tender="stored_value", store=store)
    # In proportion: 300 x 400/500 = 240 principal, 60 bonus.
    loyalty_card = card_of(funded)
    assert (loyalty_card.stored_principal, loyalty_card.stored_bonus) == (D("160.00"), D("40.00"))
    spend = StoredValueEntry.objects.get(kind="spend")
    assert (spend.principal_delta, spend.bonus_delta) == (D("-240.00"), D("-60.00"))
    assert spend.idempotency_key == "count_card:POS-2:stored_value"
    assert spend.purchase is None and "洗车10次卡" in spend.reason
    assert (card.tender, card.price_paid) == ("stored_value", D("300.00"))
    assert changes == [("sale", funded.pk, card.pk, spend)]
    assert ledger_problems() == []


def test_a_sale_short_of_stored_value_is_refused_and_writes_nothing(funded, store, wash):
    LoyaltySettings.objects.filter(pk=1).update(stored_value_confirm_limit=D("10000.00"))
    wash.price = D("500.01")
    wash.save()
    with pytest.raises(NotEnoughStoredValue):
        count_card_sell(member=funded, template_code="wash10", external_ref="POS-3",
                        tender="stored_value", store=store)  # fmt: skip
    assert not CountCard.objects.exists() and not CountCardEntry.objects.exists()
    assert card_of(funded).stored_value == D("500.00")


def test_a_large_sale_from_stored_value_needs_the_members_code(funded, store, wash):
    LoyaltySettings.objects.filter(pk=1).update(stored_value_confirm_limit=D("200.00"))
    with pytest.raises(ConfirmationRequired):
        count_card_sell(member=funded, template_code="wash10", external_ref="POS-4",
                        tender="stored_value", store=store)  # fmt: skip
    assert not CountCard.objects.exists()
    # Paid at the till, no code is needed.
    sell(funded, wash, "POS-5", store=store)


def test_a_replayed_sale_returns_the_first_card(member, store, wash, trio):
    card = sell(member, wash, "POS-6", store=store)
    wash.active = False  # taken off sale meanwhile: the replay still answers
    wash.save()
    again, created = count_card_sell(member=member, template_code="wash10", external_ref="POS-6")
    assert (again, created) == (card, False)
    assert CountCard.objects.count() == 1 and CountCardEntry.objects.count() == 1
    with pytest.raises(ReferenceConflict):  # another template
        count_card_sell(member=member, template_code="trio", external_ref="POS-6")
    with pytest.raises(ReferenceConflict):  # another member
        count_card_sell(member=MemberFactory(store=store), template_code="wash10",
                        external_ref="POS-6")  # fmt: skip
    assert CountCard.objects.count() == 1


def test_a_template_off_sale_or_of_other_stores_is_not_sold(member, store, other_store, wash):
    wash.stores.set([other_store])
    with pytest.raises(CountCardTemplateNotAvailable) as refused:
        count_card_sell(member=member, template_code="wash10", external_ref="P-1", store=store)
    assert refused.value.code == "count_card_template_not_available"
    assert count_card_templates_on_sale(store=store) == []
    assert count_card_templates_on_sale(store=other_store) == [wash]
    sell(member, wash, "P-2", store=other_store)
    wash.active = False
    wash.save()
    with pytest.raises(CountCardTemplateNotAvailable):
        count_card_sell(member=member, template_code="wash10", external_ref="P-3")
    with pytest.raises(CountCardTemplateNotAvailable):
        count_card_sell(member=member, template_code="nope", external_ref="P-4")


@pytest.mark.parametrize("fields", [{"external_ref": ""}, {"external_ref": "x" * 65},
                                    {"tender": "bitcoin"}])  # fmt: skip
def test_bad_sales_are_refused(member, wash, fields):
    body = {"member": member, "template_code": "wash10", "external_ref": "P-5", **fields}
    with pytest.raises(LoyaltyError):
        count_card_sell(**body)
    assert not CountCard.objects.exists()


@pytest.mark.parametrize(
    ("sold", "months", "expires"),
    [
        (dt.datetime(2026, 1, 31, 23, 30, tzinfo=SH), 1, dt.datetime(2026, 3, 1, tzinfo=SH)),
        # 00:30 in Shanghai is still the day before in UTC: the Shanghai day counts.
        (dt.datetime(2026, 5, 1, 0, 30, tzinfo=SH), 3, dt.datetime(2026, 8, 2, tzinfo=SH)),
        (dt.datetime(2026, 5, 1, 12, tzinfo=SH), 0, None),
    ],
)
def test_the_expiry_is_the_end_of_the_last_shanghai_day(sold, months, expires):
    assert count_card_expiry(sold.astimezone(dt.UTC), months) == expires


# --- using -----------------------------------------------------------------------------


def test_uses_until_used_up(member, store, clerk, trio, changes):
    card = sell(member, trio, store=store)
    for i, left in enumerate([2, 1, 0]):
        entry, created = use(member, card, f"USE-{i}", service="洗车", store=store, actor=clerk)
        assert created and (entry.kind, entry.delta, entry.left_after) == ("use", -1, left)
        assert (entry.service, entry.store, entry.actor) == ("洗车", store, clerk)
    card.refresh_from_db()
    assert (card.uses_left, card.status) == (0, "used_up")
    with pytest.raises(CountCardNotUsable) as refused:
        use(member, card, "USE-9")
    assert refused.value.code == "count_card_not_usable"
    assert refused.value.details == {"card_id": card.pk, "status": "used_up"}
    assert [kind for kind, *_rest in changes] == ["sale", "use", "use", "use"]
    assert ledger_problems() == []


def test_a_replayed_use_counts_once(member, trio, wash):
    card, other = sell(member, trio, "S-1"), sell(member, wash, "S-2")
    first, created = use(member, card, "USE-1")
    again, created_again = use(member, card, "USE-1")
    assert created and not created_again and again == first
    card.refresh_from_db()
    assert card.uses_left == 2
    with pytest.raises(ReferenceConflict):  # the key of another card's use
        use(member, other, "USE-1")
    with pytest.raises(ReferenceConflict):  # of another member's
        count_card_use(member=MemberFactory(), card_id=card.pk, key="USE-1")


def test_a_card_is_used_by_its_member_only(member, store, trio):
    card = sell(member, trio)
    with pytest.raises(CountCardNotFound) as refused:
        use(MemberFactory(store=store), card, "USE-1")
    assert refused.value.code == "count_card_not_found" and refused.value.status == 404
    with pytest.raises(CountCardNotFound):
        count_card_use(member=member, card_id="abc", key="USE-2")
    card.refresh_from_db()
    assert card.uses_left == 3


def test_a_card_is_used_in_its_stores_and_for_its_services(
    member, store, other_store, wash
):  # fmt: skip
    wash.stores.set([store])
    card = sell(member, wash, store=store)
    with pytest.raises(CountCardNotUsable):
        use(member, card, "USE-1", store=other_store)
    with pytest.raises(CountCardNotUsable) as refused:
        use(member, card, "USE-2", service="美容", store=store)
    assert "洗车、打蜡" in refused.value.message
    for i, service in enumerate(["洗车", " 打蜡 ", ""]):  # blank: the till did not say
        assert use(member, card, f"USE-{i + 3}", service=service, store=store)[1]
    card.refresh_from_db()
    assert card.uses_left == 7


def test_a_card_past_its_date_is_refused_and_marked_expired(member, trio, changes):
    card = sell(member, trio, now=SOLD)  # 1 month from Jan 31: valid through Feb 28
    with time_machine.travel(dt.datetime(2026, 2, 28, 23, 59, tzinfo=SH), tick=False):
        assert use(member, card, "USE-1")[1]
    with time_machine.travel(dt.datetime(2026, 3, 1, 0, 0, 1, tzinfo=SH), tick=False):
        with pytest.raises(CountCardNotUsable) as refused:
            use(member, card, "USE-2")
        assert "2026-02-28" in refused.value.message
        assert count_cards_expire() == 0  # already done by the refused use
    card.refresh_from_db()
    assert (card.status, card.uses_left) == ("expired", 0)
    expire = CountCardEntry.objects.get(kind="expire")
    assert (expire.delta, expire.left_after, expire.idempotency_key) == (
        -2, 0, f"count_card_expire:{card.pk}",
    )  # fmt: skip
    assert [kind for kind, *_rest in changes] == ["sale", "use", "expire"]
    with pytest.raises(CountCardNotUsable):  # and stays refused
        use(member, card, "USE-3")
    assert ledger_problems() == []


# --- expiring -------------------------------------------------------------------------


def test_the_nightly_expiry_and_running_it_twice(member, store, trio, wash):
    due = sell(member, trio, "S-1", now=SOLD)
    other = sell(MemberFactory(store=store), trio, "S-2", now=SOLD)
    use(member, due, "USE-1", now=SOLD)
    used_up = sell(member, trio, "S-3", now=SOLD)
    for i in range(3):
        use(member, used_up, f"UP-{i}", now=SOLD)
    later = sell(member, wash, "S-4", now=SOLD)  # 12 months
    wash.valid_months = 0
    wash.save()
    never = sell(member, wash, "S-5", now=SOLD)
    batches = []

    def receiver(sender, items, **kwargs):
        batches.append(sorted(items))

    signals.count_cards_expired.connect(receiver, dispatch_uid="test_count_cards_expired")
    try:
        at = dt.datetime(2026, 3, 1, 0, 5, tzinfo=SH)
        assert count_cards_expire(now=dt.datetime(2026, 2, 28, 23, 0, tzinfo=SH)) == 0
        assert count_cards_expire(now=at) == 2
        assert count_cards_expire(now=at) == 0
        assert count_cards_expire(now=dt.datetime(2040, 1, 1, tzinfo=SH)) == 1  # `later`
    finally:
        signals.count_cards_expired.disconnect(dispatch_uid="test_count_cards_expired")
    assert batches[0] == sorted(
        [(member.pk, due.pk, "三次卡", 2), (other.member_id, other.pk, "三次卡", 3)]
    )
    states = dict(CountCard.objects.values_list("pk", "status"))
    assert [states[c.pk] for c in (due, other, used_up, later, never)] == [
        "expired", "expired", "used_up", "expired", "active",
    ]  # fmt: skip
    assert CountCardEntry.objects.filter(kind="expire").count() == 3
    assert ledger_problems() == []


def test_cards_expiring_soon_for_the_notices(member, trio, wash):
    soon = sell(member, trio, "S-1", now=SOLD)  # last day Feb 28
    sell(member, wash, "S-2", now=SOLD)  # Jan 31 next year
    used_up = sell(member, trio, "S-3", now=SOLD)
    for i in range(3):
        use(member, used_up, f"UP-{i}", now=SOLD)
    feb21 = dt.datetime(2026, 2, 21, 9, tzinfo=SH)
    assert count_cards_expiring(now=feb21) == [(member.pk, soon)]  # the setting: 7 days
    assert count_cards_expiring(now=feb21 - dt.timedelta(days=1)) == []
    assert count_cards_expiring(now=feb21, days=0) == []
    assert count_cards_expiring(now=dt.datetime(2026, 3, 1, 0, 1, tzinfo=SH)) == []


def test_the_members_cards_usable_first(member, trio, wash):
    used_up = sell(member, trio, "S-1", now=SOLD)
    for i in range(3):
        use(member, used_up, f"UP-{i}", now=SOLD)
    year = sell(member, wash, "S-2", now=SOLD)
    month = sell(member, trio, "S-3", now=SOLD)
    cards = count_cards_of(member, now=dt.datetime(2026, 2, 1, tzinfo=SH))
    assert [c["id"] for c in cards] == [month.pk, year.pk, used_up.pk]
    assert cards[0] == {
        "id": month.pk, "name": "三次卡", "template": "trio", "uses_left": 3, "uses_total": 3,
        "expires_at": "2026-03-01T00:00:00+08:00", "last_day": "2026-02-28", "status": "active",
    }  # fmt: skip
    # Past its date before the nightly job ran: shown expired, after the usable ones.
    later = count_cards_of(member, now=dt.datetime(2026, 3, 2, tzinfo=SH))
    assert [(c["id"], c["status"]) for c in later] == [
        (year.pk, "active"), (month.pk, "expired"), (used_up.pk, "used_up"),
    ]  # fmt: skip
    assert count_cards_of(MemberFactory()) == []


# --- refunding ------------------------------------------------------------------------


def test_a_pro_rata_refund_rounds_down_and_closes_the_card(member, store, owner, trio, changes):
    card = sell(member, trio, store=store)
    use(member, card, "USE-1")
    assert count_card_refund_amount(CountCard.objects.get(pk=card.pk)) == D("66.66")
    entry = count_card_refund(card=card, actor=owner, reason="顾客搬家", key="R-1")
    assert (entry.kind, entry.delta, entry.left_after, entry.amount) == (
        "refund", -2, 0, D("66.66"),
    )  # fmt: skip
    assert (entry.note, entry.actor) == ("顾客搬家", owner)
    card.refresh_from_db()
    assert (card.status, card.uses_left) == ("refunded", 0)
    assert not StoredValueEntry.objects.exists()  # paid back at the till
    audit = AuditEntry.objects.get(action="count_card.refund")
    assert audit.actor == owner and audit.object_id == str(member.pk)
    assert audit.changes["paid_back"] == [None, "66.66"]
    assert audit.changes["paid_to"] == [None, "till"]
    assert count_card_refund(card=card, actor=owner, reason="重复", key="R-1") == entry
    with pytest.raises(CountCardNotRefundable):  # a second refund, another key
        count_card_refund(card=card, actor=owner, reason="再退", key="R-2")
    with pytest.raises(CountCardNotUsable):
        use(member, card, "USE-2")
    assert changes[-1] == ("refund", member.pk, card.pk, None)
    assert ledger_problems() == []


def test_a_refund_never_pays_more_than_was_paid(member, trio):
    card = sell(member, trio)
    card.refresh_from_db()
    assert count_card_refund_amount(card) == D("100.00")


def test_a_refund_of_a_card_paid_from_stored_value_returns_it(funded, owner, wash, changes):
    card = sell(funded, wash, tender="stored_value")
    for i in range(4):
        use(funded, card, f"USE-{i}")
    entry = count_card_refund(card=card, actor=owner, reason="不想用了", key="R-1")
    assert entry.amount == D("180.00")  # 300 x 6/10
    back = StoredValueEntry.objects.get(kind="refund")
    # Split as the sale took it (240 principal, 60 bonus): 144 and 36.
    assert (back.principal_delta, back.bonus_delta) == (D("144.00"), D("36.00"))
    assert back.idempotency_key == "count_card_refund:R-1:stored_value"
    loyalty_card = card_of(funded)
    assert (loyalty_card.stored_principal, loyalty_card.stored_bonus) == (D("304.00"), D("76.00"))
    assert changes[-1] == ("refund", funded.pk, card.pk, back)
    assert AuditEntry.objects.get(action="count_card.refund").changes["paid_to"] == [
        None, "stored_value",
    ]  # fmt: skip
    assert ledger_problems() == []


def test_refunds_refused(member, owner, trio):
    card = sell(member, trio, now=SOLD)
    with pytest.raises(LoyaltyError):  # no reason
        count_card_refund(card=card, actor=owner, reason=" ", key="R-1")
    LoyaltySettings.objects.filter(pk=1).update(count_card_refund_pro_rata=False)
    with pytest.raises(CountCardNotRefundable) as refused:
        count_card_refund(card=card, actor=owner, reason="搬家", key="R-2")
    assert refused.value.code == "count_card_not_refundable"
    LoyaltySettings.objects.filter(pk=1).update(count_card_refund_pro_rata=True)
    with pytest.raises(CountCardNotRefundable):  # past its date: expired, nothing left
        count_card_refund(card=card, actor=owner, reason="搬家", key="R-3",
                          now=dt.datetime(2026, 3, 1, tzinfo=SH))  # fmt: skip
    card.refresh_from_db()
    assert card.status == "expired"
    used_up = sell(member, trio, "S-2")
    for i in range(3):
        use(member, used_up, f"UP-{i}")
    with pytest.raises(CountCardNotRefundable):
        count_card_refund(card=used_up, actor=owner, reason="搬家", key="R-4")
    assert not CountCardEntry.objects.filter(kind="refund").exists()
    assert not AuditEntry.objects.filter(action="count_card.refund").exists()


# --- the proof ------------------------------------------------------------------------


def test_check_ledger_finds_a_drifted_count_card(member, trio):
    card = sell(member, trio)
    use(member, card, "USE-1")
    assert ledger_problems() == []
    CountCard.objects.filter(pk=card.pk).update(uses_left=3)
    problems = ledger_problems()
    assert problems == [(member.pk, f"count card {card.pk}: uses_left=3 sum(delta)=2 uses_total=3")]
    assert ledger_problems([member.pk]) == problems
    assert ledger_problems([MemberFactory().pk]) == []


# --- the admin --------------------------------------------------------------------------


def test_the_admin_edits_templates_and_shows_cards_and_their_ledger(owner_client, member, trio):
    card = sell(member, trio, "POS-77")
    use(member, card, "USE-1", service="洗车")
    for name in ("countcardtemplate", "countcard", "countcardentry"):
        page = owner_client.get(reverse(f"admin:loyalty_{name}_changelist"))
        assert page.status_code == 200, name
    assert owner_client.get(reverse("admin:loyalty_countcardtemplate_add")).status_code == 200
    found = owner_client.get(reverse("admin:loyalty_countcard_changelist"), {"q": "POS-77"})
    assert list(found.context["cl"].result_list) == [card]
    page = owner_client.get(reverse("admin:loyalty_countcard_change", args=[card.pk]))
    assert page.status_code == 200 and "洗车" in page.content.decode()  # the use, inline
    settings_page = owner_client.get(reverse("admin:loyalty_loyaltysettings_change", args=[1]))
    assert "count_card_refund_pro_rata" in settings_page.content.decode()


# --- many tills at once -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sixteen_tills_using_the_last_five_uses(store):
    """Real connections, one per thread: on PostgreSQL the member's card row lock queues
    them, on SQLite the IMMEDIATE transactions do. Exactly five uses succeed."""
    template = CountCardTemplate.objects.create(code="c20", name="20次卡", uses=20, price=500)
    member = MemberFactory(store=store)
    card, _created = count_card_sell(member=member, template_code="c20", external_ref="S-1")
    for i in range(15):
        count_card_use(member=member, card_id=card.pk, key=f"FIRST-{i}")

    def use_one(i):
        return count_card_use(member=member, card_id=card.pk, key=f"TILL-{i}", store=store)

    results = run_at_once(use_one)
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, CountCardNotUsable)]
    assert len(won) == 5 and len(lost) == CLIENTS - 5, results
    assert sorted(entry.left_after for entry, _created in won) == [0, 1, 2, 3, 4]
    card.refresh_from_db()
    assert (card.uses_left, card.status) == (0, "used_up")
    assert CountCardEntry.objects.filter(card=card, kind="use").count() == 20
    assert template.cards.count() == 1
    assert ledger_problems() == []
