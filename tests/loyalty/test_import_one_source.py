"""The member import builds its rows with the rules the single-member path uses, one
source for each (issue #19): the member number and its check digit, the phone's
normal form, hash and last four digits, the encryption of contact data, the opening
lot, and the preparation of SQL values (config/platform/adapt.py)."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from loyalty.imports import runner
from loyalty.ledger import points_award
from loyalty.models import PointsEntry, TierChange
from members import crypto, numbers
from members.models import Member
from members.phones import phone_fields
from tests.factories import MemberFactory
from tests.loyalty.import_files import phone, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _import(tmp_path, rows, *, store, actor=None):
    headers = ["手机号", "姓名", "邮箱", "地址", "积分"]
    path = write_csv(tmp_path / "m.csv", [headers, *rows])
    return runner.import_file(path=str(path), dry_run=False, store=store, actor=actor)


def test_the_import_calls_the_members_rules_not_copies():
    from config.platform import adapt, bulk, fixed_sql
    from loyalty.imports import sql, taken, validation, writer
    from members import phones

    assert validation.normalize_phone is phones.normalize_phone
    assert validation.phone_hasher is crypto.phone_hasher
    assert taken.member_numbers is numbers.member_numbers
    assert writer.phone_last4 is phones.phone_last4
    assert sql.adapter is bulk.adapter is adapt.adapter
    assert sql.adapted_rows is bulk.adapted_rows is adapt.adapted_rows
    assert fixed_sql.param is adapt.param


def test_the_import_draws_its_member_numbers_as_member_create_does(monkeypatch):
    from loyalty.imports.writer import Taken

    bodies = iter(range(numbers.FIRST_BODY + 500, numbers.FIRST_BODY + 600))
    monkeypatch.setattr(
        numbers, "random_bodies", lambda count: [next(bodies) for _ in range(count)]
    )
    taken = Taken()
    taken.refresh()
    drawn = taken.draw(3)
    assert drawn == [numbers.member_number(numbers.FIRST_BODY + 500 + i) for i in range(3)]
    assert numbers.generate_member_no() == numbers.member_number(numbers.FIRST_BODY + 503)
    assert all(numbers.is_member_no(n) for n in drawn)


def test_an_imported_members_contact_data_is_stored_as_member_create_stores_it(tmp_path, store):
    _import(tmp_path, [[phone(1), "韩梅梅", "mei@example.com", "上海市静安区", ""]], store=store)
    member = Member.objects.get()
    e164 = "+86" + phone(1)
    assert member.phone == e164 and member.email == "mei@example.com"
    assert member.addresses == "上海市静安区"
    stored = phone_fields(e164)
    assert (member.phone_hash, member.phone_last4) == (stored["phone_hash"], stored["phone_last4"])
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(Member._meta.db_table)
        cursor.execute(f"SELECT phone, email, addresses FROM {table} WHERE id = %s", [member.pk])
        raw = cursor.fetchone()
    for token, plain in zip(raw, [e164, "mei@example.com", "上海市静安区"], strict=True):
        assert token.startswith(f"{crypto.PREFIX}.{crypto.current_key_id()}.")  # once, not twice
        assert crypto.decrypt(token) == plain


def test_the_opening_lot_is_the_lot_points_award_writes(tmp_path, store, owner):
    job = _import(tmp_path, [[phone(2), "李雷", "", "", "120"]], store=store, actor=owner)
    imported = Member.objects.get()
    lot = PointsEntry.objects.get(member=imported)
    other = MemberFactory(store=store)
    before = other.card.points_balance
    awarded, created = points_award(
        member=other, points=120, key="award", reason=lot.reason, kind=PointsEntry.Kind.IMPORT,
        source=f"import:{job.pk}", actor=owner, now=lot.created_at, expires_at=lot.expires_at,
    )  # fmt: skip
    assert created
    awarded.refresh_from_db()
    assert (lot.balance_after, awarded.balance_after - before) == (120, 120)
    for field in PointsEntry._meta.concrete_fields:
        if field.name not in ("id", "member", "idempotency_key", "balance_after"):
            assert getattr(lot, field.attname) == getattr(awarded, field.attname), field.name


def test_one_adapter_for_bulk_rows_import_rows_and_read_parameters(store):
    """A naive datetime is in the site's zone (as DateTimeField reads it), an aware one
    is that instant: the same in bulk.insert_rows, the import's sql.insert and a FixedRead."""
    from config.platform.bulk import insert_rows
    from config.platform.fixed_sql import FixedRead
    from loyalty.imports import sql

    member = MemberFactory(store=store)
    aware = timezone.now().replace(microsecond=0) - dt.timedelta(days=1)
    naive = timezone.localtime(aware).replace(tzinfo=None)
    fields = ["member", "reason", "note", "created_at"]
    insert_rows(TierChange, fields, [(member.pk, "import", "bulk naive", naive)])
    insert_rows(TierChange, fields, [(member.pk, "import", "bulk aware", aware)])
    sql.insert(TierChange, fields, [(member.pk, "import", "sql naive", naive)])
    sql.insert(TierChange, fields, [(member.pk, "import", "sql aware", aware)])
    assert {c.created_at for c in TierChange.objects.filter(member=member, reason="import")} == {
        aware
    }
    read = FixedRead(TierChange, "t0.member_id = %s AND t0.created_at = %s")
    assert len(read(member.pk, naive)) == len(read(member.pk, aware)) == 4
