"""Benchmark "broadcast": a campaign to every member through the member-centre inbox,
WeChat template messages (the fake WeChat server, `manage.py fake_wechat`, in its own
process) and marketing SMS (the console backend, its log in a file).

The audience is made first, set-based: 30% of the members bound to WeChat and following
the official account, 20% consenting to marketing SMS; quiet hours are switched off
(the run may fall at night), the weekly cap is checked as shipped. The campaign has two
variants and a 10% holdout, no offer: what is measured is the messaging.

1. Baseline: the outbox's bare insert rate: as many message rows as the campaign will
   write, prebuilt, written with the outbox's own insert (config.platform.bulk, in
   batches like the sender's), then removed again.
2. Subject: `campaign_send` (in this process, as the command runs it): the audience in
   batches, each member assigned, rendered and written. Queued = its messages per
   second. Goal: >= 0.5 x the bare insert rate (time ratio <= 2).
3. Delivery: the outbox's `messages_send` until nothing is due: WeChat messages go over
   HTTP to the fake server, SMS through the console backend. Delivered per second is
   reported; the goals are that every message was delivered and none twice: the fake
   server received exactly one template message per WeChat message, each to a distinct
   openid, and the SMS log holds exactly one line per SMS message.
"""

import datetime as dt
import itertools
import json
import logging
import subprocess
import sys
import time

import requests

from bench.common import (
    HOST,
    REPO,
    BenchError,
    CpuWatch,
    Goal,
    Result,
    Timing,
    Workspace,
    django_setup,
    free_port,
    say,
    step,
    wait_until_quiet,
)

