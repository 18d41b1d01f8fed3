"""The member exports of six systems, imported as they come (no --map): each file in
tests/loyalty/fixtures/presets/ is what that system writes (headers as presets.py lists
them, values the way the system formats them, a masked phone on one row at least).

Per preset: the job is recognised as it (ImportJob.preset), the members get their
points, stored value, tier, growth value, WeChat openid, referrer and count card, and a
second run of the same file changes nothing. Beside: tier texts matched by name
("金卡会员" -> 金卡), an unknown one refused until the owner chooses (--tier, kept for
the next import), totals rows skipped and reported, the report in both languages.
"""

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from loyalty.imports.matching import fold_name
from loyalty.imports.presets import BY_KEY
from loyalty.models import (
    Card,
    CountCard,
    CountCardEntry,
    CountCardTemplate,
    GrowthEntry,
    ImportJob,
    ImportTierAlias,
    PointsEntry,
    StoredValueEntry,
    TierChange,
)
from members.models import Member
from members.services import member_by_phone
from tests.factories import MemberFactory
from tests.loyalty.import_files import write_csv

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "presets"
TZ = timezone.get_default_timezone()
MALE, FEMALE, UNKNOWN = Member.Gender.MALE, Member.Gender.FEMALE, Member.Gender.UNKNOWN
OUR_TIERS = "普通会员, 银卡, 金卡, 钻石卡"
MASKED = "The mobile number is masked ({phone})"
# 次卡 packages the Meituan file names: created by the owner before the import.
PACKAGES = {"洗剪吹10次卡": ("xjc10", 10, "200.00"), "头皮护理5次卡": ("hl5", 5, "300.00")}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def stores(store, other_store):
    """静安店 (SH01) and 徐汇店 (SH02): the stores the files name."""
    return {"静安店": store, "徐汇店": other_store}


@pytest.fixture
def packages(db):
    return {
        name: CountCardTemplate.objects.create(
            code=code, name=name, uses=uses, price=Decimal(price), valid_months=12
        )
        for name, (code, uses, price) in PACKAGES.items()
    }


def run_import(path, *args, language: str = "en") -> tuple[str, dict]:
    """Run `import_members` in `language`; (output, counts of its last line)."""
    out = io.StringIO()
    call_command("import_members", str(path), *args, "--language", language, stdout=out)
    output = out.getvalue()
    last = output.strip().splitlines()[-1]
    return output, {k: int(v) for k, v in (part.split("=") for part in last.split())}


def _import(name: str, *args, language: str = "en") -> tuple[str, dict, ImportJob]:
    output, counts = run_import(FIXTURES / name, *args, language=language)
    return output, counts, ImportJob.objects.latest("pk")


def _counts(created=0, updated=0, unchanged=0, errors=0) -> dict:
    return {"created": created, "updated": updated, "unchanged": unchanged, "errors": errors}


def _card(phone: str) -> Card:
    return Card.objects.select_related("tier", "member").get(pk=member_by_phone(phone).pk)


def _stored(card: Card) -> tuple[Decimal, Decimal]:
    return card.stored_principal, card.stored_bonus


def _tags(member: Member) -> set[str]:
    return set(member.tags.values_list("name", flat=True))


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


def _tier_note(job: ImportJob, text: str) -> tuple:
    """(rows, tier id, how) of a tier text of the file, as the run noted it."""
    return next(tuple(note[1:]) for note in job.notes["tiers"] if note[0] == text)


def _snapshot() -> dict:
    """Everything an import writes: a second run of the same file must leave it as is."""
    return {
        "members": sorted(
            Member.objects.values_list(
                "pk",
                "name",
                "gender",
                "birthday",
                "store_id",
                "created_at",
                "updated_at",
                "referred_by_id",
                "wechat_openid",
            )
        ),  # fmt: skip
        "tags": sorted(Member.tags.through.objects.values_list("member_id", "tag_id")),
        "cards": sorted(Card.objects.values_list()),
        "points": sorted(PointsEntry.objects.values_list()),
        "stored": sorted(StoredValueEntry.objects.values_list()),
        "growth": sorted(GrowthEntry.objects.values_list()),
        "count_cards": sorted(CountCard.objects.values_list()),
        "count_card_entries": sorted(CountCardEntry.objects.values_list()),
        "tier_changes": sorted(TierChange.objects.values_list()),
    }


