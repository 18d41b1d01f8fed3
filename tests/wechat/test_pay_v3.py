"""/wechat/pay/v3/notify/: WeChat Pay API v3 notices (JSON, AES-256-GCM, SHA256withRSA).

Through the real HTTP path: the fake server's pay_v3_notice signs and encrypts a notice
with the test key pair, the test client POSTs it with its headers. The resources are
WeChat's documented shapes (fixtures/pay_v3_*.json).
"""

import base64
import json
import logging
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connections
from django.test import Client

from loyalty.ledger import ledger_problems
from loyalty.models import Card, PointsEntry, Purchase, Refund, StoredValueEntry
from tests.factories import MemberFactory
from wechat.fake_server.pay_v3 import pay_v3_notice, private_key
from wechat.pay_v3 import NONCE_MAX, notice_sign, signed_message

from .conftest import FIXTURES, OPENID

pytestmark = pytest.mark.django_db
URL = "/wechat/pay/v3/notify/"
KEY_ID = "PUB_KEY_ID_0000000000000001"
PUBLIC_KEY_FILE = Path("wechat/fake_server/pay_v3_public.pem").resolve()
TRANSACTION = json.loads((FIXTURES / "pay_v3_transaction.json").read_text(encoding="utf-8"))
REFUND = json.loads((FIXTURES / "pay_v3_refund.json").read_text(encoding="utf-8"))
TRANSACTION_ID = TRANSACTION["transaction_id"]


@pytest.fixture(autouse=True)
def v3(fake, settings):
    """The fake mode's v3 settings (whatever the environment says)."""
    settings.WECHAT_FAKE = True
    settings.WECHAT_PAY_V3_KEY = "fake-apiv3-key-0123456789abcdef0"
    settings.WECHAT_PAY_V3_PUBLIC_KEY_FILE = str(PUBLIC_KEY_FILE)
    settings.WECHAT_PAY_V3_PUBLIC_KEY_ID = KEY_ID
    return fake


@pytest.fixture
def payer(store):
    member = MemberFactory(store=store)
    member.__class__.objects.filter(pk=member.pk).update(wechat_openid=OPENID)
    return member


def transaction(**changes) -> dict:
    data = json.loads(json.dumps(TRANSACTION))
    for name, value in changes.items():
        if isinstance(value, dict):
            data[name] = {**data[name], **value}
        else:
            data[name] = value
    return data


def refund(**changes) -> dict:
    data = json.loads(json.dumps(REFUND))
    for name, value in changes.items():
        data[name] = {**data[name], **value} if isinstance(value, dict) else value
    return data


def post(client, headers: dict, body: bytes):
    return client.post(URL, body, content_type="application/json", headers=headers)


def send(client, event="TRANSACTION.SUCCESS", resource=None, **options):
    headers, body = pay_v3_notice(event, transaction() if resource is None else resource,
                                  **options)  # fmt: skip
    return post(client, headers, body)


def refused(response, status: int) -> bool:
    return response.status_code == status and response.json()["code"] == "FAIL"


def earned_entries(member) -> int:
    return PointsEntry.objects.filter(member=member, kind=PointsEntry.Kind.EARN).count()


# --- payments -----------------------------------------------------------------------------


def test_a_payment_is_recorded_and_answered_204_with_no_body(client, payer, store):
    response = send(client)

    assert response.status_code == 204 and response.content == b""
    purchase = Purchase.objects.get()
    assert purchase.member_id == payer.pk and purchase.store == store
    assert purchase.channel == Purchase.Channel.WECHAT_PAY
    assert purchase.external_ref == TRANSACTION_ID
    assert purchase.gross_amount == Decimal("88.00")  # 8800 fen
    assert purchase.occurred_at.isoformat() == "2026-11-27T02:30:05+00:00"  # 10:30:05 Beijing
    assert purchase.points_earned > 0


