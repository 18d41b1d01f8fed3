"""WeChat down or slow: the fake WeChat server over HTTP answering 500, timing out, or
refusing with -1 (busy), 45009 (over quota) or 40001 (the token).

The outbox backs off and retries, saying why in words, and sends each notice once
when WeChat is back; a channel found down holds its other messages instead of each
trying (and timing out) in turn; the token is refreshed once for all processes, and
a dead cache degrades to fetching, not to waiting; the official account's callbacks
never wait on WeChat (nor on the task broker); the Message admin sums up what waits.
"""

import datetime as dt
import threading
import time
from urllib.parse import urlencode

import pytest
import requests
import xmltodict
from django.core.cache import cache
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns import outbox
from campaigns.models import Message
from campaigns.outbox import messages_send, notices_enqueue, outbox_summary
from tests.factories import MemberFactory
from tests.wechat.conftest import APP_ID, OPENID, TOKEN, fixture_xml, signed_query
from wechat import client, replies
from wechat.fake_server import carried_out
from wechat.models import Follower, QrScene

pytestmark = [pytest.mark.faults, pytest.mark.django_db]
SEND = "/cgi-bin/message/template/send"
LOCK_KEY = f"wechat:{APP_ID}:token-lock"
TIMEOUT = 0.5  # settings.WECHAT_TIMEOUT here: a slow WeChat costs little test time


# --- the fake WeChat, driven over HTTP ----------------------------------------------------


@pytest.fixture
def fake(fake, settings):
    """The shared fake WeChat (tests/fake_wechat.py), with a short timeout; a token kept
    in the process (the cache down) is forgotten afterwards."""
    settings.WECHAT_TIMEOUT = TIMEOUT
    yield fake
    client.CacheStorage().delete(f"{APP_ID}_access_token")


def control(fake, action: str, **body) -> None:
    """POST /_fake/<action> (fail, heal, expire_token, reset) as the demo would."""
    response = requests.post(f"{fake.base}/_fake/{action}", json=body, timeout=5)
    assert response.json() == {"errcode": 0, "errmsg": "ok"}


def deliveries(fake) -> list[dict]:
    """The template messages WeChat carried out, from GET /_fake/log, once every request
    has its answer (a request held by a delay answers, or is dropped, after it)."""
    deadline = time.monotonic() + 5
    while True:
        log = requests.get(f"{fake.base}/_fake/log", timeout=5).json()
        if all("answer" in r for r in log) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return [r for r in log if r["path"] == SEND and carried_out(r)]


@pytest.fixture
def follower(fake, store):
    member = MemberFactory(store=store)
    member.__class__.objects.filter(pk=member.pk).update(wechat_openid=OPENID)
    Follower.objects.create(openid=OPENID, subscribed=True)
    member.refresh_from_db()
    return member


def enqueue(member, *keys) -> list[int]:
    items = [(member.pk, key, "积分到账", "消费 88.00 元，获得 88 积分", {}) for key in keys]
    return notices_enqueue(items, event="points_earned", channels=["wechat"], return_ids=True)


# --- the outbox through each fault ----------------------------------------------------------

FAULTS = {
    "http-500": ({"status": 500}, client.REASON_SERVER_ERROR, dt.timedelta(minutes=1)),
    "timeout": ({"delay": 3 * TIMEOUT}, client.REASON_TIMEOUT, dt.timedelta(minutes=1)),
    "busy": ({"errcode": -1}, client.REASON_BUSY, dt.timedelta(minutes=1)),
    "over-quota": ({"errcode": 45009}, client.REASON_QUOTA, dt.timedelta(hours=1)),
    "token-refused": ({"errcode": 40001}, client.REASON_ACCOUNT, dt.timedelta(minutes=1)),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_a_notice_waits_out_the_fault_then_goes_out_once(follower, fake, fault):
    failure, reason, backoff = FAULTS[fault]
    control(fake, "fail", path=SEND, times=99, **failure)
    [pk] = enqueue(follower, "k1")
    now = timezone.now()

    started = time.monotonic()
    assert messages_send(now=now) == {"sent": 0, "retry": 1, "failed": 0, "skipped": 0}
    assert time.monotonic() - started < TIMEOUT + 0.4  # a timeout gives up in time

    message = Message.objects.get(pk=pk)
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.next_try_at == now + backoff  # 45009: not before an hour
    assert message.last_error == reason  # words, not a traceback
    assert messages_send(now=now + backoff / 2)["retry"] == 0  # not due: not tried
    assert not deliveries(fake)

    control(fake, "heal")
    later = message.next_try_at + dt.timedelta(seconds=1)
    assert messages_send(now=later)["sent"] == 1
    assert messages_send(now=later + dt.timedelta(hours=2)) == {
        "sent": 0, "retry": 0, "failed": 0, "skipped": 0
    }  # fmt: skip
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)
    assert len(deliveries(fake)) == 1


