"""Marketing consent (营销同意) in a member file: set on new and existing members with the
import's time, never given back to a member who withdrew it, exported as 是/否 and
imported back unchanged."""

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command

from members.models import AuditEntry, Member
from members.services import member_by_phone, member_marketing_set
from tests.factories import MemberFactory
from tests.loyalty.import_files import phone, run_import, write_csv

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _import(tmp_path, rows, headers=("手机号", "姓名", "营销同意"), name="m.csv"):
    path = write_csv(tmp_path / name, [list(headers), *rows], encoding="gbk")
    with time_machine.travel(NOW, tick=False):
        return run_import(path)


def _consent(number: str) -> tuple[bool, dt.datetime | None]:
    member = member_by_phone(number)
    return member.marketing_consent, member.marketing_consent_at


def test_new_members_get_the_files_answer_with_the_import_time(tmp_path):
    _output, counts = _import(
        tmp_path,
        [
            [phone(1), "甲", "是"],
            [phone(2), "乙", "否"],
            [phone(3), "丙", "Y"],
            [phone(4), "丁", "1"],
            [phone(5), "戊", "false"],
            [phone(6), "己", ""],
        ],
    )

    assert counts == {"created": 6, "updated": 0, "unchanged": 0, "errors": 0}
    assert [_consent(phone(i)) for i in range(1, 7)] == [
        (True, NOW),
        (False, NOW),
        (True, NOW),
        (True, NOW),
        (False, NOW),
        (False, None),  # the file said nothing: no, and no choice recorded
    ]


def test_existing_members_change_where_the_file_says_otherwise(tmp_path):
    yes = MemberFactory(phone=phone(1))
    member_marketing_set(member=yes, consent=True)
    never = MemberFactory(phone=phone(2))
    same = MemberFactory(phone=phone(3))
    untouched = same.updated_at

    _output, counts = _import(
        tmp_path,
        [[phone(1), "", "no"], [phone(2), "", "yes"], [phone(3), "", "否"], [phone(4), "", ""]],
        headers=("mobile", "name", "marketing_consent"),
    )

    assert counts == {"created": 1, "updated": 2, "unchanged": 1, "errors": 0}
    assert _consent(phone(1)) == (False, NOW) and _consent(phone(2)) == (True, NOW)
    assert _consent(phone(3)) == (False, None)
    entry = AuditEntry.objects.get(action="member.import", object_id=str(never.pk))
    assert entry.changes["marketing_consent"] == [False, True]
    same.refresh_from_db()
    assert same.updated_at == untouched


def test_a_value_that_is_not_yes_or_no_refuses_the_row(tmp_path):
    output, counts = _import(tmp_path, [[phone(1), "甲", "也许"], [phone(2), "乙", "N"]])

    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 1}
    assert "“也许” is not yes or no" in output
    assert member_by_phone(phone(1)) is None


def test_a_file_cannot_give_back_a_consent_the_member_withdrew(tmp_path):
    member = MemberFactory(phone=phone(1), name="甲")
    member_marketing_set(member=member, consent=True)
    call_command("sms_inbound", "--phone", phone(1), "--text", "T", stdout=io.StringIO())

    output, counts = _import(tmp_path, [[phone(1), "甲乙", "是"]])

    assert counts["errors"] == 1 and "withdrew their marketing consent" in output
    member.refresh_from_db()
    assert (member.marketing_consent, member.name) == (False, "甲")  # the row refused whole
    # Once the member says yes again (the member centre), files may say no, and yes.
    member_marketing_set(member=member, consent=True)
    assert _import(tmp_path, [[phone(1), "", "否"]], name="no.csv")[1]["updated"] == 1
    assert _import(tmp_path, [[phone(1), "", "是"]], name="yes.csv")[1]["updated"] == 1
    assert _consent(phone(1)) == (True, NOW)


def _export(tmp_path) -> tuple[list[str], list[list[str]]]:
    out = tmp_path / "export.csv"
    call_command("export_members", "--full-phones", "-o", str(out), stderr=io.StringIO())
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    return rows[0], rows[1:]


def test_an_export_carries_the_consent_and_imports_back(tmp_path):
    yes = MemberFactory(phone=phone(1), name="甲")
    member_marketing_set(member=yes, consent=True)
    MemberFactory(phone=phone(2), name="乙")

    header, rows = _export(tmp_path)
    column = header.index(next(h for h in header if h in ("营销同意", "Marketing consent")))
    assert sorted(r[column] for r in rows) == ["否", "是"]

    path = tmp_path / "back.csv"
    path.write_bytes((tmp_path / "export.csv").read_bytes())
    assert run_import(path)[1] == {"created": 0, "updated": 0, "unchanged": 2, "errors": 0}

    # Edited in Excel: 乙 said yes on the phone.
    for row in rows:
        row[column] = "是"
    write_csv(path, [header, *rows])
    assert run_import(path)[1] == {"created": 0, "updated": 1, "unchanged": 1, "errors": 0}
    assert Member.objects.filter(marketing_consent=True).count() == 2
