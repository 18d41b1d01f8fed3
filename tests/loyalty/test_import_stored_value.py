"""Issue #20: the member import's opening stored value (储值).

A balance column (储值余额, 余额, 储值, 卡内余额, balance) is an opening principal; with a
bonus column (赠送余额 ...) the balance is split into principal and bonus; the export's
own "paid in" / "bonus" columns import back. One import entry per member, the card's
figures beside it, check_ledger true after every run."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.imports.columns import auto_map
from loyalty.imports.opening_stored_value import opening_key
from loyalty.ledger import ledger_problems
from loyalty.models import Card, ImportJob, LoyaltySettings, StoredValueEntry, TopUpOffer
from loyalty.purchases import purchase_record
from loyalty.stored_value import stored_value_top_up
from members.models import Member
from members.services import member_by_phone, member_join
from tests.loyalty.import_files import phone, run_import, write_csv, write_xlsx

pytestmark = pytest.mark.django_db

EXPORT = reverse("admin:members_member_export")
IMPORT = StoredValueEntry.Kind.IMPORT
# As 有赞 (Youzan) exports its customers: UTF-8 with a BOM, the balance with a unit.
YOUZAN = ["客户姓名", "手机号", "性别", "积分", "储值余额(元)", "会员等级"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _csv(tmp_path, headers, rows, name="m.csv", encoding="utf-8-sig"):
    return write_csv(tmp_path / name, [headers, *rows], encoding=encoding)


def _stored(member) -> tuple[Decimal, Decimal]:
    card = Card.objects.get(pk=member.pk)
    return card.stored_principal, card.stored_bonus


def _snapshot():
    return {
        "cards": sorted(Card.objects.values_list()),
        "entries": sorted(StoredValueEntry.objects.values_list()),
        "members": sorted(Member.objects.values_list("pk", "name", "updated_at")),
    }


def test_a_youzan_balance_is_an_opening_principal(tmp_path, store, tiers):
    path = _csv(
        tmp_path,
        YOUZAN,
        [
            ["张三", phone(1), "男", "500", "1,288.50", "银卡"],
            ["李四", phone(2), "女", "", "¥300", ""],
            ["王五", phone(3), "", "", "0.00", ""],
            ["赵六", phone(4), "", "", "", ""],
        ],
    )
    _output, counts = run_import(path, "--store", "SH01")
    assert counts == {"created": 4, "updated": 0, "unchanged": 0, "errors": 0}
    zhang, li = member_by_phone(phone(1)), member_by_phone(phone(2))
    assert _stored(zhang) == (Decimal("1288.50"), Decimal("0.00"))
    assert _stored(li) == (Decimal("300.00"), Decimal("0.00"))
    entry = StoredValueEntry.objects.get(member=zhang)
    assert entry.kind == IMPORT and entry.idempotency_key == opening_key(zhang.pk)
    assert entry.idempotency_key == f"import:opening:{zhang.pk}:stored_value"
    assert (entry.principal_delta, entry.bonus_delta) == (Decimal("1288.50"), Decimal("0.00"))
    assert (entry.principal_after, entry.bonus_after) == (Decimal("1288.50"), Decimal("0.00"))
    assert entry.reason and entry.purchase is None and not entry.reference
    # A zero or empty balance writes nothing; the points beside it go in as ever.
    for i in (3, 4):
        member = member_by_phone(phone(i))
        assert _stored(member) == (0, 0)
        assert not StoredValueEntry.objects.filter(member=member).exists()
    assert Card.objects.get(pk=zhang.pk).points_balance == 500
    assert StoredValueEntry.objects.count() == 2
    assert ledger_problems() == []


def test_the_columns_are_recognised_and_a_lone_balance_is_money_not_points():
    mapping = auto_map(["Mobile", "Points", "Balance", "Bonus"])
    assert mapping == {"0": "phone", "1": "points", "2": "stored_value", "3": "stored_bonus"}
    for header in ("储值余额", "余额", "储值", "卡内余额", "会员余额", "账户余额", "卡余额",
                   "balance", "Stored value", "Stored value balance"):  # fmt: skip
        assert auto_map(["手机号", header])["1"] == "stored_value", header
    for header in ("赠送余额", "赠送金", "储值赠送金", "赠送金额", "bonus", "Bonus balance",
                   "Stored value bonus"):  # fmt: skip
        assert auto_map(["手机号", header])["1"] == "stored_bonus", header
    for header in ("储值本金", "Stored value paid in"):
        assert auto_map(["手机号", header])["1"] == "stored_principal", header
    assert auto_map(["手机号", "积分余额"])["1"] == "points"


def test_a_balance_and_its_bonus_are_split(tmp_path, store):
    """储值余额 is the whole (paid in + bonus): with 赠送余额 beside it, the bonus is
    the merchant's part of it and the rest is principal."""
    path = _csv(
        tmp_path,
        ["手机号", "姓名", "储值余额", "赠送余额"],
        [
            [phone(1), "甲", "120", "20"],
            [phone(2), "乙", "80.5", ""],  # no bonus on this row: all principal
            [phone(3), "丙", "", "15"],  # a bonus alone
            [phone(4), "丁", "10", "30"],  # more bonus than balance: an error
        ],
        encoding="gbk",
    )
    output, counts = run_import(path)
    assert counts == {"created": 3, "updated": 0, "unchanged": 0, "errors": 1}
    assert _stored(member_by_phone(phone(1))) == (Decimal("100.00"), Decimal("20.00"))
    assert _stored(member_by_phone(phone(2))) == (Decimal("80.50"), Decimal("0.00"))
    assert _stored(member_by_phone(phone(3))) == (Decimal("0.00"), Decimal("15.00"))
    assert "line 5, 储值余额: The stored value balance must be what was paid in plus" in output
    assert member_by_phone(phone(4)) is None
    entry = StoredValueEntry.objects.get(member=member_by_phone(phone(1)))
    assert (entry.principal_delta, entry.bonus_delta) == (Decimal("100.00"), Decimal("20.00"))
    assert ledger_problems() == []


