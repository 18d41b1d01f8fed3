"""Switching from another system, the generic parts: headers as old systems write them,
the rule between two columns of one field, sample values and reasons in the mapping
step, tier texts matched and chosen, totals rows, WeChat ids and count cards refused
where they cannot be, and the background run in the language of whoever queued it.
The six named presets, each with its fixture: test_import_presets.py."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from loyalty.imports.columns import alternatives, auto_map, variants
from loyalty.imports.matching import TierMatcher, is_totals
from loyalty.models import Card, CountCard, CountCardTemplate, ImportJob, ImportTierAlias, Tier
from members.models import Member
from tests.factories import MemberFactory
from tests.loyalty.import_files import phone, run_import, write_csv, write_xlsx

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("客户手机号", "phone"),
        ("会员手机号码", "phone"),
        ("手机号（必填）", "phone"),
        ("Ｍｏｂｉｌｅ　Ｎｏ", "phone"),  # full-width, as some Excel templates write it
        ("Tel. No.", "phone"),
        ("粉丝手机", "phone"),
        ("顾客姓名", "name"),
        ("用户余额", "stored_value"),
        ("余额（元）", "stored_value"),
        ("储值本金余额(¥)", "stored_principal"),
        ("客户积分", "points"),
        ("积分(分)", "points"),
        ("PTS", "points"),
        ("用户等级", "tier"),
        ("VIP Level", "tier"),
        ("成长值", "growth_value"),
        ("推荐人手机号", "referrer_phone"),
        ("次卡剩余次数", "count_card_uses"),
        ("微信OpenID", "wechat_openid"),
        ("DOB", "birthday"),
    ],
)
def test_headers_are_recognised_as_old_systems_write_them(header, field):
    assert (
        auto_map(["手机", header] if field != "phone" else [header])[
            "1" if field != "phone" else "0"
        ]
        == field
    ), variants(header)


def test_what_is_not_a_field_stays_out():
    mapping = auto_map(["手机号", "累计积分", "累计储值", "最近消费金额", "用户ID", "客户编号"])
    assert list(mapping.values()) == ["phone", "", "", "", "", ""]


def test_of_two_tier_columns_the_free_one_wins_and_the_other_is_named():
    headers = ["付费等级", "手机号", "免费等级", "昵称", "姓名"]
    mapping = auto_map(headers)
    assert mapping == {"0": "", "1": "phone", "2": "tier", "3": "", "4": "name"}
    assert alternatives(headers, mapping) == {"0": "tier", "3": "name"}
    # Without a free tier or a real name, the paid tier and the nickname are taken.
    assert auto_map(["手机号", "付费等级", "昵称"]) == {"0": "phone", "1": "tier", "2": "name"}


def test_tier_texts_are_matched_exactly_by_choice_then_by_decoration(tiers):
    ImportTierAlias.objects.create(value="至尊", tier=tiers["钻石卡"])
    matcher = TierMatcher()
    assert matcher.match("金卡") == tiers["金卡"].pk
    assert matcher.match("ＶＩＰ金卡") == tiers["金卡"].pk  # full-width
    assert matcher.match("金卡会员") == tiers["金卡"].pk
    assert matcher.match("钻石会员") == tiers["钻石卡"].pk  # both 钻石 without decoration
    assert matcher.match("至尊") == tiers["钻石卡"].pk  # the owner's choice
    assert matcher.match("无") is None  # no tier: the lowest for a new member
    with pytest.raises(Exception, match="黑金卡"):
        matcher.match("黑金卡")  # another word: the tier above 金卡, not 金卡
    report = {text: (rows, how) for text, rows, _tier, how in matcher.report()}
    assert report["金卡会员"] == (1, "contained") and report["至尊"] == (1, "chosen")
    assert report["黑金卡"] == (1, "")


def test_totals_rows_are_known_by_their_words():
    assert is_totals(["合计", "", "", "300.00"])
    assert is_totals(["", "总计：", "12"])
    assert is_totals(["会员数：3, 充值金额：100"])
    assert is_totals(["Total", None, 5])
    assert not is_totals(["张三", "", "100"])
    for name in ("Summer Li", "Totally Wang", "总计划", "会员数量统计"):  # names, not totals
        assert not is_totals([name, ""]), name


def test_an_xlsx_with_a_title_row_and_a_totals_row(tmp_path, tiers):
    path = write_xlsx(
        tmp_path / "会员.xlsx",
        [
            ["会员资料导出"],
            ["操作者：店长 导出日期：2026-12-01"],
            ["会员手机号", "会员姓名", "积分", "会员等级"],
            [phone(1), "张三", 100, "金卡会员"],
            [phone(2), "李四", 50, "普通会员"],
            ["合计", None, 150, None],
        ],
    )
    output, counts = run_import(path)
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "errors": 0}
    job = ImportJob.objects.get()
    assert job.header_line == 3 and job.notes["totals"] == [6]
    assert "Line 6 skipped: a totals row" in output
    zhang = Member.objects.get(name="张三")
    assert Card.objects.get(pk=zhang.pk).tier == tiers["金卡"]
    assert "Tier “金卡会员” → 金卡 (name contained: check it; rows: 1)" in output


def test_genders_as_wechat_writes_them(tmp_path):
    path = write_csv(
        tmp_path / "m.csv",
        [["手机号", "性别"], [phone(1), "1"], [phone(2), "2"], [phone(3), "0"], [phone(4), "其他"]],
    )
    _output, counts = run_import(path)
    assert counts["created"] == 4 and counts["errors"] == 0
    genders = dict(Member.objects.values_list("phone_last4", "gender"))
    assert [genders[phone(i)[-4:]] for i in range(1, 5)] == [
        Member.Gender.MALE,
        Member.Gender.FEMALE,
        "",
        "",
    ]


def test_a_masked_phone_is_refused_with_the_reason_in_both_languages(tmp_path):
    path = write_csv(tmp_path / "m.csv", [["手机号", "姓名"], ["138****5678", "甲"]])
    output, counts = run_import(path)
    assert counts["errors"] == 1 and "masked (138****5678)" in output
    output, _counts = run_import(path, "--language", "zh-hans")
    assert "手机号已打码（138****5678）" in output


def test_wechat_ids_are_bound_once_and_never_replaced(tmp_path, store):
    other, bound = MemberFactory(phone="13900139001"), MemberFactory(phone="13900139002")
    Member.objects.filter(pk=other.pk).update(wechat_openid="o" + "B" * 27)
    Member.objects.filter(pk=bound.pk).update(wechat_openid="o" + "C" * 27)
    rows = [
        ["手机号", "openid", "unionid"],
        [phone(1), "o" + "A" * 27, "u" + "A" * 27],  # new: bound
        [phone(2), "o" + "B" * 27, ""],  # another member's openid: refused
        ["13900139002", "o" + "D" * 27, ""],  # bound to another one: refused
        ["13900139002", "", ""],
        [phone(3), "not an openid!", ""],
    ]
    rows.pop(4)  # one row per phone
    output, counts = run_import(write_csv(tmp_path / "m.csv", rows))
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 3}
    new = Member.objects.get(phone_last4=phone(1)[-4:])
    assert new.wechat_openid == "o" + "A" * 27 and new.wechat_unionid == "u" + "A" * 27
    bound.refresh_from_db()
    other.refresh_from_db()
    assert bound.wechat_openid == "o" + "C" * 27 and other.wechat_openid == "o" + "B" * 27
    assert "belongs to another member" in output and "bound to another WeChat openid" in output
    assert "not a WeChat openid" in output


def test_a_count_card_needs_its_template_and_both_columns(tmp_path, store):
    CountCardTemplate.objects.create(code="wash10", name="10次洗车卡", uses=10, price=300)
    rows = [
        ["手机号", "次卡名称", "剩余次数"],
        [phone(1), "10次洗车卡", "4"],
        [phone(2), "美甲卡", "2"],
        [phone(3), "10次洗车卡", ""],
    ]
    output, counts = run_import(write_csv(tmp_path / "m.csv", rows))
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 2}
    card = CountCard.objects.get()
    assert (card.name, card.uses_left, card.uses_total, card.tender) == (
        "10次洗车卡",
        4,
        4,
        "import",
    )
    assert card.entries.get().kind == "import"
    assert "No count card template “美甲卡”" in output and "both its package" in output
    # Again: nothing twice; other uses for the same card: refused.
    assert run_import(write_csv(tmp_path / "m.csv", rows[:2]))[1]["unchanged"] == 1
    rows[1][2] = "9"
    assert run_import(write_csv(tmp_path / "m.csv", rows[:2]))[1]["errors"] == 1
    assert CountCard.objects.get().uses_left == 4


def test_referrers_in_the_file_below_or_already_members(tmp_path, store):
    inviter = MemberFactory(phone="13900139001")
    rows = [
        ["手机号", "推荐人手机号"],
        [phone(1), "13900139001"],  # an existing member
        [phone(2), phone(3)],  # a row further down
        [phone(3), ""],
        [phone(4), "13700000000"],  # nobody
    ]
    path = write_csv(tmp_path / "m.csv", rows)
    output, _counts = run_import(path, "--dry-run")
    assert ImportJob.objects.get().notes["referrers"] == {"linked": 2, "unknown": 1, "kept": 0}
    output, counts = run_import(path)
    assert counts["created"] == 4
    by_last4 = {m.phone_last4: m for m in Member.objects.all()}
    assert by_last4[phone(1)[-4:]].referred_by == inviter
    assert by_last4[phone(2)[-4:]].referred_by == by_last4[phone(3)[-4:]]
    assert by_last4[phone(4)[-4:]].referred_by is None
    assert "Referrers linked: 2; inviters who are not members: 1" in output


def test_the_mapping_step_shows_samples_reasons_and_the_rule(owner_client, store):
    text = "\r\n".join(
        [
            "客户姓名,客户昵称,客户手机号,免费等级,付费等级,客户积分,客户储值余额",
            f"张三,小张,{phone(1)},金卡会员,,200,10.00",
            f"李四,,{phone(2)},,付费VIP,0,0.00",
        ]
    )
    upload = SimpleUploadedFile("客户.csv", text.encode("utf-8-sig"), content_type="text/csv")
    owner_client.post(reverse("admin:loyalty_importjob_add"), {"file": upload, "kind": "members"})
    job = ImportJob.objects.get()
    assert job.preset == "youzan" and len(job.samples) == 2
    page = owner_client.get(reverse("admin:loyalty_importjob_change", args=[job.pk]))
    html = page.content.decode()
    assert "有赞 客户导出" in html  # exported from, in Chinese
    assert "示例：张三 · 李四" in html and f"{phone(1)} · {phone(2)}" in html
    assert "也可能是“会员等级”，目前取自列“免费等级”" in html  # 付费等级: the rule shown


def test_the_background_run_speaks_the_language_of_who_queued_it(
    owner_client, store, django_capture_on_commit_callbacks
):
    text = f"手机号,等级\r\n{phone(1)},不存在的等级\r\n"
    upload = SimpleUploadedFile("m.csv", text.encode(), content_type="text/csv")
    owner_client.post(reverse("admin:loyalty_importjob_add"), {"file": upload, "kind": "members"})
    job = ImportJob.objects.get()
    run = reverse("admin:loyalty_importjob_run", args=[job.pk])
    mapping = {f"col_{i}": key for i, key in job.mapping.items()}
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        owner_client.post(run, {"run": "dry", **mapping}, HTTP_ACCEPT_LANGUAGE="en")
    job.refresh_from_db()
    assert job.language == "en" and job.status == ImportJob.Status.PREVIEWED
    (problems,) = job.row_errors.values_list("problems", flat=True)
    assert "Unknown tier" in problems[0][1]
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(run, {"run": "dry", **mapping})  # Chinese, the default
    job.refresh_from_db()
    (problems,) = job.row_errors.filter(dry_run=True).values_list("problems", flat=True)
    assert job.language == "zh-hans" and "未知等级" in problems[0][1]


def test_the_tier_choice_of_the_command_is_kept(tmp_path, tiers):
    path = write_csv(tmp_path / "m.csv", [["手机号", "会员等级"], [phone(1), "至尊会员"]])
    assert run_import(path, "--dry-run")[1]["errors"] == 1
    _output, counts = run_import(path, "--tier", "至尊会员=钻石卡")
    assert counts["created"] == 1
    assert Card.objects.get().tier == tiers["钻石卡"]
    assert ImportTierAlias.objects.get().tier == Tier.objects.get(name="钻石卡")


def test_a_purchase_dated_by_a_zero_timestamp_is_a_row_error_not_a_failed_job(tmp_path, store):
    member = MemberFactory(phone="13900139001", store=store)
    rows = [
        ["手机号", "订单号", "金额", "消费时间"],
        [member.phone[-11:], "A-1", "10.00", "1970-01-01 08:00:00"],  # CRMEB: never paid
        [member.phone[-11:], "A-2", "20.00", "2026-01-02 10:00:00"],
    ]
    output, counts = run_import(write_csv(tmp_path / "p.csv", rows), "--purchases")
    assert counts["errors"] == 1 and counts["created"] + counts["updated"] >= 1
    assert ImportJob.objects.get().status == ImportJob.Status.DONE
    assert "is not a date" in output


def test_a_masked_or_bad_inviter_phone_imports_the_member_without_a_referrer(tmp_path, store):
    rows = [["手机号", "推荐人手机号"], [phone(1), "138****1234"], [phone(2), "12"]]
    _output, counts = run_import(write_csv(tmp_path / "m.csv", rows))
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "errors": 0}
    assert not Member.objects.filter(referred_by__isnull=False).exists()


def test_a_name_column_taken_for_the_tier_keeps_the_report_short(tmp_path, tiers):
    from loyalty.imports.matching import REPORTED_MAX

    rows = [["手机号", "会员等级"]] + [[phone(i), f"客人{i}"] for i in range(1, 120)]
    run_import(write_csv(tmp_path / "m.csv", rows), "--dry-run")
    job = ImportJob.objects.get()
    assert len(job.notes["tiers"]) == REPORTED_MAX
    page_fields = [n for n in job.notes["tiers"] if n[3] == ""]
    assert len(page_fields) <= REPORTED_MAX


def test_members_moved_to_another_store_have_every_dashboard_day_computed_again(
    tmp_path, store, other_store
):
    from campaigns.models import StatsDay

    member = MemberFactory(phone="13900139001", store=store)
    long_ago = timezone.localdate() - dt.timedelta(days=700)
    StatsDay.objects.create(day=long_ago, computed_at=timezone.now())
    rows = [["手机号", "门店"], ["13900139001", other_store.code]]
    _output, counts = run_import(write_csv(tmp_path / "m.csv", rows))
    assert counts["updated"] == 1
    member.refresh_from_db()
    assert member.store == other_store
    assert "first_day" not in ImportJob.objects.get().notes  # every day, not from today
    # Every day forgotten (computed again from the first day with data: today here).
    assert not StatsDay.objects.filter(day=long_ago).exists()
