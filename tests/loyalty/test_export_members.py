"""Member export: CSV with a BOM (Excel reads the Chinese), XLSX; the list's filter or
a tag; phones masked unless the user is an owner; audited; batched; big exports as a
background job; the command; and an export imports back unchanged."""

import codecs
import csv
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from loyalty.imports import exports
from loyalty.ledger import points_adjust
from loyalty.models import ExportJob
from members.models import AuditEntry, Tag
from tests.factories import MemberFactory, TagFactory
from tests.loyalty.import_files import run_import

pytestmark = pytest.mark.django_db

EXPORT = reverse("admin:members_member_export")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def people(store, other_store, owner):
    vip = TagFactory(name="常客")
    a = MemberFactory(phone="13800138000", name="张三", store=store, email="z@example.com")
    b = MemberFactory(phone="13900139000", name="=HYPERLINK(1)", store=store)
    c = MemberFactory(phone="13700137000", name="王五", store=other_store)
    a.tags.add(vip)
    c.tags.add(vip)
    points_adjust(member=a, delta=120, reason="t", actor=owner)
    return a, b, c


def _csv(response) -> list[list[str]]:
    raw = b"".join(response.streaming_content)
    assert raw.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_an_owner_exports_everyone_with_whole_phones(owner_client, people):
    assert owner_client.get(EXPORT).status_code == 200
    rows = _csv(owner_client.post(EXPORT, {"format": "csv"}))
    header, body = rows[0], rows[1:]
    assert len(body) == 3
    by_name = {r[header.index(exports.headers(full_contact=True)[2])]: r for r in body}
    zhang = by_name["张三"]
    assert "13800138000" in zhang and "z@example.com" in zhang and "120" in zhang
    assert "常客" in zhang
    assert "'=HYPERLINK(1)" in by_name  # a name is never a formula in Excel


def test_a_manager_gets_their_store_with_masked_phones(manager_client, people):
    rows = _csv(manager_client.post(EXPORT, {"format": "csv"}))
    body = rows[1:]
    assert len(body) == 2  # not the other store's member
    flat = "\n".join(",".join(r) for r in body)
    assert "138****8000" in flat and "13800138000" not in flat
    assert "z@example.com" not in flat and len(rows[0]) == len(exports.headers(full_contact=False))


def test_the_lists_filter_and_a_tag_choose_the_members(owner_client, people, store):
    rows = _csv(owner_client.post(f"{EXPORT}?store__id__exact={store.pk}", {"format": "csv"}))
    assert len(rows) == 3
    tag = Tag.objects.get(name="常客")
    rows = _csv(owner_client.post(EXPORT, {"format": "csv", "tag": tag.pk}))
    assert sorted(r[2] for r in rows[1:]) == ["张三", "王五"]
    rows = _csv(
        owner_client.post(f"{EXPORT}?store__id__exact={store.pk}", {"format": "csv", "tag": tag.pk})
    )
    assert [r[2] for r in rows[1:]] == ["张三"]


def test_every_export_is_audited(owner_client, people):
    _csv(owner_client.post(EXPORT, {"format": "csv"}))
    entry = AuditEntry.objects.get(action="member.export")
    assert entry.actor.username == "owner"
    assert entry.changes == {"format": "csv", "phones": "full", "rows": 3}


def test_a_searched_phone_is_masked_in_the_audit_trail(owner_client, people):
    from loyalty.imports.exports import mask_numbers

    _csv(owner_client.post(EXPORT + "?q=%2B86+138-0013-8000", {"format": "csv"}))
    entry = AuditEntry.objects.get(action="member.export")
    assert "0013" not in entry.object_repr and "*********8000" in entry.object_repr
    masked = mask_numbers("q=138 0013 8000&store__id__exact=12")
    assert masked == "q=*******8000&store__id__exact=12"


def test_xlsx(owner_client, people):
    response = owner_client.post(EXPORT, {"format": "xlsx"})
    assert response["Content-Disposition"].endswith('.xlsx"')
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.active.iter_rows(values_only=True))
    assert len(rows) == 4 and "13800138000" in rows[1] + rows[2] + rows[3]
    names = [r[2] for r in rows[1:]]
    assert "=HYPERLINK(1)" in names  # text, not a formula
    assert book.active.cell(1 + 1 + names.index("=HYPERLINK(1)"), 3).data_type == "s"


def test_members_are_read_in_batches(owner_client, store, monkeypatch):
    monkeypatch.setattr(exports, "BATCH", 3)
    made = [MemberFactory(store=store) for _ in range(8)]
    rows = _csv(owner_client.post(EXPORT, {"format": "csv"}))
    assert [r[0] for r in rows[1:]] == [m.member_no for m in made]