def test_an_expired_token_is_refreshed_and_the_notice_goes_out_in_the_same_attempt(follower, fake):
    client.user_info(OPENID)  # a token in the shared cache
    control(fake, "expire_token")  # ... which WeChat no longer takes: 40001
    [pk] = enqueue(follower, "k1")

    assert messages_send()["sent"] == 1
    assert Message.objects.get(pk=pk).attempts == 1
    assert fake.tokens_issued == 2
    assert [r["answer"]["errcode"] for r in fake.received(SEND)] == [40001, 0]
    assert len(deliveries(fake)) == 1


def test_a_channel_found_down_holds_its_other_messages_without_trying_them(
    follower, fake, monkeypatch
):
    """Five due notices, claimed two at a time, WeChat timing out: one try (one timeout),
    not five; the others wait as long, unattempted, saying why; then all go out once."""
    monkeypatch.setattr(outbox, "SEND_BATCH", 2)
    control(fake, "fail", path=SEND, delay=3 * TIMEOUT, times=99)
    pks = enqueue(follower, "k1", "k2", "k3", "k4", "k5")
    now = timezone.now()

    started = time.monotonic()
    counts = messages_send(now=now)
    assert time.monotonic() - started < TIMEOUT + 0.5
    assert counts == {"sent": 0, "retry": 5, "failed": 0, "skipped": 0}
    assert len(fake.received(SEND)) == 1
    rows = Message.objects.filter(pk__in=pks)
    assert {(m.status, m.next_try_at, m.last_error) for m in rows} == {
        ("pending", now + dt.timedelta(minutes=1), client.REASON_TIMEOUT)
    }
    assert sorted(m.attempts for m in rows) == [0, 0, 0, 0, 1]  # the outage costs one

    control(fake, "heal")
    assert messages_send(now=now + dt.timedelta(minutes=2))["sent"] == 5
    assert sorted(r["body"]["touser"] for r in deliveries(fake)) == [OPENID] * 5
    assert Message.objects.filter(pk__in=pks, status="sent").count() == 5


def test_a_long_outage_fails_the_one_probing_not_every_notice(follower, fake):
    control(fake, "fail", path=SEND, errcode=-1, times=999)
    pks = enqueue(follower, "k1", "k2", "k3")
    now = timezone.now()
    for _round in range(Message.MAX_ATTEMPTS):
        messages_send(now=now)
        now += dt.timedelta(hours=2)

    statuses = sorted(Message.objects.filter(pk__in=pks).values_list("status", flat=True))
    assert statuses == ["failed", "pending", "pending"]
    failed = Message.objects.get(pk__in=pks, status="failed")
    assert failed.next_try_at == now - dt.timedelta(hours=2)  # when it was given up


# --- the access token: once for all processes ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_workers_meeting_40001_together_refresh_the_token_once(fake):
    client.user_info(OPENID)
    control(fake, "expire_token")
    workers = 6
    barrier, errors, msgids = threading.Barrier(workers), [], []

    def work(n):
        try:
            barrier.wait(5)
            msgids.append(client.template_send(openid=f"o{n}", template_id="t", data={}))
        except Exception as exc:  # collected
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == [] and len(set(msgids)) == workers
    assert fake.tokens_issued == 2  # the first, and one refresh for all six
    assert len(deliveries(fake)) == workers


