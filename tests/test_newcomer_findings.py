"""What a newcomer tripped on (issue #24, "Newcomer findings to fix"): the dashboard
empty after the demo data and after an import, one way to write a coupon's validity and
a phone, the receipt's number and paper width, the lowest tier's badge, the invitation's
copy/share/poster, the privacy notice's version, the tier benefits said once, the store
poster's toolbar, and `make run` stopping when told to."""

import contextlib
import datetime as dt
import io
import os
import re
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.dashboard import dashboard_aggregates
from campaigns.models import DailyStats, StatsDay
from loyalty.benefits.issuing import coupon_issue
from loyalty.display import receipt_number, valid_through
from loyalty.imports.runner import import_file
from loyalty.models import ImportJob, Tier
from loyalty.purchases import purchase_record
from members.models import Member, Role
from members.phones import format_phone, mask_last4, mask_phone
from members.privacy import BUILTIN_VERSION
from members.services import member_referral_code, staff_create
from tests.centre import sign_in, text_of
from tests.conftest import PASSWORD
from tests.factories import MemberFactory, StoreFactory
from tests.loyalty.staff_screens.helpers import at, template

ROOT = Path(__file__).resolve().parent.parent


def zh(user=None) -> Client:
    client = Client(headers={"Accept-Language": "zh-hans"})
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def member(store):
    return MemberFactory(phone="13800138000", name="李雷", store=store)


@pytest.fixture
def year_end_coupon(member):
    """A coupon valid through 31 December 2026 (its valid_until: 2027-01-01 00:00)."""
    tpl = template(name="年终 9 折", valid_days=None, valid_until=dt.date(2026, 12, 31))
    coupon, _made = coupon_issue(template=tpl, member=member, now=at(2026, 12, 1, 10))
    assert coupon.valid_until == at(2027, 1, 1)
    return coupon


# --- 1. the dashboard after the demo data and after an import --------------------------


def test_seed_demo_leaves_the_dashboard_computed(owner):
    call_command("seed_demo", members=20, purchases=40, stdout=io.StringIO())
    assert StatsDay.objects.exists()
    today = DailyStats.objects.filter(all_stores=True).order_by("-day").first()
    assert today is not None and Member.objects.count() == 20
    page = text_of(zh(owner).get(reverse("dashboard:home")))
    assert "尚未计算" not in page
    english = Client(headers={"Accept-Language": "en"})
    english.force_login(owner)
    page = text_of(english.get(reverse("dashboard:home")))
    assert re.search(r"Figures last computed \d{4}-\d\d-\d\d \d\d:\d\d", page)


def test_an_import_computes_the_days_it_wrote_again(owner, store, tmp_path):
    # The dashboard was computed once (nothing on 2025-03-15) before the import.
    MemberFactory(store=store)
    dashboard_aggregates(timezone.localdate())
    assert not DailyStats.objects.filter(day=dt.date(2025, 3, 15)).exists()
    path = tmp_path / "members.csv"
    path.write_text("手机号,姓名,注册时间\n13900001111,韩梅梅,2025-03-15 10:00\n", "utf-8")
    job = import_file(path=str(path), dry_run=False, store=store, actor=owner)
    assert job.status == ImportJob.Status.DONE and job.created == 1
    row = DailyStats.objects.get(day=dt.date(2025, 3, 15), all_stores=True)
    assert row.new_members == 1
    assert StatsDay.objects.filter(day=dt.date(2025, 3, 15)).exists()


# --- 2. a coupon's validity, one way everywhere -----------------------------------------


def test_a_coupon_valid_through_31_december_says_so_everywhere(
    year_end_coupon, member, owner, clerk
):
    said = "有效期至 2026-12-31"
    with timezone.override("Asia/Shanghai"):
        from django.utils import translation

        with translation.override("zh-hans"):
            assert valid_through(year_end_coupon.valid_until) == said
    # the counter: the card's coupons, and the coupon found by its code
    extras = zh(clerk).get(reverse("staff:card_extras", args=[member.member_no]))
    assert said in text_of(extras)
    found = text_of(zh(clerk).get(reverse("staff:home"), {"q": year_end_coupon.code}))
    assert said in found and "2027-01-01" not in found
    # the admin: the coupon list and the member's panel
    admin = zh(owner)
    listing = text_of(admin.get(reverse("admin:loyalty_coupon_changelist")))
    assert said in listing and "2027年1月1日" not in listing
    panel = text_of(admin.get(reverse("admin:members_member_change", args=[member.pk])))
    assert said in panel and "2027-01-01 00:00" not in panel
    # the member centre
    centre = sign_in(zh(), member)
    assert said in text_of(centre.get(reverse("centre:coupons")))