def test_a_payment_sent_again_is_recorded_once(client, payer):
    headers, body = pay_v3_notice("TRANSACTION.SUCCESS", transaction(), notice_id="EV-1")
    assert post(client, headers, body).status_code == 204
    balance = Card.objects.get(pk=payer.pk).points_balance

    assert post(client, headers, body).status_code == 204  # the very same request
    # WeChat's resend (new timestamp and nonce), and another notice of the same payment
    assert send(client, notice_id="EV-1").status_code == 204
    assert send(client, notice_id="EV-2").status_code == 204

    assert Purchase.objects.count() == 1
    assert earned_entries(payer) == 1
    assert Card.objects.get(pk=payer.pk).points_balance == balance
    assert not ledger_problems()


@pytest.mark.django_db(transaction=True)
def test_concurrent_copies_record_one_purchase(payer):
    # WeChat sometimes sends a notice twice at once; on PostgreSQL the notice id's claim
    # and the unique reference decide.
    headers, body = pay_v3_notice("TRANSACTION.SUCCESS", transaction())
    barrier, answers = threading.Barrier(6), []

    def copy():
        try:
            barrier.wait()
            answers.append(post(Client(), headers, body).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=copy) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert answers == [204] * 6
    assert Purchase.objects.count() == 1
    assert earned_entries(payer) == 1
    assert not ledger_problems()


@pytest.mark.parametrize(
    "changes",
    [
        {"appid": "wxsomeoneelse000"},
        {"mchid": "1900000999"},
        {"amount": {"total": 0}},
        {"amount": {"total": -100}},
        {"amount": {"total": "8800"}},
        {"amount": {"total": 88.0}},
        {"amount": {"total": True}},
        {"amount": {"currency": "USD"}},
        {"amount": "8800"},
        {"trade_state": "NOTPAY"},
        {"transaction_id": ""},
        {"appid": None, "payer": "o1", "attach": 5},
    ],
)
def test_a_payment_for_another_app_merchant_or_amount_is_refused(client, payer, changes):
    response = send(client, resource=transaction(**changes))

    assert refused(response, 400)
    assert not Purchase.objects.exists()


def test_a_refused_notice_is_not_remembered_as_handled(client, payer, settings):
    settings.WECHAT_MCH_ID = "1900000999"  # our settings were wrong: WeChat sends again
    assert refused(send(client, notice_id="EV-9"), 400)

    settings.WECHAT_MCH_ID = TRANSACTION["mchid"]
    assert send(client, notice_id="EV-9").status_code == 204
    assert Purchase.objects.count() == 1


def test_a_top_up_by_attach_credits_stored_value_once(client, payer, store):
    resource = transaction(attach=f"top_up:{store.code}")
    for _ in range(2):
        assert send(client, resource=resource).status_code == 204

    entry = StoredValueEntry.objects.get()
    assert (entry.kind, entry.tender, entry.store) == ("top_up", "wechat_pay", store)
    assert entry.principal_delta == Decimal("88.00")
    assert Card.objects.get(pk=payer.pk).stored_value == Decimal("88.00")
    assert not Purchase.objects.exists()


def test_a_payer_who_is_no_member_is_acknowledged_and_nothing_recorded(client, payer):
    response = send(client, resource=transaction(payer={"openid": "oSomeoneWhoIsNoMember0001"}))

    assert response.status_code == 204
    assert not Purchase.objects.exists() and not StoredValueEntry.objects.exists()


def test_a_rule_saying_no_is_acknowledged_and_logged(client, payer, caplog):
    assert send(client).status_code == 204
    # Another amount under the same transaction_id: ReferenceConflict, retrying won't help.
    response = send(client, resource=transaction(amount={"total": 9900}))

    assert response.status_code == 204
    assert "not recorded" in caplog.text
    assert Purchase.objects.get().gross_amount == Decimal("88.00")


def test_other_events_are_acknowledged(client, payer):
    assert send(client, event="TRANSACTION.CLOSED").status_code == 204
    assert not Purchase.objects.exists()


# --- refunds ------------------------------------------------------------------------------