class DeadCache:
    """The cache as django-redis answers with Redis down (IGNORE_EXCEPTIONS): every read
    a miss, every write skipped (add: False)."""

    def get(self, key, default=None):
        return default

    def add(self, key, value, timeout=None):
        return False

    def set(self, key, value, timeout=None):
        pass

    def delete(self, key):
        pass


def test_a_dead_cache_neither_holds_calls_nor_fetches_a_token_per_call(fake, monkeypatch):
    monkeypatch.setattr(client, "cache", DeadCache())

    started = time.monotonic()
    for n in range(3):
        client.template_send(openid=f"o{n}", template_id="t", data={})
    assert time.monotonic() - started < TIMEOUT  # no wait for a lock nobody can hold
    assert fake.tokens_issued == 1  # this process kept the token the cache would not
    assert len(deliveries(fake)) == 3


def test_a_lock_held_by_a_stuck_fetch_is_waited_for_a_bounded_time(fake):
    cache.set(LOCK_KEY, "1", 15)  # another process took it and hangs

    started = time.monotonic()
    client.user_info(OPENID)
    waited = time.monotonic() - started
    assert 2 * TIMEOUT - 0.1 <= waited < 2 * TIMEOUT + 1  # not TOKEN_LOCK_SECONDS
    assert fake.tokens_issued == 1


# --- callbacks while WeChat is slow -----------------------------------------------------------

SCAN_XML = """<xml><ToUserName><![CDATA[gh_huiyuan000001]]></ToUserName>
<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime>
<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>
<EventKey><![CDATA[SH01-c1]]></EventKey><Ticket><![CDATA[gQH47jo]]></Ticket></xml>"""


@pytest.fixture
def web(db):
    return Client(headers={"Accept-Language": "en"})


@pytest.fixture
def queued(monkeypatch):
    """The tasks the callbacks queue (members.queue.enqueue), recorded, not run."""
    tasks = []
    monkeypatch.setattr(replies, "enqueue", lambda func, *args, **kw: tasks.append((func, args)))
    return tasks


def callback(web, xml: str):
    started = time.monotonic()
    response = web.post(f"/wechat/callback/?{urlencode(signed_query(TOKEN))}",
                        xml.encode(), content_type="text/xml")  # fmt: skip
    return response, time.monotonic() - started


def reply_text(response) -> str:
    return xmltodict.parse(response.content)["xml"]["Content"]


def test_callbacks_answer_within_a_second_while_wechat_takes_five(
    web, fake, store, queued, django_capture_on_commit_callbacks
):
    control(fake, "fail", path="*", delay=5, times=99)  # every WeChat path: 5 s
    QrScene.objects.create(scene="SH01-c1", name="静安店", store=store)
    now = int(time.time())

    with django_capture_on_commit_callbacks(execute=True):
        subscribe, took_subscribe = callback(
            web,
            fixture_xml("subscribe_qrscene.xml", openid=OPENID, create_time=now, scene="SH01-c1"),
        )
    scan, took_scan = callback(web, SCAN_XML.format(openid=OPENID, now=now + 1))
    text, took_text = callback(
        web,
        fixture_xml("text.xml", openid=OPENID, create_time=now + 2, content="积分", msg_id="70001"),
    )

    assert max(took_subscribe, took_scan, took_text) < 1
    assert [r.status_code for r in (subscribe, scan, text)] == [200, 200, 200]
    assert "/join/?store=SH01" in reply_text(subscribe)
    assert "/join/?store=SH01" in reply_text(scan)
    assert "/join/" in reply_text(text)  # not a member yet: the join link
    assert Follower.objects.get(openid=OPENID).subscribed
    # Asking WeChat about the new follower: a task, queued after the commit.
    assert queued == [("wechat.tasks.follower_refresh", (OPENID,))]
    assert fake.requests == []  # no callback asked WeChat anything