# --- 3. phones as people write them --------------------------------------------------------


def test_phones_are_written_in_groups_and_masked_in_the_middle():
    assert format_phone("+8613801234567") == "138 0123 4567"
    assert mask_phone("+8613801234567") == "138 **** 4567"
    assert mask_last4("4567") == "*** **** 4567"
    assert format_phone("+85291234567") == "+852 9123 4567"
    assert mask_phone("+85291234567") == "+852 912* 4567"
    member = Member(phone="+8613801234567")
    assert member.masked_phone == "138 **** 4567" and member.display_phone == "138 0123 4567"


def test_staff_never_read_the_raw_e164(member, owner, clerk):
    found = text_of(zh(clerk).get(reverse("staff:home"), {"q": "13800138000"}))
    assert "138 0013 8000" in found and "+8613800138000" not in found
    edit = text_of(zh(owner).get(reverse("admin:members_member_change", args=[member.pk])))
    assert 'value="138 0013 8000"' in edit and "+8613800138000" not in edit
    clerk_card = text_of(zh(clerk).get(reverse("staff:member", args=[member.member_no])))
    assert "138 **** 8000" in clerk_card and "+86" not in clerk_card


# --- 4. the receipt: a short number, 58 or 80 mm --------------------------------------------


def test_the_receipt_has_a_short_number_and_both_paper_widths(member, clerk, store):
    now = timezone.now()
    first, _ = purchase_record(
        member=member, amount="20", external_ref="counter:q8sgKqaalfYt", store=store, now=now
    )
    second, _ = purchase_record(
        member=member, amount="30", external_ref="counter:Zz9xYy8wVv7u", store=store, now=now
    )
    day = timezone.localdate(now).strftime("%Y%m%d")
    assert receipt_number(first) == f"SH01-{day}-0001"
    assert receipt_number(second) == f"SH01-{day}-0002"
    page = zh(clerk).get(reverse("staff:receipt", args=[second.pk])).content.decode()
    assert f"SH01-{day}-0002" in page and "counter:" not in page and "Zz9xYy8wVv7u" not in page
    assert 'href="?width=58"' in page and 'href="?width=80"' in page
    assert "css/receipt.css" in page and "receipt-w80" in page
    narrow = zh(clerk).get(reverse("staff:receipt", args=[second.pk]), {"width": "58"})
    assert "receipt-w58" in narrow.content.decode()
    css = (ROOT / "static/css/receipt.css").read_text()
    assert "@page receipt-58 { size: 58mm" in css and "@page receipt-80 { size: 80mm" in css


# --- 5. the lowest tier's badge --------------------------------------------------------------


def test_the_lowest_tiers_badge_is_not_gold(member, clerk):
    assert member.card.tier.level == Tier.objects.order_by("level").first().level == 1
    card = zh(clerk).get(reverse("staff:card", args=[member.member_no])).content.decode()
    badge = re.search(r'<span class="([^"]*)"[^>]*id="member-tier"', card).group(1)
    assert "tier-level-1" in badge and "text-bg-warning" not in badge
    profile = zh(clerk).get(reverse("staff:member", args=[member.member_no])).content.decode()
    assert "tier-badge tier-level-1" in profile and "text-bg-warning align-middle" not in profile


# --- 6. /me/invite/: copy, share, poster -----------------------------------------------------


def test_the_invitation_has_copy_share_and_a_poster(member):
    member_referral_code(member)
    member.refresh_from_db()
    client = sign_in(zh(), member)
    page = client.get(reverse("centre:referral")).content.decode()
    assert 'id="invite-copy"' in page and 'id="invite-share"' in page
    assert reverse("centre:referral_poster") in page
    poster = client.get(reverse("centre:referral_poster")).content.decode()
    assert reverse("centre:referral_poster_png") in poster
    image = client.get(reverse("centre:referral_poster_png"))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
    js = (ROOT / "static/js/centre.js").read_text()
    assert "navigator.clipboard" in js and "navigator.share" in js


def test_no_poster_before_the_member_has_a_link(member):
    client = sign_in(zh(), member)
    assert client.get(reverse("centre:referral_poster")).status_code == 404
    assert client.get(reverse("centre:referral_poster_png")).status_code == 404


# --- 7. the privacy notice's version ------------------------------------------------------------


def test_the_builtin_privacy_notice_shows_a_date(member):
    page = text_of(zh().get(reverse("me:notice")))
    assert "版本 2026-11-27" in page and "builtin" not in page
    Member.objects.filter(pk=member.pk).update(
        consent_version=BUILTIN_VERSION, consent_at=timezone.now()
    )
    privacy = text_of(sign_in(zh(), member).get(reverse("me:privacy")))
    assert "版本 2026-11-27" in privacy and "builtin" not in privacy