def test_paid_in_and_bonus_columns_are_taken_as_they_are(tmp_path, store):
    path = _csv(
        tmp_path,
        ["手机号", "储值本金", "储值赠送金", "储值余额"],
        [
            [phone(1), "100", "20", ""],
            [phone(2), "100", "20", "120"],  # all three, agreeing
            [phone(3), "100", "20", "100"],  # all three, not agreeing
        ],
    )
    output, counts = run_import(path)
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "errors": 1}
    for i in (1, 2):
        assert _stored(member_by_phone(phone(i))) == (Decimal("100.00"), Decimal("20.00"))
    assert "the balance is 100.00, paid in 100.00, bonus 20.00" in output
    assert ledger_problems() == []


def test_a_bad_balance_is_an_error_of_its_row_only(tmp_path, store):
    path = _csv(
        tmp_path,
        ["手机号", "姓名", "余额"],
        [
            [phone(1), "好", "50"],
            [phone(2), "负", "-5"],
            [phone(3), "字", "abc"],
            [phone(4), "大", "2000000"],
            [phone(5), "也好", "12.345"],  # rounded to the fen, as every amount
        ],
    )
    output, counts = run_import(path)
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "errors": 3}
    assert "line 3, 余额: Cannot be negative (-5)." in output
    assert "line 4, 余额: “abc” is not an amount." in output
    assert "line 5, 余额: Too large: at most 1,000,000.00." in output
    assert _stored(member_by_phone(phone(1))) == (Decimal("50.00"), 0)
    assert _stored(member_by_phone(phone(5))) == (Decimal("12.35"), 0)
    assert not any(member_by_phone(phone(i)) for i in (2, 3, 4))
    job = ImportJob.objects.get()
    assert job.error_file  # the refused rows come back to be fixed
    assert ledger_problems() == []


def test_more_than_the_cap_is_refused(tmp_path, store):
    conf = LoyaltySettings.current()
    conf.stored_value_cap = Decimal("1000.00")
    conf.save()
    existing, _ = member_join(phone=phone(3), consent_version="v1", store=store)
    stored_value_top_up(member=existing, amount=Decimal("900"), external_ref="T1")
    path = _csv(
        tmp_path,
        ["手机号", "储值余额", "赠送余额"],
        [
            [phone(1), "1000", "100"],  # exactly the cap: in
            [phone(2), "1000.01", ""],  # above it
            [phone(3), "200", ""],  # 900 held already
        ],
    )
    output, counts = run_import(path)
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 2}
    assert "line 3, 储值余额: 1000.01 yuan of stored value is more than a member may hold" in output
    assert "line 4, 储值余额: A member may hold at most 1000.00 yuan of stored value: " in output
    assert _stored(member_by_phone(phone(1))) == (Decimal("900.00"), Decimal("100.00"))
    assert _stored(existing) == (Decimal("900.00"), 0)  # its top-up only
    assert ledger_problems() == []


