"""The SMS marketing channel (营销短信) and replies that withdraw consent (退订).

The channel sends through members.sms (the in-memory backend here, as the console in
development and Tencent Cloud in production) only to members who said yes, and only
campaign messages; every text ends with 回T退订 and fits one SMS. A reply T (TD, 退订 ...)
by `manage.py sms_inbound` or Tencent Cloud's callback withdraws the consent.
"""

import datetime as dt
import io
import json

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns.channels import CHANNELS, channels_for_notices, sms_text
from campaigns.models import Message
from campaigns.outbox import messages_send, notices_enqueue
from members import sms
from members.models import AuditEntry
from members.services import member_erase, member_marketing_set

pytestmark = pytest.mark.django_db

CALLBACK = "/sms/inbound/"
TOKEN = "s3cret-token-for-tests"
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def sent():
    sms.marketing_outbox.clear()
    yield sms.marketing_outbox
    sms.marketing_outbox.clear()


@pytest.fixture
def consenting(member):
    member_marketing_set(member=member, consent=True)
    return member


def _send(member, body="周末全场8折，会员再享双倍积分", *, event="campaign", key="c1"):
    notices_enqueue([(member.pk, key, "周末特惠", body, {})], event=event, channels=["sms"])
    return messages_send(), Message.objects.get(member=member, channel="sms")


# --- the channel --------------------------------------------------------------------------


def test_a_consenting_member_gets_the_text_with_the_unsubscribe_instruction(consenting, sent):
    counts, message = _send(consenting)

    assert counts["sent"] == 1 and message.status == Message.Status.SENT
    assert [(s.phone, s.text) for s in sent] == [
        ("+8613800138000", "周末全场8折，会员再享双倍积分 回T退订")
    ]


def test_a_member_without_marketing_consent_is_skipped(member, sent):
    counts, message = _send(member)

    assert counts["skipped"] == 1 and message.status == Message.Status.SKIPPED
    assert sent == []


def test_an_erased_member_is_skipped(consenting, sent):
    member_erase(member=consenting)
    consenting.refresh_from_db()

    assert not CHANNELS["sms"].available(consenting)
    assert _send(consenting)[1].status == Message.Status.SKIPPED and sent == []


def test_a_long_text_is_cut_to_one_sms_with_an_ellipsis(consenting, sent):
    _send(consenting, "双倍积分" * 30)

    text = sent[0].text
    assert len(text) == 70 and text.endswith("…回T退订") and text.startswith("双倍积分双倍积分")


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("满100减20。", "满100减20。回T退订"),  # after punctuation: no space
        ("满100减20，回 T 退订", "满100减20 回T退订"),  # written already: not twice
        ("第一行\n第二行", "第一行 第二行 回T退订"),  # one line
    ],
)
def test_the_instruction_is_added_once_at_the_end(body, text):
    assert sms_text(body) == text


def test_a_provider_failure_is_retried(consenting, sent, settings):
    settings.SMS_BACKEND = "members.sms.TencentCloudBackend"
    settings.SMS_TENCENT = {
        **settings.SMS_TENCENT,
        "secret_id": "a",
        "secret_key": "b",
        "sdk_app_id": "1400000001",
        "sign_name": "会员",
        "template_id": "1",
    }
    settings.SMS_MARKETING_TEMPLATE_ID = ""  # not configured: an SmsError, like a refusal

    counts, message = _send(consenting)

    assert counts["retry"] == 1 and message.status == Message.Status.PENDING
    assert "not configured" in message.last_error and sent == []


def test_notices_never_go_out_by_sms(consenting, sent, settings):
    settings.NOTICE_CHANNELS = ["inbox", "sms", "console"]

    assert channels_for_notices() == ["inbox", "console"]
    # Even a notice written to the SMS channel by mistake is not sent.
    counts, message = _send(consenting, event="welcome")
    assert counts["skipped"] == 1 and message.status == Message.Status.SKIPPED and sent == []


# --- replies: the command -----------------------------------------------------------------


def _reply(text, phone="13800138000") -> list[str]:
    out = io.StringIO()
    call_command("sms_inbound", "--phone", phone, "--text", text, stdout=out)
    return out.getvalue().strip().splitlines()


@pytest.mark.parametrize("word", ["T", "TD", "t", "td", " 退订 ", "N", "取消", "ＴＤ", "T。"])
def test_an_unsubscribe_reply_withdraws_consent(consenting, word):
    with time_machine.travel(NOW, tick=False):
        lines = _reply(word)

    assert lines == ["unsubscribed=1"]
    consenting.refresh_from_db()
    assert consenting.marketing_consent is False and consenting.marketing_consent_at == NOW
    entry = AuditEntry.objects.filter(action="member.marketing").latest("pk")
    assert entry.changes == {"marketing_consent": [True, False]}