def test_a_subscribe_is_answered_with_the_task_broker_down(
    web, fake, monkeypatch, django_capture_on_commit_callbacks
):
    from django_q import tasks
    from redis.exceptions import ConnectionError as RedisDown

    def broker_down(*args, **kwargs):
        raise RedisDown("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(tasks, "async_task", broker_down)
    xml = fixture_xml("subscribe.xml", openid=OPENID, create_time=str(int(time.time())))

    with django_capture_on_commit_callbacks(execute=True):
        response, took = callback(web, xml)

    assert response.status_code == 200 and "/join/" in reply_text(response)
    assert took < 1
    assert Follower.objects.get(openid=OPENID).subscribed


# --- the admin's summary ----------------------------------------------------------------------


@pytest.fixture
def outage(store):
    """Notices in every state: three WeChat ones waiting (two timed out, one busy), an SMS
    one being sent, WeChat ones given up an hour and two days ago, and sent ones."""
    now = timezone.now()
    members = [MemberFactory(store=store) for _ in range(7)]
    notices_enqueue([(m.pk, f"n{i}", "标题", "正文", {}) for i, m in enumerate(members)],
                    event="points_earned", channels=["wechat", "sms"])  # fmt: skip

    def make(i, channel, **fields):
        Message.objects.filter(member=members[i], channel=channel).update(**fields)

    make(0, "wechat", created_at=now - dt.timedelta(hours=3), last_error=client.REASON_TIMEOUT)
    make(1, "wechat", last_error=client.REASON_TIMEOUT)
    make(2, "wechat", last_error=client.REASON_BUSY)
    make(3, "sms", status="sending", created_at=now - dt.timedelta(hours=1))
    make(4, "wechat", status="failed", next_try_at=now - dt.timedelta(hours=1))
    make(5, "wechat", status="failed", next_try_at=now - dt.timedelta(days=2))
    Message.objects.filter(member__in=members[3:], status="pending").update(
        status="sent", sent_at=now
    )
    Message.objects.filter(member__in=members[:3], channel="sms").update(status="sent")
    return now


def test_the_summary_counts_in_two_queries(outage, django_assert_num_queries):
    with django_assert_num_queries(2):
        summary = outbox_summary(Message.objects.all())

    assert [(c["channel"], c["waiting"], c["failed"]) for c in summary["channels"]] == [
        ("sms", 1, 0), ("wechat", 3, 1)
    ]  # fmt: skip
    assert (summary["waiting"], summary["failed"]) == (4, 1)
    assert outage - summary["oldest"] >= dt.timedelta(hours=3)
    assert summary["reasons"] == [(client.REASON_TIMEOUT, 2), ("", 1), (client.REASON_BUSY, 1)]


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    return client


def test_the_message_admin_says_what_waits_and_why(superuser_client, outage):
    url = reverse("admin:campaigns_message_changelist")

    response = superuser_client.get(url, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    summary = response.context["outbox_summary"]
    assert [(c["label"], c["waiting"], c["failed"]) for c in summary["channels"]] == [
        ("SMS", 1, 0), ("WeChat template message", 3, 1)
    ]  # fmt: skip
    assert summary["reasons"] == [
        ("WeChat did not answer in time.", 2), ("Not tried yet", 1),
        ("WeChat is busy (errcode -1).", 1),
    ]  # fmt: skip
    page = response.content.decode()
    block = page[page.index('id="outbox-summary"') : page.index('id="content-main"')]
    assert "Notices waiting to be sent" in block and "WeChat did not answer in time." in block
    assert "The oldest waiting notice was written 3\xa0hours ago." in block
    assert "style=" not in block  # the CSP allows no inline style

    # Chinese staff read the same figures (the words come from the catalog).
    zh = superuser_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert zh.context["outbox_summary"]["waiting"] == 4


def test_the_summary_says_when_nothing_waits(superuser_client):
    url = reverse("admin:campaigns_message_changelist")

    response = superuser_client.get(url, HTTP_ACCEPT_LANGUAGE="en")

    assert response.context["outbox_summary"]["waiting"] == 0
    assert "Nothing is waiting, and nothing was given up in the last 24 hours." in (
        response.content.decode()
    )