def test_the_same_file_again_changes_nothing(tmp_path, store):
    rows = [[f"会员{i}", phone(i), "", str(i), f"{i * 10}.5", ""] for i in range(1, 21)]
    path = _csv(tmp_path, YOUZAN, rows)
    _output, first = run_import(path)
    before = _snapshot()
    _output, again = run_import(path)
    assert first == {"created": 20, "updated": 0, "unchanged": 0, "errors": 0}
    assert again == {"created": 0, "updated": 0, "unchanged": 20, "errors": 0}
    assert _snapshot() == before
    # Spent meanwhile: the opening is the same still, nothing is added back.
    member = member_by_phone(phone(3))
    purchase_record(member=member, amount="50.00", external_ref="P1", store=store,
                    stored_value_to_use=Decimal("20.00"))  # fmt: skip
    assert _stored(member) == (Decimal("10.50"), 0)
    after = _snapshot()
    _output, third = run_import(path)
    assert third["unchanged"] == 20 and _snapshot() == after
    assert ledger_problems() == []


def test_a_different_opening_is_refused_and_a_split_one_compared_whole(tmp_path, store):
    _csv(tmp_path, ["手机号", "储值余额", "赠送余额"], [[phone(1), "120", "20"]], name="a.csv")
    run_import(tmp_path / "a.csv")
    member = member_by_phone(phone(1))
    before = _snapshot()
    # A balance alone is compared with the whole (100 paid in + 20 bonus): the same.
    same = _csv(tmp_path, ["手机号", "余额"], [[phone(1), "120.00"]], name="b.csv")
    _output, counts = run_import(same)
    assert counts == {"created": 0, "updated": 0, "unchanged": 1, "errors": 0}
    assert _snapshot() == before
    other = _csv(
        tmp_path,
        ["手机号", "姓名", "余额"],
        [[phone(1), "改名", "150"], [phone(2), "新人", "30"]],
        name="c.csv",
    )
    output, counts = run_import(other)
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 1}
    assert (
        "line 2, 余额: 120.00 yuan (100.00 paid in, 20.00 bonus) of opening stored value was "
        "already imported for this member; the file says 150.00 yuan (150.00 paid in, 0.00 "
        "bonus)."
    ) in output
    member.refresh_from_db()
    assert member.name == "" and _stored(member) == (Decimal("100.00"), Decimal("20.00"))
    assert StoredValueEntry.objects.filter(member=member).count() == 1
    # The same split with another bonus is another opening too.
    _csv(tmp_path, ["手机号", "余额", "赠送余额"], [[phone(1), "120", "30"]], name="d.csv")
    _output, counts = run_import(tmp_path / "d.csv")
    assert counts["errors"] == 1
    # Leaving the stored value empty imports the rest of the row.
    _csv(tmp_path, ["手机号", "姓名", "余额"], [[phone(1), "改名", ""]], name="e.csv")
    _output, counts = run_import(tmp_path / "e.csv")
    assert counts == {"created": 0, "updated": 1, "unchanged": 0, "errors": 0}
    assert ledger_problems() == []


def test_an_existing_member_gets_the_opening_on_top_of_a_top_up(tmp_path, store):
    member, _ = member_join(phone=phone(1), consent_version="v1", name="老会员", store=store)
    TopUpOffer.objects.create(code="o", name="充100送10", pay_amount=100, bonus=10)
    stored_value_top_up(member=member, amount=Decimal("100"), external_ref="T1", offer_code="o")
    path = _csv(tmp_path, ["手机号", "储值余额", "赠送余额"], [[phone(1), "50", "5"]])
    _output, counts = run_import(path)
    assert counts == {"created": 0, "updated": 1, "unchanged": 0, "errors": 0}
    assert _stored(member) == (Decimal("145.00"), Decimal("15.00"))
    entry = StoredValueEntry.objects.get(member=member, kind=IMPORT)
    assert (entry.principal_delta, entry.bonus_delta) == (Decimal("45.00"), Decimal("5.00"))
    assert (entry.principal_after, entry.bonus_after) == (Decimal("145.00"), Decimal("15.00"))
    _output, counts = run_import(path)
    assert counts == {"created": 0, "updated": 0, "unchanged": 1, "errors": 0}
    assert _stored(member) == (Decimal("145.00"), Decimal("15.00"))
    assert ledger_problems() == []


def test_the_dry_run_refuses_the_same_and_writes_nothing(tmp_path, store):
    run_import(_csv(tmp_path, ["手机号", "余额"], [[phone(1), "100"]], name="a.csv"))
    rows = [[phone(1), "90"], [phone(2), "20"], [phone(3), "x"], [phone(4), ""]]
    path = _csv(tmp_path, ["手机号", "余额"], rows, name="b.csv")
    before = _snapshot()
    output, preview = run_import(path, "--dry-run")
    assert _snapshot() == before and "Dry run" in output
    assert "already imported" in output
    _output, real = run_import(path)
    assert preview == real == {"created": 2, "updated": 0, "unchanged": 0, "errors": 2}
    assert ledger_problems() == []