def test_the_same_reply_twice_changes_nothing(consenting):
    assert _reply("T")[-1] == "unsubscribed=1"

    # Again, the number written another way: the same member, already unsubscribed.
    assert _reply("T", phone="+86 138 0013 8000") == ["unchanged", "unsubscribed=0"]
    assert AuditEntry.objects.filter(action="member.marketing").count() == 2  # yes, then no


def test_any_other_reply_is_ignored(consenting):
    assert _reply("好的谢谢") == ["ignored", "unsubscribed=0"]
    consenting.refresh_from_db()
    assert consenting.marketing_consent is True


def test_an_unknown_phone_unsubscribes_nobody(consenting):
    assert _reply("T", phone="13700137000") == ["unknown", "unsubscribed=0"]
    consenting.refresh_from_db()
    assert consenting.marketing_consent is True


def test_a_bad_phone_is_a_command_error(consenting):
    with pytest.raises(CommandError, match="12345"):
        _reply("T", phone="12345")


# --- replies: Tencent Cloud's callback ---------------------------------------------------


@pytest.fixture
def token(settings):
    settings.SMS_INBOUND_TOKEN = TOKEN
    return TOKEN


def _push(client, payload, token=TOKEN, **extra):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(f"{CALLBACK}?token={token}", body, content_type="application/json", **extra)


def _tencent_reply(text="TD", mobile="13800138000"):
    # The documented push (短信回复, cloud.tencent.com/document/api/382/5809).
    return {
        "extend": "",
        "mobile": mobile,
        "nationcode": "86",
        "sign": "会员测试",
        "text": text,
        "time": 1457336869,
    }


def test_the_callback_withdraws_consent_and_answers_ok(client, token, consenting):
    response = _push(client, _tencent_reply())

    assert response.status_code == 200
    assert response.json() == {"result": 0, "errmsg": "OK"}
    consenting.refresh_from_db()
    assert consenting.marketing_consent is False
    # Tencent pushing it again: the same answer, nothing more recorded.
    assert _push(client, _tencent_reply()).json() == {"result": 0, "errmsg": "OK"}
    assert AuditEntry.objects.filter(action="member.marketing").count() == 2


def test_the_callback_requires_the_token(client, token, consenting):
    assert _push(client, _tencent_reply(), token="wrong").status_code == 403
    response = client.post(CALLBACK, json.dumps(_tencent_reply()), content_type="application/json")
    assert response.status_code == 403
    consenting.refresh_from_db()
    assert consenting.marketing_consent is True


def test_without_a_configured_token_the_callback_refuses_everything(client, settings, consenting):
    settings.SMS_INBOUND_TOKEN = ""

    assert _push(client, _tencent_reply(), token="").status_code == 403


def test_the_callback_takes_only_post(client, token):
    assert client.get(f"{CALLBACK}?token={TOKEN}").status_code == 405


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        b"\xff\xfe\x00",
        "42",
        "[]",
        json.dumps({"mobile": "13800138000"}),  # no text
        json.dumps({"text": "T"}),  # no mobile
        json.dumps({**_tencent_reply(), "mobile": None}),
        json.dumps({**_tencent_reply(), "mobile": "not-a-phone"}),
    ],
)
def test_a_bad_body_is_a_400_not_a_500(client, token, consenting, body):
    response = _push(client, body)

    assert response.status_code == 400 and response.json()["result"] != 0
    consenting.refresh_from_db()
    assert consenting.marketing_consent is True


def test_an_unknown_phone_is_ok_but_changes_nothing(client, token, consenting):
    response = _push(client, _tencent_reply(mobile="13700137000"))

    assert response.json() == {"result": 0, "errmsg": "OK"}
    consenting.refresh_from_db()
    assert consenting.marketing_consent is True
    assert AuditEntry.objects.filter(action="member.marketing").count() == 1  # the yes


def test_another_reply_is_ok_and_ignored(client, token, consenting):
    assert _push(client, _tencent_reply(text="几点开门？")).json()["result"] == 0
    consenting.refresh_from_db()
    assert consenting.marketing_consent is True


def test_a_member_who_unsubscribed_gets_no_more_sms(client, token, consenting, sent):
    _push(client, _tencent_reply(text="T"))
    consenting.refresh_from_db()

    assert _send(consenting)[1].status == Message.Status.SKIPPED and sent == []


def test_in_development_the_console_backend_logs_the_text(consenting, settings, caplog):
    settings.SMS_BACKEND = "members.sms.ConsoleBackend"

    with caplog.at_level("WARNING", logger="huiyuan.sms"):
        _send(consenting)

    assert "周末全场8折，会员再享双倍积分 回T退订" in caplog.text
    assert "13800138000" not in caplog.text  # the number masked