def test_a_refund_claws_the_points_back_once(client, payer):
    assert send(client).status_code == 204
    purchase = Purchase.objects.get()
    assert Card.objects.get(pk=payer.pk).points_balance == purchase.points_earned

    headers, body = pay_v3_notice("REFUND.SUCCESS", refund(), notice_id="EV-R1")
    for _ in range(2):
        assert post(client, headers, body).status_code == 204
    # A resend, and another notice of the same refund
    assert send(client, "REFUND.SUCCESS", refund(), notice_id="EV-R1").status_code == 204
    assert send(client, "REFUND.SUCCESS", refund(), notice_id="EV-R2").status_code == 204

    done = Refund.objects.get()
    assert done.idempotency_key == REFUND["refund_id"]
    assert done.amount == Decimal("88.00")
    assert done.points_clawed_back == purchase.points_earned
    assert REFUND["refund_id"] in done.reason
    purchase.refresh_from_db()
    assert purchase.status == Purchase.Status.REFUNDED
    assert Card.objects.get(pk=payer.pk).points_balance == 0
    assert not ledger_problems()


def test_partial_refunds_claw_back_their_share(client, payer):
    send(client, resource=transaction(amount={"total": 10000, "payer_total": 10000}))
    purchase = Purchase.objects.get()
    part = refund(refund_id="503000000000000000000000000001",
                  amount={"total": 10000, "refund": 3000})  # fmt: skip

    assert send(client, "REFUND.SUCCESS", part).status_code == 204
    assert send(client, "REFUND.SUCCESS", part).status_code == 204  # the same refund again

    purchase.refresh_from_db()
    assert purchase.status == Purchase.Status.PARTIALLY_REFUNDED
    assert purchase.refunded_amount == Decimal("30.00")
    first = Refund.objects.get()
    assert first.points_clawed_back == round(purchase.points_earned * Decimal("0.3"))

    rest = refund(refund_id="503000000000000000000000000002",
                  amount={"total": 10000, "refund": 7000})  # fmt: skip
    assert send(client, "REFUND.SUCCESS", rest).status_code == 204
    purchase.refresh_from_db()
    assert purchase.status == Purchase.Status.REFUNDED
    assert purchase.refunded_amount == Decimal("100.00")
    assert Card.objects.get(pk=payer.pk).points_balance == 0
    assert not ledger_problems()


@pytest.mark.parametrize(
    "changes",
    [
        {"mchid": "1900000999"},
        {"refund_status": "PROCESSING"},
        {"amount": {"refund": 0}},
        {"amount": {"refund": 9000}},  # more than the total
        {"amount": {"total": 9900, "refund": 9900}},  # not this payment's amount
        {"refund_id": ""},
    ],
)
def test_a_refund_for_another_merchant_or_amount_is_refused(client, payer, changes):
    send(client)

    assert refused(send(client, "REFUND.SUCCESS", refund(**changes)), 400)
    assert not Refund.objects.exists()


@pytest.mark.parametrize("event", ["REFUND.ABNORMAL", "REFUND.CLOSED"])
def test_a_failed_refund_is_acknowledged_and_nothing_recorded(client, payer, event):
    send(client)
    resource = refund(refund_status=event.split(".")[1])

    assert send(client, event, resource).status_code == 204
    assert not Refund.objects.exists()


def test_a_refund_of_an_unknown_payment_is_acknowledged(client, payer):
    assert send(client, "REFUND.SUCCESS", refund()).status_code == 204
    assert not Refund.objects.exists()


def test_a_refunded_top_up_is_an_error_in_the_log_for_staff(client, payer, caplog):
    send(client, resource=transaction(attach="top_up"))

    assert send(client, "REFUND.SUCCESS", refund()).status_code == 204
    assert any(r.levelno == logging.ERROR and "by hand" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    assert Card.objects.get(pk=payer.pk).stored_value == Decimal("88.00")


# --- the signature, the timestamp, replays ------------------------------------------------


def test_a_notice_signed_with_another_key_is_401(client, payer):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert refused(send(client, key=forger), 401)
    assert not Purchase.objects.exists()


def test_a_signature_of_another_body_is_401(client, payer):
    headers, _body = pay_v3_notice("TRANSACTION.SUCCESS", transaction(amount={"total": 1}))
    _headers, body = pay_v3_notice("TRANSACTION.SUCCESS", transaction())

    assert refused(post(client, headers, body), 401)
    assert not Purchase.objects.exists()


def test_a_body_changed_after_signing_is_401(client, payer):
    headers, body = pay_v3_notice("TRANSACTION.SUCCESS", transaction())
    envelope = json.loads(body)
    envelope["id"] = "EV-other"

    assert refused(post(client, headers, json.dumps(envelope).encode()), 401)


def test_wechat_pays_sign_test_is_401(client, payer):
    headers, body = pay_v3_notice("TRANSACTION.SUCCESS", transaction())
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]

    assert refused(post(client, headers, body), 401)