def test_an_xlsx_with_number_cells(tmp_path, store):
    path = write_xlsx(tmp_path / "m.xlsx", [["手机号", "卡内余额"], [int(phone(1)), 88.8]])
    _output, counts = run_import(path)
    assert counts["created"] == 1
    assert _stored(member_by_phone(phone(1))) == (Decimal("88.80"), 0)
    assert ledger_problems() == []


def _export(owner_client) -> list[list[str]]:
    raw = b"".join(owner_client.post(EXPORT, {"format": "csv"}).streaming_content)
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_an_export_imports_back_unchanged_with_its_stored_value(owner_client, store, tmp_path):
    members = [
        member_join(phone=phone(i), consent_version="v1", name=f"会员{i}", store=store)[0]
        for i in (1, 2)
    ]
    TopUpOffer.objects.create(code="o", name="充100送10", pay_amount=100, bonus=10)
    stored_value_top_up(member=members[0], amount=Decimal("100"), external_ref="T1",
                        offer_code="o")  # fmt: skip
    run_import(_csv(tmp_path, ["手机号", "储值余额"], [[phone(2), "66.60"]], name="a.csv"))
    rows = _export(owner_client)
    before = _snapshot()
    path = write_csv(tmp_path / "back.csv", rows)
    _output, counts = run_import(path)
    assert counts == {"created": 0, "updated": 0, "unchanged": 2, "errors": 0}
    assert _snapshot() == before
    assert _stored(members[0]) == (Decimal("100.00"), Decimal("10.00"))
    assert _stored(members[1]) == (Decimal("66.60"), 0)
    assert ledger_problems() == []


def test_an_export_moved_to_new_members_opens_the_same_split(owner_client, store, tmp_path):
    """The export's paid-in and bonus columns, on members this system does not have yet
    (no 会员号 of ours): each member opens with exactly that principal and bonus."""
    member, _ = member_join(phone=phone(1), consent_version="v1", name="甲", store=store)
    TopUpOffer.objects.create(code="o", name="充100送10", pay_amount=100, bonus=10)
    stored_value_top_up(member=member, amount=Decimal("100"), external_ref="T1", offer_code="o")
    header, *rows = _export(owner_client)
    for row in rows:  # the export's first columns: member number, mobile number
        row[0], row[1] = "", phone(9)
    _output, counts = run_import(write_csv(tmp_path / "moved.csv", [header, *rows]))
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 0}
    new = member_by_phone(phone(9))
    assert _stored(new) == (Decimal("100.00"), Decimal("10.00"))
    entry = StoredValueEntry.objects.get(member=new)
    assert (entry.kind, entry.principal_delta, entry.bonus_delta) == (IMPORT, 100, 10)
    assert ledger_problems() == []


def test_the_admin_upload_maps_and_imports_the_balance(
    owner_client, store, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    add = reverse("admin:loyalty_importjob_add")
    text = f"手机号,姓名,储值余额,赠送余额\r\n{phone(1)},甲,120,20\r\n{phone(2)},乙,-1,\r\n"
    upload = SimpleUploadedFile("会员.csv", text.encode("gbk"), content_type="text/csv")
    owner_client.post(add, {"file": upload, "kind": "members", "store": store.pk})
    job = ImportJob.objects.get()
    assert [job.mapping[str(i)] for i in range(4)] == [
        "phone", "name", "stored_value", "stored_bonus",
    ]  # fmt: skip
    run = reverse("admin:loyalty_importjob_run", args=[job.pk])
    columns = {f"col_{i}": key for i, key in job.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(run, {"run": "dry", **columns})
    job.refresh_from_db()
    assert (job.preview["created"], job.preview["errors"]) == (1, 1)
    assert not StoredValueEntry.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(run, {"run": "import"})
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert _stored(member_by_phone(phone(1))) == (Decimal("100.00"), Decimal("20.00"))
    assert ledger_problems() == []


def test_chunks_and_a_large_file_keep_the_ledger_true(tmp_path, store):
    rows = [[phone(i), f"{i % 9 * 37 + 5}.{i % 100:02d}", str(i % 4)] for i in range(1, 301)]
    path = _csv(tmp_path, ["手机号", "储值余额", "赠送余额"], rows)
    _output, counts = run_import(path, "--chunk-size", "70")
    assert counts == {"created": 300, "updated": 0, "unchanged": 0, "errors": 0}
    total = sum(Card.objects.values_list("stored_principal", flat=True), Decimal(0))
    total += sum(Card.objects.values_list("stored_bonus", flat=True), Decimal(0))
    entries = StoredValueEntry.objects.filter(kind=IMPORT)
    assert total == sum((e.principal_delta + e.bonus_delta for e in entries), Decimal(0))
    assert ledger_problems() == []