SEEDED = True  # uses the seeded demo members (bench/__main__.py)
TITLE = "campaign broadcast (inbox + WeChat + SMS): queued/s vs the outbox's bare insert"
GOAL_RATIO = 2.0  # queued at >= 0.5 x the bare insert rate
WECHAT_SHARE = 3  # in 10 members
SMS_SHARE = 2  # in 10 members
APP_ID, SECRET, TEMPLATE = "wxbench000000001", "bench-secret", "tpl-bench-campaign"
INSERT_BATCH = 3000
ATTEMPT = itertools.count(1)  # the sender's batch (1,000 members) times its channels


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    port = free_port()
    fake_log = ws.root / "fake_wechat.log"
    with fake_log.open("w") as out:
        fake = subprocess.Popen(
            [sys.executable, "manage.py", "fake_wechat", "--port", str(port)],
            cwd=REPO, env={**ws.env, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": SECRET},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(f"http://{HOST}:{port}/_fake/stats")
        django_setup(ws)
        sms_log = configure(ws, port)
        with step("Binding 30% of the members to WeChat, 20% to marketing SMS"):
            audience = prepare()
        say(f"    {audience}")
        return measure(ctx, port, sms_log)
    finally:
        fake.terminate()
        fake.wait(timeout=30)
        from django.db import connections

        connections.close_all()  # the next benchmark's server reads fresh


def once(label: str, func) -> Timing:
    wait_until_quiet()
    with CpuWatch() as watch:
        started = time.monotonic()
        func()
        took = time.monotonic() - started
    return Timing(label, round(took, 3), runs=1, background=watch.share)


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise BenchError(f"the fake WeChat server did not start ({url})")


def configure(ws: Workspace, port: int):
    """This process's settings for the run (Django may already be set up by an earlier
    benchmark, so they are set on the settings object), and the SMS log to a file."""
    from django.conf import settings

    settings.WECHAT_APP_ID, settings.WECHAT_APP_SECRET = APP_ID, SECRET
    settings.WECHAT_API_BASE = f"http://{HOST}:{port}"
    settings.WECHAT_TEMPLATES = {**settings.WECHAT_TEMPLATES, "campaign": TEMPLATE}
    settings.SMS_BACKEND = "members.sms.ConsoleBackend"
    path = ws.root / "sms.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    sms = logging.getLogger("huiyuan.sms")
    sms.handlers, sms.propagate = [handler], False
    sms.setLevel(logging.WARNING)
    return path


def prepare() -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from campaigns.marketing.models import MarketingSettings
    from campaigns.models import Message
    from members.models import Member
    from wechat.models import Follower

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    Message.objects.filter(event=Message.Event.CAMPAIGN).delete()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE members_member SET wechat_openid = NULL, marketing_consent = %s, "
            "marketing_consent_at = NULL",
            [False],
        )
        cursor.execute(
            "UPDATE members_member SET wechat_openid = 'obench' || CAST(id AS TEXT) "
            "WHERE id %% 10 < %s",
            [WECHAT_SHARE],
        )
        cursor.execute(
            "UPDATE members_member SET marketing_consent = %s, marketing_consent_at = %s "
            "WHERE id %% 10 >= %s",
            [True, now, 10 - SMS_SHARE],
        )
        cursor.execute("DELETE FROM wechat_follower")
        cursor.execute(
            "INSERT INTO wechat_follower (openid, subscribed, subscribed_at) "
            "SELECT wechat_openid, %s, %s FROM members_member WHERE wechat_openid IS NOT NULL",
            [True, now],
        )
    # No quiet hours (the run may fall at night); the weekly cap as shipped (2) is checked.
    MarketingSettings.objects.update_or_create(pk=1, defaults={"quiet_from": 0, "quiet_until": 0})
    return {
        "followers": Follower.objects.count(),
        "sms consent": Member.objects.filter(marketing_consent=True).count(),
    }


def measure(ctx, port: int, sms_log) -> Result:
    from django.db import connection

    from campaigns.marketing.models import CampaignMember
    from campaigns.marketing.sending import campaign_send
    from campaigns.marketing.spec import campaign_from_spec
    from campaigns.models import Message

    campaign = campaign_from_spec(
        {
            "name": "bench broadcast",
            "segment": None,
            "channels": ["inbox", "wechat", "sms"],
            "title": "冬季会员日",
            "message": "{name}，{tier}专享：本周到店消费双倍积分，您现有 {points} 积分。",
            "variants": [{"name": "A"}, {"name": "B", "message": "{name}，会员日见！"}],
            "holdout_percent": 10,
        }
    )
    expected = expected_messages(campaign)
    baseline = once("outbox bare insert", lambda: bare_insert(expected))
    Message.objects.filter(dedupe_key__startswith="bench-bare:").delete()
    counts = {}
    # Once: a sent campaign sends nothing again (a disturbed run is reported, not redone).
    subject = once("campaign_send", lambda: counts.update(campaign_send(campaign.pk)))
    sent = Message.objects.filter(campaign_member__campaign=campaign)
    queued = sent.count()
    by_channel = channel_counts(sent)
    if queued != expected:
        raise BenchError(f"the campaign wrote {queued} messages, {expected} were expected")
    with step("Delivering: messages_send until nothing is due"):
        started = time.monotonic()
        delivered = deliver()
        took = time.monotonic() - started
    left = sent.exclude(status=Message.Status.SENT).count()
    stats = requests.get(f"http://{HOST}:{port}/_fake/stats", timeout=30).json()
    templates = stats.get("/cgi-bin/message/template/send", {})
    sms_lines = sum(1 for line in sms_log.open(encoding="utf-8") if "marketing to" in line)
    wechat, sms = by_channel.get("wechat", 0), by_channel.get("sms", 0)
    single = (
        templates.get("requests") == wechat
        and templates.get("distinct_touser") == wechat
        and sms_lines == sms
    )
    members = CampaignMember.objects.filter(campaign=campaign).count()
    holdout = CampaignMember.objects.filter(
        campaign=campaign, outcome=CampaignMember.Outcome.HOLDOUT
    ).count()
    queued_rate = queued / subject.seconds
    insert_rate = expected / baseline.seconds
    result = Result(
        name="broadcast",
        title=f"{TITLE} ({ctx.members:,} members, {ctx.ws.db})",
        subject=subject,
        baseline=baseline,
        goals=[
            Goal(
                f"time ratio <= {GOAL_RATIO:g}",
                subject.seconds / baseline.seconds,
                subject.seconds <= GOAL_RATIO * baseline.seconds,
            ),
            Goal("messages not delivered", left, left == 0),
            Goal("sent twice or not at all (fake server, SMS log)", 0 if single else 1, single),
        ],  # fmt: skip
        notes=[
            f"{members:,} members ({holdout:,} held out); {queued:,} messages queued "
            f"({json.dumps(by_channel)}): {queued_rate:,.0f}/s; bare insert "
            f"{insert_rate:,.0f} rows/s (queued at {queued_rate / insert_rate:.2f} x it)",
            f"delivered {delivered:,} WeChat and SMS messages in {took:.1f}s: "
            f"{delivered / max(took, 1e-6):,.0f}/s; outcomes {json.dumps(counts)}",
            f"fake WeChat received {templates.get('requests', 0):,} template messages to "
            f"{templates.get('distinct_touser', 0):,} openids; SMS log {sms_lines:,} lines",
        ],
    )
    with step("Removing the campaign's messages (the later benchmarks' outbox as before)"):
        delete_in_chunks(sent)
        delete_in_chunks(CampaignMember.objects.filter(campaign=campaign))
    connection.close()
    return result


def delete_in_chunks(queryset, size: int = 5_000) -> None:
    """A million rows deleted a few thousand at a time (one DELETE of them all makes
    Django collect every id into one statement: too many SQL variables on SQLite)."""
    pks = list(queryset.values_list("pk", flat=True))
    for start in range(0, len(pks), size):
        queryset.model.objects.filter(pk__in=pks[start : start + size]).delete()


def channel_counts(messages) -> dict:
    from django.db.models import Count

    return dict(messages.values_list("channel").annotate(n=Count("pk")).order_by())


def expected_messages(campaign) -> int:
    """What the campaign will write: per member outside the holdout, the inbox, WeChat
    when bound (all bound members follow), SMS when consenting."""
    from campaigns.marketing.assign import assign
    from members.models import Member

    variants = list(campaign.variants.order_by("name"))
    total = 0
    rows = Member.objects.filter(status=Member.Status.ACTIVE).values_list(
        "pk", "wechat_openid", "marketing_consent"
    )
    for pk, openid, consent in rows.iterator(chunk_size=10_000):
        if assign(campaign, variants, pk) is not None:
            total += 1 + bool(openid) + bool(consent)
    return total


def bare_insert(count: int) -> None:
    """`count` message rows built and written as the outbox's notices_enqueue does (a
    repeated attempt writes new keys: the rows stay until the caller removes them)."""
    from django.utils import timezone

    from campaigns.models import Message
    from campaigns.outbox import MESSAGE_FIELDS
    from config.platform.bulk import insert_rows
    from members.models import Member

    now = timezone.now()
    run = next(ATTEMPT)
    ids = list(Member.objects.order_by("pk").values_list("pk", flat=True)[:count])
    channels = ("inbox", "wechat", "sms")
    for start in range(0, count, INSERT_BATCH):
        rows = [
            (ids[i % len(ids)], channels[i // len(ids) % 3], Message.Event.CAMPAIGN,
             f"bench-bare:{run}:{i}", "冬季会员日", "本周到店消费双倍积分。", {"campaign": 0},
             Message.Status.SKIPPED, 0, "", now, now, None)
            for i in range(start, min(start + INSERT_BATCH, count))
        ]  # fmt: skip
        insert_rows(Message, MESSAGE_FIELDS, rows)


def deliver() -> int:
    from django.utils import timezone

    from campaigns.outbox import messages_send

    delivered = 0
    while True:
        counts = messages_send(now=timezone.now() + dt.timedelta(seconds=1))
        delivered += counts["sent"]
        if not any(counts.values()):
            return delivered
        if counts["retry"] or counts["failed"]:
            raise BenchError(f"deliveries failed: {counts}")