def test_another_key_id_is_401(client, payer):
    assert refused(send(client, serial="PUB_KEY_ID_0000000000000002"), 401)
    # a platform certificate's serial: nothing is fetched from WeChat, it is refused
    assert refused(send(client, serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1"), 401)


@pytest.mark.parametrize("offset", [-360, 360])
def test_a_timestamp_six_minutes_off_is_401(client, payer, offset):
    assert refused(send(client, timestamp=int(time.time()) + offset), 401)
    assert not Purchase.objects.exists()


def test_a_timestamp_within_five_minutes_is_accepted(client, payer):
    assert send(client, timestamp=int(time.time()) - 240).status_code == 204


@pytest.mark.parametrize(
    "header, value",
    [
        ("Wechatpay-Signature", ""),
        ("Wechatpay-Signature", "not base64!"),
        ("Wechatpay-Timestamp", ""),
        ("Wechatpay-Timestamp", "１７６５００００００"),  # full-width digits
        ("Wechatpay-Timestamp", "1e9"),
        ("Wechatpay-Nonce", ""),
        ("Wechatpay-Nonce", "x" * (NONCE_MAX + 1)),
        ("Wechatpay-Serial", ""),
        ("Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3"),
    ],
)
def test_a_missing_or_malformed_header_is_401(client, payer, header, value):
    headers, body = pay_v3_notice("TRANSACTION.SUCCESS", transaction())
    headers[header] = value

    assert refused(post(client, headers, body), 401)


def test_no_headers_at_all_is_401(client, payer):
    _headers, body = pay_v3_notice("TRANSACTION.SUCCESS", transaction())
    assert refused(client.post(URL, body, content_type="application/json"), 401)


def test_a_nonce_used_again_with_another_body_is_401(client, payer):
    nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
    assert send(client, nonce=nonce, resource=transaction(attach="")).status_code == 204

    response = send(client, nonce=nonce, resource=transaction(transaction_id="4200009"))

    assert refused(response, 401)
    assert Purchase.objects.count() == 1


def signed(body: bytes, **headers) -> dict:
    timestamp, nonce = str(int(time.time())), headers.pop("nonce", "n" + str(time.time_ns()))
    signature = notice_sign(signed_message(timestamp, nonce, body), private_key())
    return {"Wechatpay-Serial": KEY_ID, "Wechatpay-Signature": signature,
            "Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce}  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"id": 1}',
        b'{"id": "EV-1", "event_type": "TRANSACTION.SUCCESS"}',
        b'{"id": "EV-1", "event_type": "TRANSACTION.SUCCESS", "resource_type": "plain"}',
        b'{"id": "EV-1", "event_type": "TRANSACTION.SUCCESS", "resource_type": '
        b'"encrypt-resource", "resource": "x"}',
        b"[" * 100_000,
    ],
)
def test_signed_garbage_is_400_not_500(client, payer, body):
    assert refused(post(client, signed(body), body), 400)


def test_unsigned_garbage_is_401(client, payer):
    assert refused(client.post(URL, b"not json", content_type="application/json"), 401)


def tampered(body: bytes, change) -> bytes:
    envelope = json.loads(body)
    change(envelope["resource"])
    return json.dumps(envelope).encode()


def flip_a_bit(resource):
    raw = bytearray(base64.b64decode(resource["ciphertext"]))
    raw[0] ^= 1
    resource["ciphertext"] = base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    "change",
    [
        flip_a_bit,
        lambda r: r.update(associated_data="refund"),
        lambda r: r.update(nonce="000000000000"),
        lambda r: r.update(nonce=""),
        lambda r: r.update(ciphertext="%%%"),
        lambda r: r.update(algorithm="AEAD_SM4_GCM"),
    ],
)
def test_a_resource_that_fails_its_gcm_tag_is_400(client, payer, change):
    # Signed after the change (as if by WeChat's key): only the decryption can fail.
    _headers, body = pay_v3_notice("TRANSACTION.SUCCESS", transaction())
    body = tampered(body, change)

    assert refused(post(client, signed(body), body), 400)
    assert not Purchase.objects.exists()