def test_a_big_export_is_made_in_the_background(
    client, owner, manager, people, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(exports, "INLINE_MAX_ROWS", 1)
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(EXPORT, {"format": "xlsx"})
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:loyalty_exportjob_status", args=[job.pk])
    assert job.status == ExportJob.Status.DONE and job.rows_done == job.rows_total == 2
    page = client.get(response["Location"]).content.decode()
    assert reverse("admin:loyalty_exportjob_download", args=[job.pk]) in page
    download = client.get(reverse("admin:loyalty_exportjob_download", args=[job.pk]))
    book = load_workbook(io.BytesIO(b"".join(download.streaming_content)))
    assert book.active.max_row == 3
    assert AuditEntry.objects.get(action="member.export").changes["rows"] == 2
    # Another manager may not fetch it; the owner may.
    from members.models import Role
    from members.services import staff_create

    other = staff_create(
        username="m2",
        password="x-pass-2026",
        role=Role.MANAGER,
        store=job.created_by.staff_profile.store,
    )
    client.force_login(other)
    assert client.get(reverse("admin:loyalty_exportjob_download", args=[job.pk])).status_code == 403
    client.force_login(owner)
    assert client.get(reverse("admin:loyalty_exportjob_download", args=[job.pk])).status_code == 200


def test_export_needs_a_staff_login(client, people):
    assert client.post(EXPORT, {"format": "csv"}).status_code == 302
    assert not AuditEntry.objects.filter(action="member.export").exists()


def test_the_command_exports_a_tag_masked_by_default(people, tmp_path):
    out = tmp_path / "vip.csv"
    call_command("export_members", "--tag", "常客", "-o", str(out), stderr=io.StringIO())
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert len(rows) == 3 and "138****8000" in "".join(rows[1] + rows[2])
    call_command(
        "export_members",
        "--format",
        "xlsx",
        "--full-phones",
        "-o",
        str(tmp_path / "all.xlsx"),
        stderr=io.StringIO(),
    )
    assert load_workbook(tmp_path / "all.xlsx").active.max_row == 4
    assert AuditEntry.objects.filter(action="member.export").count() == 2


def test_an_export_imports_back_unchanged(owner_client, people, tmp_path):
    path = tmp_path / "back.csv"
    path.write_bytes(b"".join(owner_client.post(EXPORT, {"format": "csv"}).streaming_content))
    _output, counts = run_import(path)
    assert counts == {"created": 0, "updated": 0, "unchanged": 3, "errors": 0}


def test_names_edited_in_an_export_import_back_without_doubling_points(
    owner_client, people, tmp_path
):
    """Export, fix a name in Excel, import: the name changes, the balances do not."""
    zhang = people[0]
    raw = b"".join(owner_client.post(EXPORT, {"format": "csv"}).streaming_content)
    edited = raw.decode("utf-8-sig").replace("张三", "张三丰").encode("gbk")
    path = tmp_path / "edited.csv"
    path.write_bytes(edited)
    _output, counts = run_import(path)
    assert counts == {"created": 0, "updated": 1, "unchanged": 2, "errors": 0}
    zhang.refresh_from_db()
    assert zhang.name == "张三丰" and zhang.card.points_balance == 120


def test_more_members_than_a_sheet_holds_is_said_not_cut_off(
    owner_client, people, monkeypatch, tmp_path
):
    from django.core.management import CommandError

    from loyalty.imports import exports

    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 2)  # three people: one too many
    response = owner_client.post(EXPORT, {"format": "xlsx"})
    assert response.status_code == 200  # the form again, with the reason
    assert "CSV" in str(response.context["form"].errors["format"])
    assert not AuditEntry.objects.filter(action="member.export").exists()
    with pytest.raises(CommandError, match="CSV"):
        call_command("export_members", "--format", "xlsx", "--output", str(tmp_path / "m.xlsx"))
    assert len(_csv(owner_client.post(EXPORT, {"format": "csv"}))) == 4  # CSV has no limit


def test_the_export_carries_stored_value_balances(owner_client, people):
    from decimal import Decimal

    from loyalty.models import TopUpOffer
    from loyalty.stored_value import stored_value_top_up

    TopUpOffer.objects.create(code="o", name="充100送10", pay_amount=100, bonus=10)
    stored_value_top_up(member=people[0], amount=Decimal("100"), external_ref="x", offer_code="o")
    rows = _csv(owner_client.post(EXPORT, {"format": "csv"}))
    header = rows[0]
    zhang = next(r for r in rows[1:] if "张三" in r)
    with_labels = dict(zip(header, zhang, strict=True))
    assert with_labels[str(exports.headers(full_contact=True)[9])] == "100.00"
    assert with_labels[str(exports.headers(full_contact=True)[10])] == "10.00"
