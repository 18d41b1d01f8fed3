"""Tencent Cloud SMS (SendSms, API 3.0) through the official SDK, against a fake server on
127.0.0.1 (over http) that checks the TC3-HMAC-SHA256 signature as Tencent Cloud does."""

import contextlib
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
    raw_answer: bytes | None = None  # sent as it is (not the API's JSON)
    delay: float = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay)
        if self.raw_answer is not None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.raw_answer)))
            self.end_headers()
            self.wfile.write(self.raw_answer)
            return
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
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)  # unless the client gave up (the timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_tencent(settings):
    FakeTencentSms.requests, FakeTencentSms.answer = [], None
    FakeTencentSms.raw_answer, FakeTencentSms.delay = None, 0
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


def test_the_request_is_made_and_signed_by_the_official_sdk(fake_tencent):
    sms.send_code(phone="+8613800138000", code="123456", minutes=5)

    headers, _ = fake_tencent.requests[0]
    assert headers["X-TC-RequestClient"].startswith("SDK_PYTHON_")
    assert headers["Authorization"].startswith(
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/"
    )  # and the fake checked the signature
    assert not hasattr(sms, "tc3_authorization")  # no hand-written signing left


def test_an_answer_that_is_not_the_apis_is_an_sms_error(fake_tencent):
    fake_tencent.raw_answer = b"<html>gateway error</html>"

    with pytest.raises(sms.SmsError):
        sms.send_code(phone="+8613800138000", code="123456", minutes=5)


def test_a_slow_provider_is_cut_off_at_the_timeout(fake_tencent, settings):
    settings.SMS_TENCENT = {**settings.SMS_TENCENT, "timeout": 0.3}
    fake_tencent.delay = 2

    started = time.monotonic()
    with pytest.raises(sms.SmsError):
        sms.send_code(phone="+8613800138000", code="123456", minutes=5)
    assert time.monotonic() - started < 1.5  # not the SDK's default of 60 s


def test_an_endpoint_that_is_not_a_url_is_a_configuration_error(fake_tencent, settings):
    settings.SMS_TENCENT = {**settings.SMS_TENCENT, "endpoint": "sms.tencentcloudapi.com"}

    with pytest.raises(ImproperlyConfigured, match="TENCENT_SMS_ENDPOINT"):
        sms.TencentCloudBackend()
    with pytest.raises(sms.SmsError, match="not configured"):
        sms.send_code(phone="+8613800138000", code="123456", minutes=5)


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