# --- 8. /me/: the tier benefits said once -------------------------------------------------------


def test_the_tier_benefits_are_said_once(member):
    silver = Tier.objects.get(level=2)
    birthday = template(name="生日赠饮")
    Tier.objects.update(birthday_coupon=birthday)
    page = text_of(sign_in(zh(), member).get(reverse("centre:home")))
    assert page.count("生日赠饮") == 1  # the member's own benefit, not again for 银卡
    assert page.count("9.8 折") == 1 and "98 折" not in page
    assert silver.name in page


# --- 9. the store poster's toolbar --------------------------------------------------------------


def test_the_store_posters_toolbar_is_styled(owner, store):
    staff_create(username="clerk_a", password=PASSWORD, role=Role.CLERK, store=store)
    page = zh(owner).get(reverse("admin:members_store_poster", args=[store.pk])).content.decode()
    assert 'class="tools-bar"' in page and 'class="tool tool-primary" data-print' in page
    assert 'class="chip chip-on"' in page
    css = (ROOT / "static/css/poster.css").read_text()
    assert ".tools-bar {" in css and ".tool-primary {" in css and ".chip-on {" in css


# --- 10. make run stops; apt without recommends -------------------------------------------------

FAKE_PY = """#!/bin/bash
case "$2" in
  qcluster) trap '' TERM INT; echo $$ > "$FAKE_DIR/cluster.pid";
            sleep 300 & echo $! > "$FAKE_DIR/worker.pid";
            while true; do sleep 0.2; done ;;
  runserver) touch "$FAKE_DIR/ready"; exec sleep 300 ;;
  *) exit 0 ;;
esac
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # not ours (setsid), but reap if it were
    return True


@pytest.mark.parametrize("how", ["SIGTERM to make", "Ctrl-C"])
def test_make_run_stops_what_it_started(tmp_path, how):
    """A task cluster that ignores SIGTERM (as a busy qcluster seems to) is killed after
    STOP_SECONDS, with its workers; make returns at once after that."""
    fake = tmp_path / "python"
    fake.write_text(FAKE_PY)
    fake.chmod(0o755)
    stamp = tmp_path / "stamp"
    stamp.touch()  # `make install` up to date
    env = {**os.environ, "FAKE_DIR": str(tmp_path), "WECHAT_APP_ID": "test"}
    make = subprocess.Popen(
        ["make", "-s", "run", f"PY={fake}", f"STAMP={stamp}", "STOP_SECONDS=1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "ready").exists() or not (tmp_path / "worker.pid").exists():
            assert time.monotonic() < deadline and make.poll() is None
            time.sleep(0.05)
        cluster = int((tmp_path / "cluster.pid").read_text())
        worker = int((tmp_path / "worker.pid").read_text())
        started = time.monotonic()
        if how == "Ctrl-C":
            os.killpg(make.pid, signal.SIGINT)  # the terminal's foreground group
        else:
            make.send_signal(signal.SIGTERM)
        make.wait(timeout=10)
        # make may return before its shell has finished stopping (SIGTERM: make passes it
        # on and exits): everything must be gone within 5 s of the signal all the same.
        left = [cluster, worker]
        while left and time.monotonic() - started < 5:
            left = [pid for pid in left if alive(pid)]
            time.sleep(0.05)
        assert not left, f"still running after 5 s: {left}"
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)


def test_system_deps_installs_without_recommended_packages():
    recipe = subprocess.run(
        ["make", "-n", "system-deps"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    installs = re.findall(r"apt-get install[^;|)&]*", recipe)
    assert installs and all("--no-install-recommends" in line for line in installs)


# --- helpers' edge cases ---------------------------------------------------------------------


def test_valid_through_takes_a_last_day_too():
    assert valid_through(dt.date(2026, 12, 31)).endswith("2026-12-31")
    assert valid_through("2026-12-31") == valid_through(at(2027, 1, 1))  # a count card's
    assert valid_through(None) == ""


def test_a_purchase_without_a_store_still_has_a_number(member):
    bought, _ = purchase_record(member=member, amount=Decimal("5"), external_ref="api:x1")
    assert re.fullmatch(r"\d{8}-0001", receipt_number(bought))


def test_other_stores_do_not_count_in_the_number(member, store):
    other = StoreFactory(code="hz01", name="杭州店")
    purchase_record(member=member, amount="5", external_ref="o:1", store=other)
    mine, _ = purchase_record(member=member, amount="5", external_ref="m:1", store=store)
    assert receipt_number(mine).endswith("-0001")
