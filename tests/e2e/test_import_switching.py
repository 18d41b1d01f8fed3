"""Switching from Youzan in the admin on a shop laptop (1366x768, Chinese): the upload
is recognised as Youzan's export, each column shows its sample values and why it is
left out, the dry run lists the tier names of the file, the owner picks our tier for
the one that matched none, and the import goes in. Screenshots:
test-artifacts/import-switching-*.png."""

import pytest

from loyalty.models import Card, ImportJob, ImportTierAlias, Tier
from members.models import Member, Role
from members.services import staff_create
from tests.factories import StoreFactory
from tests.loyalty.import_files import write_csv

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pass-2026-xyz"
YOUZAN = ["客户姓名", "客户昵称", "免费等级", "付费等级", "客户手机号", "客户积分", "客户储值余额"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_the_owner_imports_a_youzan_export_and_picks_a_tier(live_server, laptop, shot, tmp_path):
    StoreFactory(code="SH01", name="静安旗舰店")
    for level, name in enumerate(["普通会员", "银卡", "金卡", "钻石卡"], start=1):
        Tier.objects.get_or_create(name=name, defaults={"level": level})
    staff_create(username="boss", password=PASSWORD, role=Role.OWNER, store=None)
    path = write_csv(
        tmp_path / "客户数据.csv",
        [
            YOUZAN,
            ["张三", "小张", "金卡会员", "", "13800138001", "200", "10.00"],
            ["李四", "", "黑钻会员", "付费VIP", "13800138002", "0", "0.00"],
            ["王五", "阿五", "普通会员", "", "138****5678", "50", ""],
        ],
    )
    base = live_server.url
    laptop.goto(f"{base}/admin/login/?next=/admin/loyalty/importjob/add/")
    laptop.get_by_label("用户名").fill("boss")
    laptop.get_by_label("密码").fill(PASSWORD)
    laptop.get_by_role("button", name="登录").click()
    laptop.wait_for_url("**/importjob/add/")
    laptop.set_input_files("input[type=file]", str(path))
    laptop.get_by_role("button", name="上传并核对列").click()
    laptop.wait_for_url("**/change/")
    body = laptop.locator("#content").inner_text()
    assert "有赞" in body  # recognised as Youzan's export
    assert "13800138001" in body and "金卡会员" in body  # samples under the columns
    assert "(not imported)" not in body and "ignored" not in body
    shot(laptop, "import-switching-columns")

    laptop.get_by_role("button", name="预检：检查每一行，不写入任何数据").click()
    laptop.get_by_text("黑钻会员").first.wait_for()
    laptop.reload()
    tier = laptop.locator("select[name=tier_0], select[name=tier_1]")
    assert tier.count() == 2  # 黑钻会员 (none of ours) and 金卡会员 (contained)
    body = laptop.locator("#content").inner_text()
    assert "打码" in body or "脱敏" in body  # the masked phone's row, said in Chinese
    shot(laptop, "import-switching-dry-run")

    labels = [laptop.locator(f"label[for=id_tier_{i}]").inner_text() for i in range(2)]
    unknown = next(i for i, text in enumerate(labels) if "黑钻会员" in text)
    laptop.select_option(f"select[name=tier_{unknown}]", label="钻石卡")
    laptop.get_by_role("button", name="预检：检查每一行，不写入任何数据").click()
    laptop.wait_for_selector("input[value^='导入']")
    laptop.get_by_role("button", name="导入", exact=False).click()
    laptop.get_by_role("heading", name="结果").wait_for()
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.DONE and job.created == 2 and job.errors == 1
    li = Member.objects.get(name="李四")
    assert Card.objects.get(pk=li.pk).tier.name == "钻石卡"
    kept = dict(ImportTierAlias.objects.values_list("value", "tier__name"))
    assert kept == {"黑钻会员": "钻石卡"}  # the owner's choice, for the next file (not the guess)
    shot(laptop, "import-switching-done")