def _run_twice(name: str, *args, created: int, errors: int):
    """Import the file, then again: the second run finds every member unchanged and
    writes nothing (no doubled points, stored value, growth value or count cards)."""
    output, counts, job = _import(name, *args)
    assert counts == _counts(created=created, errors=errors), output
    before = _snapshot()
    again, counts, second = _import(name, *args)
    assert counts == _counts(unchanged=created, errors=errors), again
    assert second.preset == job.preset
    assert _snapshot() == before
    return output, job, again, second


FILES = {
    "youzan": ("youzan.csv", "utf-8-sig"),
    "weimob": ("weimob.csv", "utf-8"),
    "crmeb": ("crmeb.xlsx", None),
    "keruyun": ("keruyun.csv", "gbk"),
    "yinbao": ("yinbao.csv", "utf-8-sig"),
    "meituan": ("meituan.csv", "utf-8-sig"),
}


@pytest.mark.parametrize("key", FILES)
def test_each_fixture_has_its_presets_header(key):
    """The files are what the systems write: the preset's header row, as listed."""
    name, encoding = FILES[key]
    if encoding is None:  # CRMEB's legacy xlsx: a title, an info line, then the header
        from openpyxl import load_workbook

        rows = list(load_workbook(FIXTURES / name, read_only=True).active.values)
        assert rows[0][0] == "用户列表" and rows[1][0].startswith("操作者：")
        header = list(rows[2])
    else:
        raw = (FIXTURES / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
        first = raw.decode(encoding).splitlines()[0]
        header = first.split(",")
        if key == "youzan":  # Youzan's header ends with a comma
            assert first.endswith(",") and header.pop() == ""
    assert header == BY_KEY[key].headers


# --- one test per preset ---------------------------------------------------------------


def test_youzan(stores, tiers):
    output, job, _again, _second = _run_twice("youzan.csv", created=4, errors=2)
    assert job.preset == "youzan"
    assert job.encoding == "utf-8-sig" and job.header_line == 1
    assert len(job.headers) == 34  # the trailing comma's empty column is no column
    assert "Recognised as: Youzan (有赞) customer export" in output
    assert "line 6, 客户手机号: " + MASKED.format(phone="138****5678") in output
    assert f"line 7, 免费等级: Unknown tier “铂金会员” (tiers: {OUR_TIERS})." in output
    assert _tier_note(job, "金卡会员") == (1, tiers["金卡"].pk, "contained")
    assert _tier_note(job, "铂金会员") == (1, None, "")
    assert "Tier “金卡会员” → 金卡 (name contained: check it; rows: 1)" in output

    wang = _card("13610000001")
    assert (wang.points_balance, _stored(wang), wang.tier, wang.growth_value) == (
        200, (Decimal("10.00"), Decimal("0.00")), tiers["金卡"], 120,
    )  # fmt: skip
    assert (wang.total_spent, wang.purchase_count) == (Decimal("300.00"), 3)
    assert wang.last_purchase_at == _at("2024-05-18 10:00:00")
    assert (wang.member.name, wang.member.gender) == ("王芳", FEMALE)
    assert wang.member.birthday == dt.date(1990, 3, 15)
    assert wang.member.created_at == _at("2024-01-01 10:00:00")  # 成为客户时间, not 成为会员时间
    assert wang.member.store == stores["静安店"]
    assert _tags(wang.member) == {"常客", "咖啡"}  # "常客|咖啡"

    zhang = _card("13610000002")
    # The paid tier (付费等级 SVIP年卡) is not ours: the free one is the tier.
    assert (zhang.points_balance, _stored(zhang), zhang.tier, zhang.growth_value) == (
        50, (0, 0), tiers["银卡"], 35,
    )  # fmt: skip
    assert zhang.member.gender == MALE
    assert _tags(zhang.member) == {"常客", "咖啡"}  # "常客,咖啡" in a quoted cell

    # No real name: the nickname (小鱼儿) is not taken for one; 其他 is no gender; an
    # empty tier is the lowest; a blank birthday is none.
    fish = _card("13610000003")
    assert (fish.member.name, fish.member.gender, fish.member.birthday) == ("", UNKNOWN, None)
    assert (fish.points_balance, _stored(fish), fish.tier, fish.growth_value) == (
        0, (0, 0), tiers["普通会员"], 0,
    )  # fmt: skip
    assert fish.member.store is None

    liu = _card("13610000004")
    assert (liu.points_balance, _stored(liu), liu.tier) == (
        1500, (Decimal("288.50"), Decimal("0.00")), tiers["普通会员"],
    )  # fmt: skip
    assert liu.member.store == stores["徐汇店"]
    assert PointsEntry.objects.filter(member_id=liu.pk, kind=PointsEntry.Kind.IMPORT).count() == 1

    # The refused rows are not members.
    assert member_by_phone("13610000006") is None
    assert Member.objects.filter(name="陈静").count() == 0
    assert Member.objects.count() == 4


def test_weimob(stores, tiers, member):
    """The inviter of one row is a member already (李雷), of another a row further down,
    of a third nobody: two referrers are linked, the third row is still imported."""
    output, job, again, second = _run_twice("weimob.csv", created=4, errors=1)
    assert job.preset == "weimob"
    assert "line 6, 手机号: " + MASKED.format(phone="139****1234") in output
    assert _tier_note(job, "银卡会员") == (1, tiers["银卡"].pk, "contained")

    sun, zhou, wu, zheng = (_card(f"1372000000{i}") for i in (1, 2, 3, 4))
    assert sun.member.referred_by == member
    assert zhou.member.referred_by == zheng.member
    assert wu.member.referred_by is None
    assert zheng.member.referred_by is None
    assert job.notes["referrers"] == {"linked": 2, "unknown": 1, "kept": 0}
    assert (
        "Referrers linked: 2; inviters who are not members: 1; members who keep the "
        "referrer they had: 0." in output
    )
    # The second run links nothing again; the unknown inviter is still unknown.
    assert second.notes["referrers"] == {"linked": 0, "unknown": 1, "kept": 0}

    # 当前积分 and 储值余额, not the lifetime 累计积分 / 累计储值.
    assert (sun.points_balance, _stored(sun), sun.tier, sun.growth_value) == (
        880, (Decimal("150.00"), Decimal("0.00")), tiers["金卡"], 2600,
    )  # fmt: skip
    assert (sun.total_spent, sun.purchase_count) == (Decimal("3200.00"), 12)
    assert (sun.member.name, sun.member.gender, sun.member.store) == (
        "孙丽", FEMALE, stores["静安店"],
    )  # fmt: skip
    assert _tags(sun.member) == {"高价值"}
    assert (zhou.points_balance, zhou.tier, zhou.growth_value) == (120, tiers["银卡"], 600)
    assert (wu.member.gender, _stored(wu), wu.tier) == (
        UNKNOWN, (Decimal("25.50"), Decimal("0.00")), tiers["普通会员"],
    )  # fmt: skip
    assert (zheng.points_balance, zheng.growth_value, zheng.member.store) == (
        40, 80, stores["徐汇店"],
    )  # fmt: skip
    # Weimob's 会员卡号 is its own number, not ours.
    assert not Member.objects.filter(member_no__startswith="WM").exists()
    assert Member.objects.count() == 5  # 李雷 and the four


def test_crmeb_legacy_xlsx_with_title_rows(stores, tiers):
    output, job, _again, _second = _run_twice("crmeb.xlsx", created=4, errors=1)
    assert job.preset == "crmeb"
    assert (job.file_format, job.header_line) == ("xlsx", 3)
    assert "Header on line 3: 用户ID → (not imported); 昵称 → (not imported); 真实姓名 → Name" in (
        output
    )
    assert "line 7, 电话: " + MASKED.format(phone="158****0004") in output
    assert _tier_note(job, "无") == (1, None, "none")
    assert _tier_note(job, "金卡会员") == (1, tiers["金卡"].pk, "contained")

    li = _card("15830000001")
    assert (li.member.name, li.member.gender, li.tier, _stored(li)) == (
        "李明", MALE, tiers["银卡"], (Decimal("66.80"), Decimal("0.00")),
    )  # fmt: skip
    assert _tags(li.member) == {"新客", "咖啡"}
    assert li.member.created_at == _at("2024-01-01 10:00:00")
    assert li.points_balance == 0 and li.growth_value == 0  # CRMEB exports neither

    huang = _card("15830000002")  # 用户等级 无: no tier, the lowest
    assert (huang.member.gender, huang.tier, _stored(huang)) == (FEMALE, tiers["普通会员"], (0, 0))
    assert _tags(huang.member) == set()  # 用户分组 is not a tag

    # 保密 is no gender; a zero registration timestamp (1970-01-01 08:00:00) is no date:
    # the member is registered at the import's time.
    zhou = _card("15830000003")
    assert (zhou.member.name, zhou.member.gender, zhou.tier, _stored(zhou)) == (
        "", UNKNOWN, tiers["金卡"], (Decimal("120.00"), Decimal("0.00")),
    )  # fmt: skip
    assert zhou.member.created_at == job.started_at

    deng = _card("15830000005")
    assert (deng.tier, _tags(deng.member)) == (tiers["金卡"], {"常客", "甜品"})
    assert StoredValueEntry.objects.count() == 2


def test_keruyun_gbk_with_a_totals_row(stores, tiers):
    output, job, again, second = _run_twice("keruyun.csv", created=4, errors=1)
    assert job.preset == "keruyun"
    assert job.encoding == "gb18030"
    assert "line 5, 手机号: " + MASKED.format(phone="186****0004") in output
    # The 合计 row: skipped and said, not an error row; again on the second run.
    assert job.notes["totals"] == [7] and second.notes["totals"] == [7]
    assert "Line 7 skipped: a totals row (合计)." in output
    assert "Line 7 skipped: a totals row (合计)." in again
    assert "line 7," not in output

    qian = _card("18640000001")  # 储值余额 600 = 本金 500 + 赠送 100
    assert (qian.points_balance, _stored(qian), qian.tier) == (
        320, (Decimal("500.00"), Decimal("100.00")), tiers["金卡"],
    )  # fmt: skip
    assert (qian.total_spent, qian.purchase_count) == (Decimal("2380.50"), 25)
    assert (qian.member.name, qian.member.gender, qian.member.note) == ("钱伟", MALE, "不吃辣")
    assert qian.member.birthday == dt.date(1988, 2, 14)
    assert qian.member.store == stores["静安店"]

    feng = _card("18640000002")
    assert (feng.points_balance, _stored(feng), feng.tier, feng.member.store) == (
        0, (Decimal("50.00"), Decimal("0.00")), tiers["银卡"], stores["徐汇店"],
    )  # fmt: skip
    chu = _card("18640000003")
    assert (chu.points_balance, _stored(chu), chu.member.gender) == (15, (0, 0), UNKNOWN)
    jiang = _card("18640000005")
    assert (jiang.points_balance, _stored(jiang), jiang.tier) == (
        1200, (Decimal("200.00"), Decimal("10.00")), tiers["金卡"],
    )  # fmt: skip
    # One opening entry per member with a balance, none for the zero one.
    assert StoredValueEntry.objects.filter(kind=StoredValueEntry.Kind.IMPORT).count() == 3


def test_yinbao_with_openids(stores, tiers):
    output, job, _again, second = _run_twice("yinbao.csv", created=4, errors=1)
    assert job.preset == "yinbao"
    assert "line 5, 手机号: " + MASKED.format(phone="135****0004") in output
    # The back office's summary line (会员数：5, ...) is a totals row too.
    assert job.notes["totals"] == [7] and second.notes["totals"] == [7]
    assert "Line 7 skipped: a totals row (合计)." in output

    shen = _card("13550000001")
    assert shen.member.wechat_openid == "oAbCdEfGhIjKlMnOpQrStUvWxYz1"
    assert (shen.points_balance, _stored(shen), shen.tier) == (
        671, (Decimal("528.80"), Decimal("0.00")), tiers["金卡"],
    )  # fmt: skip
    assert shen.member.email == "shenjia@example.com"
    assert shen.member.addresses == "上海市静安区南京西路100号"
    assert shen.member.created_at == _at("2023-10-05 00:00:00")
    han = _card("13550000002")
    assert han.member.wechat_openid == "oZyXwVuTsRqPoNmLkJiHgFeDcBa2"
    assert (han.points_balance, _stored(han), han.tier) == (120, (0, 0), tiers["银卡"])
    assert (han.member.note, han.member.store) == ("爱喝拿铁", stores["徐汇店"])
    yang = _card("13550000003")
    assert yang.member.wechat_openid is None
    assert _stored(yang) == (Decimal("35.50"), Decimal("0.00"))
    qin = _card("13550000005")
    assert qin.member.wechat_openid == "oMnBvCxZlKjHgFdSaPoIuYtReWq5"
    assert (qin.tier, qin.points_balance) == (tiers["金卡"], 2500)
    # The masked row's openid is bound to nobody.
    assert not Member.objects.filter(wechat_openid="oQwErTyUiOpAsDfGhJkLzXcVbNm4").exists()


def test_meituan_with_count_cards(stores, tiers, packages):
    output, job, _again, _second = _run_twice("meituan.csv", created=4, errors=1)
    assert job.preset == "meituan"
    assert "line 5, 手机号码: " + MASKED.format(phone="177****0004") in output

    xu = _card("17760000001")
    assert (xu.points_balance, _stored(xu), xu.tier, xu.member.store) == (
        260, (Decimal("300.00"), Decimal("50.00")), tiers["金卡"], stores["静安店"],
    )  # fmt: skip
    assert xu.member.created_at == _at("2023-09-01 00:00:00")
    (card,) = CountCard.objects.filter(member_id=xu.pk)
    assert (card.template, card.name, card.uses_total, card.uses_left) == (
        packages["洗剪吹10次卡"], "洗剪吹10次卡", 3, 3,
    )  # fmt: skip
    assert card.price_paid == 0 and card.store == stores["静安店"]
    entry = CountCardEntry.objects.get(card=card)
    assert (entry.kind, entry.delta, entry.left_after) == (CountCardEntry.Kind.IMPORT, 3, 3)

    he = _card("17760000002")
    assert (_stored(he), he.tier, he.points_balance) == (
        (Decimal("100.00"), Decimal("0.00")), tiers["银卡"], 80,
    )  # fmt: skip
    assert not CountCard.objects.filter(member_id=he.pk).exists()
    lv = _card("17760000003")
    assert list(CountCard.objects.filter(member_id=lv.pk).values_list("name", "uses_left")) == [
        ("头皮护理5次卡", 5)
    ]
    zhang = _card("17760000005")  # 金卡会员
    assert (_stored(zhang), zhang.tier, zhang.member.store) == (
        (Decimal("880.00"), Decimal("120.00")), tiers["金卡"], stores["徐汇店"],
    )  # fmt: skip
    assert list(CountCard.objects.filter(member_id=zhang.pk).values_list("name", "uses_left")) == [
        ("洗剪吹10次卡", 8)
    ]
    assert CountCard.objects.count() == 3 and CountCardEntry.objects.count() == 3


# --- tiers: matched, unknown, chosen ---------------------------------------------------


def test_an_unknown_tier_imports_once_chosen_and_the_choice_is_kept(stores, tiers):
    """铂金会员 is none of ours (the row is refused: test_youzan); --tier 铂金会员=钻石卡
    imports it and is kept (ImportTierAlias), so the next import matches it alone."""
    output, counts, job = _import("youzan.csv", "--tier", "铂金会员=钻石卡")
    assert counts == _counts(created=5, errors=1), output
    zhao = _card("13610000006")
    assert (zhao.tier, zhao.points_balance, zhao.growth_value) == (tiers["钻石卡"], 800, 5000)
    assert TierChange.objects.filter(member_id=zhao.pk, to_tier=tiers["钻石卡"]).exists()
    alias = ImportTierAlias.objects.get()
    assert (alias.value, alias.tier) == (fold_name("铂金会员"), tiers["钻石卡"])
    assert _tier_note(job, "铂金会员") == (1, tiers["钻石卡"].pk, "chosen")
    assert "Tier “铂金会员” → 钻石卡 (your choice; rows: 1)" in output

    before = _snapshot()
    output, counts, job = _import("youzan.csv")  # no --tier: the choice is remembered
    assert counts == _counts(unchanged=5, errors=1), output
    assert _tier_note(job, "铂金会员") == (1, tiers["钻石卡"].pk, "chosen")
    assert "Unknown tier" not in output
    assert _snapshot() == before


# --- WeChat openids ---------------------------------------------------------------------


def test_an_openid_is_never_overwritten_nor_given_twice(stores, tiers):
    """韩梅 is a member bound to another openid already: her row is refused and her
    openid stays. 沈佳's openid belongs to another member: her row is refused too."""
    han_openid = "oHanMeiOldOpenId0000000000a1"
    han = MemberFactory(phone="13550000002", name="韩梅", store=stores["静安店"])
    owner = MemberFactory(phone="13900001111", name="沈佳的老公", store=stores["静安店"])
    Member.objects.filter(pk=han.pk).update(wechat_openid=han_openid)
    Member.objects.filter(pk=owner.pk).update(wechat_openid="oAbCdEfGhIjKlMnOpQrStUvWxYz1")

    output, counts, _job = _import("yinbao.csv")
    assert counts == _counts(created=2, errors=3), output
    assert (
        "line 2, 微信OpenID: The WeChat openid oAbCdEfGhIjKlMnOpQrStUvWxYz1 belongs to "
        "another member" in output
    )
    assert (
        f"line 3, 微信OpenID: This member is bound to another WeChat openid ({han_openid}): "
        "it is not replaced by a file." in output
    )
    han.refresh_from_db()
    owner.refresh_from_db()
    assert han.wechat_openid == han_openid
    assert owner.wechat_openid == "oAbCdEfGhIjKlMnOpQrStUvWxYz1"
    assert member_by_phone("13550000001") is None
    # Her refused row changed nothing else of her card either.
    assert not PointsEntry.objects.filter(member_id=han.pk, kind=PointsEntry.Kind.IMPORT).exists()
    assert not StoredValueEntry.objects.filter(member_id=han.pk).exists()
    assert member_by_phone("13550000005").wechat_openid == "oMnBvCxZlKjHgFdSaPoIuYtReWq5"


# --- values ---------------------------------------------------------------------------


def test_gender_codes_1_and_2_are_male_and_female(tmp_path, stores):
    """WeChat's codes, which Weimob's export may write instead of 男/女: 1 male, 2 female,
    0 unknown."""
    headers = BY_KEY["weimob"].headers
    at = {h: i for i, h in enumerate(headers)}

    def row(phone, name, gender):
        cells = [""] * len(headers)
        cells[at["客户ID"]], cells[at["姓名"]] = "99" + phone, name
        cells[at["手机号"]], cells[at["性别"]] = phone, gender
        cells[at["客户状态"]] = "正常"
        return cells

    path = write_csv(
        tmp_path / "微盟客户.csv",
        [headers, row("13720000011", "男一", "1"), row("13720000012", "女二", "2"),
         row("13720000013", "未三", "0")],
    )  # fmt: skip
    output, counts = run_import(path)
    assert counts == _counts(created=3), output
    assert ImportJob.objects.latest("pk").preset == "weimob"
    genders = dict(Member.objects.values_list("name", "gender"))
    assert genders == {"男一": MALE, "女二": FEMALE, "未三": UNKNOWN}


# --- the report in both languages -------------------------------------------------------


def _report(name: str, language: str) -> str:
    return _import(name, language=language)[0]


def test_the_report_in_english(stores, tiers):
    output = _report("keruyun.csv", "en")
    assert "Recognised as: Keruyun (客如云) member export" in output
    assert "(ignored)" not in output
    assert "顾客来源 → (not imported)" in output
    assert "Line 7 skipped: a totals row (合计)." in output
    assert "line 5, 手机号: " + MASKED.format(phone="186****0004") in output
    assert output.strip().splitlines()[-1] == "created=4 updated=0 unchanged=0 errors=1"


def test_the_report_in_chinese(stores, tiers):
    """zh-hans, the site's language: the same run, its report in Chinese."""
    output = _report("keruyun.csv", "zh-hans")
    assert "文件：keruyun.csv" in output
    assert "识别为：客如云 会员导出" in output
    assert "表头在第 1 行" in output and "顾客来源 → （不导入）" in output
    assert "等级“金卡会员” → 金卡（名称包含匹配：请核对；1 行）" in output
    assert "第 7 行已跳过：合计行。" in output
    assert "第 5 行，手机号：手机号已打码（186****0004）" in output
    for english in ("(ignored)", "(not imported)", "Recognised as", "skipped", "masked"):
        assert english not in output
    assert output.strip().splitlines()[-1] == "created=4 updated=0 unchanged=0 errors=1"
    # Asked for no language at all, the command speaks the site's (zh-hans).
    out = io.StringIO()
    call_command("import_members", str(FIXTURES / "keruyun.csv"), stdout=out)
    assert "识别为：客如云 会员导出" in out.getvalue()
    assert out.getvalue().strip().splitlines()[-1] == "created=0 updated=0 unchanged=4 errors=1"


def test_meituan_a_row_without_a_count_card_says_0_uses(tmp_path, stores, tiers, packages):
    """The 储值台账's example row (docs: /tmp/presets.md §6): no 次卡名称, 次卡剩余次数 0."""
    path = write_csv(
        tmp_path / "储值台账.csv",
        [BY_KEY["meituan"].headers,
         ["静安店", "9001", "演示甲", "17760000011", "银卡", "100.00", "0", "", "0", "", "0", "0",
          "2024-09-01", "2024-09-01"]],
    )  # fmt: skip
    output, counts = run_import(path)
    assert counts == _counts(created=1), output
    assert not CountCard.objects.exists()
