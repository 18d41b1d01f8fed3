"""Tencent Cloud SMS (SendSms, API 3.0, TC3-HMAC-SHA256) against a fake server on 127.0.0.1."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured

from members import sms
from members.models import OneTimeCode
from members.otp import otp_send
from tests.centre import text_of

SECRET_ID, SECRET_KEY = "AKIDexampleSecretId0001", "exampleSecretKey0001"


def test_the_signature_matches_the_official_sdk():
    # Reference: tencentcloud-sdk-python-common 3.1.195, AbstractClient._build_req_inter for
    # SendSms with these credentials, this body and time.time() == 1764237600.
    body = (
        '{"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400000001", '
        '"SignName": "\\u4f1a\\u5458\\u6d4b\\u8bd5", "TemplateId": "100001", '
        '"TemplateParamSet": ["123456", "5"]}'
    )
    authorization = sms.tc3_authorization(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service="sms",
        host="sms.tencentcloudapi.com",
        payload=body.encode(),
        timestamp=1764237600,
        content_type="application/json",
    )

    assert authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDexampleSecretId0001/2025-11-27/sms/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=50c1fc82bfa2bcaf0ec0430d8970985774d461b84a2227c3d42f757970eacee9"
    )


def _expected_signature(headers, body: bytes) -> str:
    """The server's side of TC3-HMAC-SHA256, written out again from the documentation."""
    timestamp = int(headers["X-TC-Timestamp"])
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    canonical = (
        f"POST\n/\n\ncontent-type:{headers['Content-Type']}\nhost:{headers['Host']}\n\n"
        f"content-type;host\n{hashlib.sha256(body).hexdigest()}"
    )
    to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n"
        f"{hashlib.sha256(canonical.encode()).hexdigest()}"
    )

    def step(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = step(step(step(("TC3" + SECRET_KEY).encode(), date), "sms"), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class FakeTencentSms(BaseHTTPRequestHandler):
    requests: list = []
    answer: dict | None = None

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        payload = json.loads(body)
        self.requests.append((dict(self.headers), payload))
        signature = self.headers.get("Authorization", "").rsplit("Signature=", 1)[-1]
        if not hmac.compare_digest(signature, _expected_signature(self.headers, body)):
            answer = {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"}}
        elif self.headers.get("X-TC-Action") != "SendSms":
            answer = {"Error": {"Code": "InvalidAction", "Message": "?"}}
        else:
            answer = self.answer or {
                "SendStatusSet": [
                    {
                        "SerialNo": "2433:1",
                        "PhoneNumber": payload["PhoneNumberSet"][0],
                        "Fee": 1,
                        "Code": "Ok",
                        "Message": "send success",
                    }
                ]
            }
        data = json.dumps({"Response": {**answer, "RequestId": "req-1"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_tencent(settings):
    FakeTencentSms.requests, FakeTencentSms.answer = [], None
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTencentSms)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SMS_BACKEND = "members.sms.TencentCloudBackend"
    settings.SMS_TENCENT = {
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "sdk_app_id": "1400000001",
        "sign_name": "会员测试",
        "template_id": "100001",
        "template_params": ["code", "minutes"],
        "region": "ap-shanghai",
        "endpoint": f"http://127.0.0.1:{server.server_address[1]}",
        "timeout": 2,
    }
    yield FakeTencentSms
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_it_sends_the_code_with_a_signature_the_server_accepts(fake_tencent):
    sent = otp_send(phone="138 0013 8000")

    headers, payload = fake_tencent.requests[0]
    assert payload["PhoneNumberSet"] == ["+8613800138000"]
    assert (payload["SmsSdkAppId"], payload["SignName"], payload["TemplateId"]) == (
        "1400000001",
        "会员测试",
        "100001",
    )
    code, minutes = payload["TemplateParamSet"]
    assert len(code) == 6 and minutes == "5"
    assert (headers["X-TC-Version"], headers["X-TC-Region"]) == ("2021-01-11", "ap-shanghai")
    assert sent["code"] is None  # a real provider's code never reaches the page


def test_a_marketing_text_goes_with_the_marketing_template_and_signature(fake_tencent, settings):
    settings.SMS_MARKETING_TEMPLATE_ID = "200002"
    settings.SMS_MARKETING_SIGN_NAME = "会员商城"

    sms.send_marketing(phone="+8613800138000", text="周末全场8折 回T退订")

    headers, payload = fake_tencent.requests[0]
    assert payload["PhoneNumberSet"] == ["+8613800138000"]
    assert (payload["SignName"], payload["TemplateId"]) == ("会员商城", "200002")
    assert payload["TemplateParamSet"] == ["周末全场8折 回T退订"]
    assert headers["X-TC-Action"] == "SendSms"  # signed as a code is: the server accepted it


def test_marketing_needs_its_own_template_but_may_share_the_signature(fake_tencent, settings):
    settings.SMS_MARKETING_TEMPLATE_ID = ""
    with pytest.raises(sms.SmsError, match="not configured"):
        sms.send_marketing(phone="+8613800138000", text="x 回T退订")
    assert fake_tencent.requests == []

    settings.SMS_MARKETING_TEMPLATE_ID = "200002"
    settings.SMS_MARKETING_SIGN_NAME = ""
    sms.send_marketing(phone="+8613800138000", text="x 回T退订")
    assert fake_tencent.requests[0][1]["SignName"] == "会员测试"  # the code's


@pytest.mark.django_db
def test_a_refusal_of_the_provider_is_an_sms_error_and_the_code_is_void(fake_tencent):
    fake_tencent.answer = {
        "SendStatusSet": [{"Code": "LimitExceeded.PhoneNumberDailyLimit", "Message": "limit"}]
    }

    with pytest.raises(sms.SmsError, match="PhoneNumberDailyLimit"):
        otp_send(phone="13800138000")
    assert OneTimeCode.objects.get().failed


@pytest.mark.django_db
def test_a_bad_secret_is_refused_by_the_server(fake_tencent, settings):
    settings.SMS_TENCENT = {**settings.SMS_TENCENT, "secret_key": "wrong"}

    with pytest.raises(sms.SmsError, match="AuthFailure.SignatureFailure"):
        otp_send(phone="13800138000")


@pytest.mark.django_db
def test_an_unreachable_provider_is_an_sms_error(settings):
    settings.SMS_BACKEND = "members.sms.TencentCloudBackend"
    settings.SMS_TENCENT = {
        "secret_id": "a",
        "secret_key": "b",
        "sdk_app_id": "c",
        "sign_name": "d",
        "template_id": "e",
        "endpoint": "http://127.0.0.1:9",
        "timeout": 1,
    }

    with pytest.raises(sms.SmsError):
        otp_send(phone="13800138000")


@pytest.mark.django_db
def test_the_join_page_says_try_again_when_the_provider_fails(fake_tencent, web):
    fake_tencent.answer = {"Error": {"Code": "InternalError", "Message": "down"}}

    response = web.post("/join/", {"action": "send", "phone": "13800138000"})

    assert response.status_code == 200
    assert "could not be sent" in text_of(response)


def test_missing_configuration_names_the_env_vars(settings):
    settings.SMS_TENCENT = {"secret_id": "x"}

    with pytest.raises(ImproperlyConfigured, match="TENCENT_SMS_SECRET_KEY"):
        sms.TencentCloudBackend()


@pytest.mark.django_db
def test_a_backend_missing_settings_is_a_try_again_not_a_500(settings, web):
    """Half-configured in production (check --deploy warns too): the customer is asked to
    try again, the code is void, the operator reads the reason in the log."""
    settings.SMS_BACKEND = "members.sms.TencentCloudBackend"
    settings.SMS_TENCENT = {"secret_id": "x"}

    response = web.post("/join/", {"action": "send", "phone": "13800138000"})

    assert response.status_code == 200
    assert "could not be sent" in text_of(response)
    assert OneTimeCode.objects.get().failed
