"""Many clients at once, real connections (one per thread), no double spend.

Runs on SQLite (IMMEDIATE transactions queue the writers) and on PostgreSQL
(row locks on the card), which CI runs with DATABASE_URL set.
"""

import json
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from loyalty.errors import NotEnoughPoints
from loyalty.ledger import ledger_problems, points_award, points_spend
from loyalty.models import ApiKey, PointsEntry, Purchase, Refund
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db(transaction=True)
CLIENTS = 16


def run_at_once(work, n=CLIENTS):
    """Start n threads that call work(i) at the same moment; return their results."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def runner(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected, asserted by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_sixteen_clients_spending_one_balance(store):
    member = MemberFactory(store=store)
    points_award(member=member, points=1000, key="opening", reason="期初")
    cost = 300

    def spend(i):
        return points_spend(member=member, points=cost, key=f"reward:{i}", reason="兑换")

    results = run_at_once(spend)
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, NotEnoughPoints)]
    assert len(won) == 1000 // cost and len(lost) == CLIENTS - len(won), results
    assert card_of(member).points_balance == 1000 - cost * len(won)
    assert not ledger_problems()


def test_sixteen_identical_purchases_make_one(client, store):
    member = MemberFactory(store=store)
    _key_obj, key = ApiKey.issue(store=store, name="POS")
    body = {"member_no": member.member_no, "amount": "88.00", "external_ref": "ORDER-42"}

    def post(i):
        from django.test import Client

        response = Client().post(
            "/api/v1/purchases",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        return response.status_code, response.json()

    results = run_at_once(post)
    statuses = sorted(r[0] for r in results if isinstance(r, tuple))
    assert statuses == [200] * (CLIENTS - 1) + [201], results
    bodies = {json.dumps(r[1], sort_keys=True) for r in results}
    assert len(bodies) == 1  # every answer is the same purchase
    assert Purchase.objects.filter(external_ref="ORDER-42").count() == 1
    assert PointsEntry.objects.filter(member=member).count() == 1
    assert card_of(member).points_balance == 88
    assert not ledger_problems()


def test_concurrent_purchases_of_one_member_all_count(store):
    from loyalty.purchases import purchase_record

    member = MemberFactory(store=store)

    def buy(i):
        return purchase_record(member=member, amount="10.00", external_ref=f"P-{i}")

    results = run_at_once(buy)
    assert all(isinstance(r, tuple) and r[1] for r in results), results
    card = card_of(member)
    assert (card.purchase_count, card.points_balance) == (CLIENTS, 10 * CLIENTS)
    assert not ledger_problems()


def test_the_database_in_use(request):
    # Documents in the test report which engine ran the concurrency tests.
    assert connection.vendor in ("sqlite", "postgresql")


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite: the chunk holds the one write lock, so no registration can commit inside it",
)
def test_a_registration_committed_inside_an_import_chunk_is_not_duplicated(
    store, tmp_path, settings
):
    """A customer registers, on another connection, a phone of the chunk being written,
    after the chunk read the members and before its COPY: the unique index refuses the
    chunk, it rolls back and is written again, and that row updates the new member."""
    from loyalty.imports import writer
    from loyalty.imports.runner import import_file
    from members.models import Member
    from members.services import member_by_phone, member_join
    from tests.loyalty.import_files import HEADERS_ZH, phone, write_csv

    settings.MEDIA_ROOT = tmp_path / "media"
    rows = [[phone(i), f"会员{i}", "", "", "10", "", "", "", "", ""] for i in range(1, 7)]
    path = write_csv(tmp_path / "m.csv", [HEADERS_ZH, *rows], encoding="gbk")
    real_refresh, refreshes = writer.Taken.refresh, []

    def refresh(self):
        real_refresh(self)
        refreshes.append(self.seen)
        if len(refreshes) == 3:  # the second chunk's first read (the first: __init__)

            def register():
                try:
                    member_join(phone=phone(3), consent_version="v1", name="先注册", store=store)
                finally:
                    connections.close_all()

            other = threading.Thread(target=register)
            other.start()
            other.join(timeout=60)

    writer.Taken.refresh = refresh
    try:
        job = import_file(path=str(path), dry_run=False, chunk_size=2)
    finally:
        writer.Taken.refresh = real_refresh
    assert (job.created, job.updated, job.unchanged, job.errors) == (5, 1, 0, 0)
    assert len(refreshes) == 5  # the start, three chunks, and the second chunk once more
    assert Member.objects.count() == 6
    registered = member_by_phone(phone(3))
    assert (registered.name, registered.source) == ("会员3", Member.Source.QR)
    assert not ledger_problems()


def _refund_at_once(store, member, data: str, n: int = 8):
    """n tills send the same refund of ORDER-7 (a 100-yuan purchase) at the same moment."""
    from django.test import Client

    from loyalty.purchases import purchase_record

    _key_obj, key = ApiKey.issue(store=store, name="POS")
    purchase_record(member=member, amount="100.00", external_ref="ORDER-7", store=store)

    def post(i):
        response = Client(raise_request_exception=False).post(
            "/api/v1/purchases/ORDER-7/refund",
            data=data,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        return response.status_code, response.content

    return run_at_once(post, n=n)


def test_eight_identical_partial_refunds_make_one(store):
    # Each retry once passed the key check before the lock: on PostgreSQL the losers
    # then hit the ledger's unique key (a 500).
    member = MemberFactory(store=store)

    results = _refund_at_once(store, member, '{"amount": "30.00", "refund_ref": "RF-1"}')

    assert {r[0] for r in results if isinstance(r, tuple)} == {200}, results
    assert len({r[1] for r in results}) == 1  # every till gets the first answer
    assert json.loads(results[0][1]) == {
        "external_ref": "ORDER-7",
        "refunded": "30.00",
        "refunded_total": "30.00",
        "status": "partially_refunded",
        "points_clawed_back": 30,
        "points_returned": 0,
        "points_owed": 0,
        "points_balance": 70,
        "stored_value_returned": "0.00",
        "stored_value": {"balance": "0.00", "principal": "0.00", "bonus": "0.00"},
    }
    assert Refund.objects.get().idempotency_key == "ORDER-7:refund:RF-1"
    assert Purchase.objects.get().refunded_amount == Decimal("30.00")
    assert (card_of(member).points_balance, card_of(member).total_spent) == (70, Decimal("70.00"))
    assert not ledger_problems()


def test_eight_identical_full_refunds_without_a_body_make_one(store):
    # Without refund_ref a full refund's key is "<ref>:refund:full": the losers once
    # answered 422 (already refunded) or 500 instead of the first refund.
    member = MemberFactory(store=store)

    results = _refund_at_once(store, member, "")

    assert {r[0] for r in results if isinstance(r, tuple)} == {200}, results
    assert len({r[1] for r in results}) == 1
    body = json.loads(results[0][1])
    assert (body["refunded"], body["status"], body["points_clawed_back"]) == (
        "100.00",
        "refunded",
        100,
    )
    assert Refund.objects.get().idempotency_key == "ORDER-7:refund:full"
    card = card_of(member)
    assert (card.points_balance, card.total_spent, card.purchase_count) == (0, 0, 0)
    assert not ledger_problems()


def test_two_senders_of_one_campaign_send_nothing_twice(store):
    """Two workers pick up the same broadcast at once (the job and a `campaign_send` by
    hand): every member is reached once, with one coupon and one message per channel."""
    from campaigns.marketing.models import Campaign, CampaignMember, Variant
    from campaigns.marketing.sending import campaign_send
    from campaigns.models import Message
    from loyalty.models import Coupon, CouponTemplate

    members = [MemberFactory(store=store) for _ in range(30)]
    template = CouponTemplate.objects.create(name="并发券", code="race", value=5, valid_days=7)
    campaign = Campaign.objects.create(
        name="并发", title="并发", message="你好", channels=["inbox"], holdout_percent=0,
        status=Campaign.Status.SENDING, rules={"all": []},
    )  # fmt: skip
    Variant.objects.create(campaign=campaign, name="A", coupon_template=template)

    results = run_at_once(lambda i: campaign_send(campaign.pk), n=2)
    assert not [r for r in results if isinstance(r, Exception)], results
    reached = CampaignMember.objects.filter(campaign=campaign)
    assert reached.count() == len(members)
    assert Coupon.objects.filter(template=template).count() == len(members)
    assert Message.objects.filter(campaign_member__campaign=campaign).count() == len(members)