def test_a_notice_under_another_apiv3_key_is_400(client, payer, settings):
    headers, body = pay_v3_notice("TRANSACTION.SUCCESS", transaction())
    settings.WECHAT_PAY_V3_KEY = "another-apiv3-key-0123456789abcd"

    assert refused(post(client, headers, body), 400)


def test_get_is_405(client):
    assert client.get(URL).status_code == 405


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("WECHAT_PAY_V3_KEY", ""),
        ("WECHAT_PAY_V3_KEY", "short"),
        ("WECHAT_PAY_V3_PUBLIC_KEY_FILE", ""),
        ("WECHAT_PAY_V3_PUBLIC_KEY_FILE", "/nonexistent/pay_v3.pem"),
        ("WECHAT_PAY_V3_PUBLIC_KEY_FILE", __file__),  # no PEM
        ("WECHAT_FAKE", False),  # the test key with a real merchant: forgeable by anyone
    ],
)
def test_a_missing_or_unusable_key_is_503_and_logged(client, payer, settings, caplog,
                                                     name, value):  # fmt: skip
    headers, body = pay_v3_notice("TRANSACTION.SUCCESS", transaction())
    setattr(settings, name, value)

    assert refused(post(client, headers, body), 503)
    assert "not handled" in caplog.text
    assert not Purchase.objects.exists()


def test_a_platform_certificate_works_as_the_public_key(client, payer, settings, tmp_path):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (test)")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(0x5157F09E)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path = tmp_path / "platform.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    settings.WECHAT_PAY_V3_PUBLIC_KEY_FILE = str(path)

    assert send(client).status_code == 204


# --- the fake server POSTs a notice to the running site ---------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_fake_servers_control_route_posts_a_notice_that_is_recorded(
    live_server, v3, settings, store
):
    member = MemberFactory(store=store)
    member.__class__.objects.filter(pk=member.pk).update(wechat_openid=OPENID)

    answer = requests.post(
        f"{settings.WECHAT_API_BASE}/_fake_pay/v3/notify",
        json={"url": f"{live_server.url}{URL}", "event_type": "TRANSACTION.SUCCESS",
              "resource": {"payer": {"openid": OPENID}, "amount": {"total": 1234}}},
        timeout=30,
    ).json()  # fmt: skip

    assert answer["errcode"] == 0 and answer["status"] == 204
    purchase = Purchase.objects.get()
    assert purchase.member_id == member.pk
    assert purchase.gross_amount == Decimal("12.34")
    assert purchase.external_ref == answer["resource"]["transaction_id"]
    assert v3.data["pay_v3_sent"][0]["status"] == 204

    # ... and its refund
    answer = requests.post(
        f"{settings.WECHAT_API_BASE}/_fake_pay/v3/notify",
        json={"url": f"{live_server.url}{URL}", "event_type": "REFUND.SUCCESS",
              "resource": {"transaction_id": purchase.external_ref,
                           "amount": {"total": 1234, "refund": 1234}}},
        timeout=30,
    ).json()  # fmt: skip
    assert answer["status"] == 204
    purchase.refresh_from_db()
    assert purchase.status == Purchase.Status.REFUNDED


def test_the_control_route_needs_a_url(v3, settings):
    answer = requests.post(f"{settings.WECHAT_API_BASE}/_fake_pay/v3/notify", json={},
                           timeout=10)  # fmt: skip
    assert answer.status_code == 400
