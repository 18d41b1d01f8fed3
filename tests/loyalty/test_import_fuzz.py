"""Whatever a cell holds, the import's cell parsers answer a value or a row error (issue
25): no exception escapes the validator, and a file of such rows runs to the end with
exit status 0, its good rows imported, nothing the database cannot hold stored."""

import datetime as dt
import io
import re

import pytest
from django.core.management import call_command
from django.utils import translation
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loyalty.imports.columns import COLUMNS
from loyalty.imports.validation import Validator
from loyalty.models import ImportJob, ImportRowError
from members.models import Member, Tag
from tests.loyalty.import_files import write_csv

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# NUL and the other characters files break on; digits and signs, so numbers come up often.
nasty = st.sampled_from(
    ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9f", "\ufeff", "\u3000", "\xa0", "\u202e",
     "\ufffe", "'", "=", "+", "-", "@", "\t", "\r\n", ",", ".", "e", "E", "¥", "元", "年",
     "月", "日", "/", ":", " ", "０", "５"]
)  # fmt: skip
digits = st.sampled_from("0123456789")
texts = st.one_of(
    st.text(max_size=30),
    st.lists(nasty | digits | st.characters(), max_size=24).map("".join),
    st.from_regex(r"\A[-+]?\d{1,6}([.,]\d{0,4})?([eE][-+]?\d{1,7})?\Z"),
    st.builds(lambda n: "9" * n, st.integers(4290, 5100)),  # int() refuses over 4,300 digits
    st.from_regex(r"\A\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?( \d{1,2}:\d{1,2}(:\d{1,2})?)?\Z"),
    st.sampled_from(["是", "否", "Y", "n", "TRUE", "男", "女", "保密", "银卡", "SH01", "1e999999",
                     "-0", "NaN", "Infinity", "1_000", "１２", "19900102", "32875", "44259.4375"]),
)  # fmt: skip
# What the readers give: CSV cells are text; an .xlsx also numbers, booleans and dates.
cells = st.one_of(
    st.none(),
    texts,
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(min_value=dt.date(1, 1, 1)),
    st.datetimes(),
    st.times(),
)
MEMBER_KEYS = [c.key for c in COLUMNS["members"]]
PURCHASE_KEYS = [c.key for c in COLUMNS["purchases"]]


def _validator(kind: str, keys: list[str]) -> Validator:
    mapping = {str(i): key for i, key in enumerate(keys)}
    return Validator(kind=kind, mapping=mapping, headers=list(keys))


def _checked(validator, keys, row):
    result, problems = validator.validate(2, row)
    assert all(isinstance(m, str) and m for _c, m in problems)
    for key, value in zip(keys, row, strict=True):
        said = any(column == key for column, _m in problems)
        if isinstance(value, str) and re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", value):
            assert said, (key, value)  # never a value: a control character is no text
    return result, problems


@pytest.mark.usefixtures("tiers", "store")
@FUZZ
@given(row=st.lists(cells, min_size=len(MEMBER_KEYS), max_size=len(MEMBER_KEYS)))
@example(row=["13800138000", "甲", None, None, "9" * 5000] + [None] * (len(MEMBER_KEYS) - 5))
@example(row=["13800138000", "甲\x00", None, None, "1e999999"] + [None] * (len(MEMBER_KEYS) - 5))
def test_a_member_row_of_anything_is_values_or_row_errors(row):
    """Each converter (phone, name, gender, dates, points, money, stored value, tier,
    counts, tags, store, consent ...) answers a value or a Problem for its column."""
    validator = _validator("members", MEMBER_KEYS)
    _checked(validator, MEMBER_KEYS, row)


@pytest.mark.usefixtures("store")
@FUZZ
@given(row=st.lists(cells, min_size=len(PURCHASE_KEYS), max_size=len(PURCHASE_KEYS)))
def test_a_purchase_row_of_anything_is_values_or_row_errors(row):
    validator = _validator("purchases", PURCHASE_KEYS)
    _checked(validator, PURCHASE_KEYS, row)
    validator.order_key_of(row)  # the pre-pass's reading of the order number too
    validator.phone_of(row)


# Through the command, on the database: a CSV (text cells) of fuzzed rows and good ones.
CSV_KEYS = ["phone", "name", "gender", "birthday", "points", "total_spent", "purchase_count",
            "created_at", "tags", "note", "email", "marketing_consent", "stored_value"]  # fmt: skip
HEADERS = ["手机号", "姓名", "性别", "生日", "积分", "累计消费", "消费次数", "注册时间", "标签",
           "备注", "邮箱", "营销同意", "储值余额"]  # fmt: skip
row_texts = texts.filter(lambda t: "\r" not in t)  # a CR alone ends a CSV line


@pytest.mark.usefixtures("tiers", "store")
@settings(FUZZ, max_examples=25)
@given(rows=st.lists(st.lists(row_texts, min_size=12, max_size=12), min_size=1, max_size=6))
@example(rows=[["甲\x00乙", "", "", "9" * 5000, "", "", "", "", "", "", "", ""]])
def test_a_file_of_anything_runs_to_the_end(tmp_path_factory, rows):
    ImportJob.objects.all().delete()
    start = Member.objects.count()
    good = ["13900000000", "好人", "女", "1990-01-02", "10", "1.5", "1", "", "常客", "", "", "是",
            "5"]  # fmt: skip
    # Fuzzed rows get phones of their own (and a fuzzed one in a column of its own).
    body = [[f"1380000{n:04d}", *row] for n, row in enumerate(rows)]
    path = write_csv(tmp_path_factory.mktemp("f") / "m.csv", [HEADERS, good, *body])
    out = io.StringIO()
    with translation.override("en"):
        call_command("import_members", str(path), stdout=out)  # exit 0: no exception
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.DONE, job.message
    counts = job.counts()
    assert sum(counts.values()) == len(body) + 1
    assert not ImportRowError.objects.filter(line=2).exists()  # the good row went in
    assert Member.objects.count() == start + counts["created"]
    control = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
    for name, note in Member.objects.values_list("name", "note"):
        assert not control.search(f"{name}{note}")
    assert not any(control.search(t) for t in Tag.objects.values_list("name", flat=True))
