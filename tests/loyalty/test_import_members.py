"""What an import writes: new members with their opening points (a ledger lot), tier
(history), counters and tags; existing members updated only where the file has a
value; the same file twice changes nothing; the dry run says what the run does."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError

from loyalty.imports.writer import opening_key
from loyalty.ledger import expiry_for, points_spend
from loyalty.models import (
    Card,
    ImportJob,
    LoyaltySettings,
    OpeningBalance,
    PointsEntry,
    TierChange,
)
from loyalty.purchases import purchase_record, purchase_refund
from members.crypto import phone_hash
from members.models import AuditEntry, Member, Tag
from members.services import member_by_phone, member_join
from tests.factories import StoreFactory
from tests.loyalty.import_files import HEADERS_ZH, phone, run_import, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _file(tmp_path, rows, name="m.csv", headers=HEADERS_ZH):
    return write_csv(tmp_path / name, [headers, *rows], encoding="gbk")


def _snapshot():
    """Everything an import writes, as comparable values."""
    return {
        "members": sorted(
            Member.objects.values_list(
                "pk", "member_no", "phone_hash", "name", "gender", "birthday", "store_id",
                "created_at", "updated_at", "note",
            )
        ),
        "cards": sorted(Card.objects.values_list()),
        "points": sorted(PointsEntry.objects.values_list()),
        "tiers": sorted(TierChange.objects.values_list()),
        "openings": sorted(OpeningBalance.objects.values_list()),
        "tags": sorted(Member.tags.through.objects.values_list("member_id", "tag_id")),
        "audit": AuditEntry.objects.filter(action="member.import").count(),
    }  # fmt: skip


def test_it_creates_members_with_their_balances(tmp_path, store, tiers, assert_ledger_ok):
    other = StoreFactory(code="HZ01", name="杭州店")
    path = _file(
        tmp_path,
        [
            [phone(1), "张三", "男", "1990-01-02", "500", "银卡", "1234.5", "2020-05-06", "常客",
             "HZ01"],
            [phone(2), "李四", "", "", "", "", "", "", "", ""],
        ],
    )  # fmt: skip
    _output, counts = run_import(path, "--store", "SH01")
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "errors": 0}
    zhang, li = member_by_phone(phone(1)), member_by_phone(phone(2))
    assert zhang.store == other and li.store == store  # --store only for rows without one
    assert zhang.created_at.date() == dt.date(2020, 5, 5)  # Shanghai midnight, in UTC
    card = Card.objects.get(pk=zhang.pk)
    assert (card.points_balance, card.total_spent, card.tier) == (
        500,
        Decimal("1234.50"),
        tiers["银卡"],
    )
    lot = PointsEntry.objects.get(member=zhang)
    assert lot.kind == PointsEntry.Kind.IMPORT and lot.idempotency_key == opening_key(zhang.pk)
    assert (lot.delta, lot.remaining, lot.balance_after) == (500, 500, 500)
    assert lot.expires_at == expiry_for(lot.created_at, LoyaltySettings.current())
    change = TierChange.objects.get(member=zhang)
    assert (change.from_tier, change.to_tier, change.reason) == (None, tiers["银卡"], "import")
    assert Card.objects.get(pk=li.pk).tier == tiers["普通会员"]
    assert li.card.points_balance == 0 and not PointsEntry.objects.filter(member=li).exists()
    assert Tag.objects.filter(name="常客").exists()
    assert_ledger_ok()


def test_importing_the_same_file_twice_changes_nothing(tmp_path, store, assert_ledger_ok):
    rows = [
        [phone(i), f"会员{i}", "女", "1991-02-03", str(i * 10), "金卡", "99.90", "2021-01-01 08:00",
         "常客,咖啡", "SH01"]
        for i in range(1, 30)
    ]  # fmt: skip
    path = _file(tmp_path, rows)
    _output, first = run_import(path)
    before = _snapshot()
    _output, again = run_import(path)
    assert first == {"created": 29, "updated": 0, "unchanged": 0, "errors": 0}
    assert again == {"created": 0, "updated": 0, "unchanged": 29, "errors": 0}
    assert _snapshot() == before
    assert_ledger_ok()


def test_an_existing_member_gets_only_what_the_file_has(tmp_path, store, tiers, assert_ledger_ok):
    member, _created = member_join(phone=phone(1), consent_version="v1", name="老名字", store=store)
    welcome = Card.objects.get(pk=member.pk).points_balance  # the welcome gift, if any
    Member.objects.filter(pk=member.pk).update(note="keep me")
    path = _file(tmp_path, [[phone(1), "新名字", "", "1990-01-02", "300", "金卡", "", "", "", ""]])
    _output, counts = run_import(path)
    assert counts == {"created": 0, "updated": 1, "unchanged": 0, "errors": 0}
    member.refresh_from_db()
    assert (member.name, member.birthday, member.note) == ("新名字", dt.date(1990, 1, 2), "keep me")
    assert member.source == Member.Source.QR  # not an imported member
    card = Card.objects.get(pk=member.pk)
    assert card.points_balance == welcome + 300 and card.tier == tiers["金卡"]
    assert TierChange.objects.filter(member=member, reason="import", to_tier=tiers["金卡"]).exists()
    audit = AuditEntry.objects.get(action="member.import", object_id=str(member.pk))
    assert audit.changes["name"] == ["老名字", "新名字"]
    assert_ledger_ok()


def test_a_phone_the_bitmap_missed_is_caught_and_the_chunk_written_again(
    tmp_path, store, tiers, monkeypatch, assert_ledger_ok
):
    """A registration (or a phone edit) the Taken bitmap has not read: the unique index
    refuses the INSERT, and the retry asks the database about every phone."""
    from loyalty.imports import writer

    member, _created = member_join(phone=phone(1), consent_version="v1", name="老名字", store=store)
    asked = []
    real = writer.Taken.may_be_member

    def blind(self, phone_hash):  # as if the member had registered after the last read
        asked.append(phone_hash)
        return False

    monkeypatch.setattr(writer.Taken, "may_be_member", blind)
    rows = [[phone(1), "新名字", "", "", "", "金卡", "", "", "", ""]]
    rows += [[phone(i), f"会员{i}", "", "", "", "", "", "", "", ""] for i in range(2, 5)]
    _output, counts = run_import(_file(tmp_path, rows))
    assert counts == {"created": 3, "updated": 1, "unchanged": 0, "errors": 0}
    assert len(asked) == 4  # the first attempt trusted the bitmap, the retry did not
    assert Member.objects.count() == 4
    member.refresh_from_db()
    assert member.name == "新名字"
    assert Card.objects.get(pk=member.pk).tier == tiers["金卡"]
    assert_ledger_ok()
    # Unblinded, the bitmap knows every member now and no other phone.
    monkeypatch.setattr(writer.Taken, "may_be_member", real)
    taken = writer.Taken()
    taken.refresh()
    assert all(taken.may_be_member(m.phone_hash) for m in Member.objects.all())
    assert not any(taken.may_be_member(phone_hash(f"+86{phone(i)}")) for i in range(100, 120))


def _chunks_of_two(path):
    from loyalty.imports.runner import import_file

    job = import_file(path=str(path), dry_run=False, chunk_size=2)
    return {k: getattr(job, k) for k in ("created", "updated", "unchanged", "errors")}


def test_a_registration_between_chunks_is_read_not_duplicated(
    tmp_path, store, monkeypatch, assert_ledger_ok
):
    """Someone registers a phone of a later chunk while the import runs: the next
    chunk's read of the ids between the import's own finds it, without a retry."""
    from loyalty.imports import writer

    real_refresh, real_write, retries = writer.Taken.refresh, writer.MemberWriter.write, []

    def refresh(self):
        real_refresh(self)
        if self.seen and not Member.objects.filter(source=Member.Source.QR).exists():
            member_join(phone=phone(5), consent_version="v1", name="先注册", store=store)

    def write(self, rows, *, dry_run, retry=False):
        retries.append(retry)
        return real_write(self, rows, dry_run=dry_run, retry=retry)

    monkeypatch.setattr(writer.Taken, "refresh", refresh)
    monkeypatch.setattr(writer.MemberWriter, "write", write)
    rows = [[phone(i), f"会员{i}", "", "", "10", "", "", "", "", ""] for i in range(1, 7)]
    counts = _chunks_of_two(_file(tmp_path, rows))
    assert counts == {"created": 5, "updated": 1, "unchanged": 0, "errors": 0}
    assert retries == [False, False, False]
    assert Member.objects.count() == 6
    registered = member_by_phone(phone(5))
    assert (registered.name, registered.source) == ("会员5", Member.Source.QR)
    assert_ledger_ok()


def test_a_chunk_rolled_back_after_its_insert_is_written_again_whole(
    tmp_path, store, monkeypatch, assert_ledger_ok
):
    """A chunk that fails after its members went in (here: at its tags) is rolled back
    and written again; the ids it had are forgotten, nothing is doubled."""
    from loyalty.imports import writer

    real, failed = writer.MemberWriter._link_tags, []

    def link_tags(self, links):
        if len(failed) < 1 and links:
            failed.append(links)
            real(self, links)  # creates the new tag, which the rollback takes away again
            raise IntegrityError("as if a clash had come up at the tags")
        return real(self, links)

    monkeypatch.setattr(writer.MemberWriter, "_link_tags", link_tags)
    rows = [
        [phone(i), f"会员{i}", "", "", "10", "", "", "", f"新标签{i % 2}", ""] for i in range(1, 7)
    ]
    counts = _chunks_of_two(_file(tmp_path, rows))
    assert counts == {"created": 6, "updated": 0, "unchanged": 0, "errors": 0}
    assert failed
    assert Member.objects.count() == 6 and Card.objects.count() == 6
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["新标签0", "新标签1"]
    assert Member.tags.through.objects.count() == 6
    assert_ledger_ok()


def test_a_different_opening_balance_is_refused_not_added(tmp_path, store):
    _output, _counts = run_import(
        _file(tmp_path, [[phone(1), "", "", "", "100", "", "", "", "", ""]])
    )
    path = _file(
        tmp_path,
        [
            [phone(1), "改名", "", "", "150", "", "", "", "", ""],
            [phone(2), "新人", "", "", "20", "", "", "", "", ""],
        ],
        name="second.csv",
    )
    output, counts = run_import(path)
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 1}
    assert "line 2, 积分: 100 opening points were already imported" in output
    member = member_by_phone(phone(1))
    assert member.card.points_balance == 100 and member.name == ""  # the whole row refused
    # Leaving the points empty imports the rest of the row.
    path = _file(tmp_path, [[phone(1), "改名", "", "", "", "", "", "", "", ""]], name="third.csv")
    _output, counts = run_import(path)
    assert counts["updated"] == 1 and member_by_phone(phone(1)).name == "改名"


def test_a_corrected_total_moves_the_card_by_the_difference(tmp_path, store):
    run_import(_file(tmp_path, [[phone(1), "", "", "", "", "", "1000", "", "", ""]]))
    member = member_by_phone(phone(1))
    purchase_record(member=member, amount="50.00", external_ref="POS-1", store=store)
    run_import(_file(tmp_path, [[phone(1), "", "", "", "", "", "1200", "", "", ""]], name="b.csv"))
    card = Card.objects.get(pk=member.pk)
    assert card.total_spent == Decimal("1250.00")  # the purchase since the import stays
    assert card.purchase_count == 1


def test_imported_points_repay_points_owed_first(tmp_path, store, assert_ledger_ok):
    member, _ = member_join(phone=phone(1), consent_version="v1", store=store)
    Card.objects.filter(pk=member.pk).update()  # the card exists
    purchase, _ = purchase_record(member=member, amount="100.00", external_ref="P1", store=store)
    balance = Card.objects.get(pk=member.pk).points_balance
    points_spend(member=member, points=balance, key="spend-all", reason="t")
    purchase_refund(purchase=purchase)
    owed = Card.objects.get(pk=member.pk).points_debt
    assert owed > 0
    run_import(_file(tmp_path, [[phone(1), "", "", "", "500", "", "", "", "", ""]]))
    card = Card.objects.get(pk=member.pk)
    assert card.points_debt == 0 and card.points_balance == 500 - owed
    assert_ledger_ok()


def test_the_dry_run_counts_what_the_run_does_and_writes_nothing(tmp_path, store):
    run_import(_file(tmp_path, [[phone(1), "甲", "", "", "", "", "", "", "", ""]]))
    rows = [
        [phone(1), "甲", "", "", "", "", "", "", "", ""],  # unchanged
        [phone(2), "乙", "", "", "", "", "", "", "", ""],  # new
        [phone(3), "丙", "", "", "", "银卡", "", "", "", ""],  # new
        ["12", "丁", "", "", "", "", "", "", "", ""],  # error
    ]
    path = _file(tmp_path, rows, name="b.csv")
    before = _snapshot()
    output, preview = run_import(path, "--dry-run")
    assert _snapshot() == before
    assert "Dry run" in output
    _output, real = run_import(path)
    assert preview == real == {"created": 2, "updated": 0, "unchanged": 1, "errors": 1}


def test_every_run_is_recorded_as_an_import_job(tmp_path, store):
    run_import(_file(tmp_path, [[phone(1), "甲", "", "", "", "", "", "", "", ""]]))
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.DONE and not job.dry_run
    assert (job.rows_total, job.rows_done, job.created) == (1, 1, 1)
    assert job.file_format == "csv" and job.encoding == "gb18030"
    assert job.started_at <= job.finished_at and job.seconds is not None
    assert job.file.read().decode("gb18030").startswith("手机号")


def test_check_ledger_passes_after_a_large_mixed_import(tmp_path, store, assert_ledger_ok):
    rows = [
        [phone(i), f"会员{i}", "男女"[i % 2], "", str(i % 7 * 100), ["", "银卡", "金卡"][i % 3],
         f"{i}.5", "", "", ""]
        for i in range(1, 450)
    ]  # fmt: skip
    _output, counts = run_import(_file(tmp_path, rows), "--chunk-size", "100")
    assert counts["created"] == 449
    assert_ledger_ok()
    call_command("check_ledger")
