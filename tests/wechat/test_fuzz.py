"""Whatever reaches /wechat/callback/ and /wechat/pay/notify/, signed or not, plain or safe
mode: the answer is never a 500 (issue 25).

Most bodies are signed with the test token and Pay key, so they get past the signature to
the parsers and the services behind them; the rest test the refusals on the way.
"""

import itertools
import time
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac

from loyalty.models import Purchase
from tests.factories import MemberFactory
from wechat.client import callback_signature

from .conftest import AES_KEY, APP_ID, MCH_ID, OPENID, PAY_KEY, TOKEN, signed_query

pytestmark = pytest.mark.django_db
CALLBACK, PAY = "/wechat/callback/", "/wechat/pay/notify/"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text an XML document can carry, and sometimes what it cannot (NUL, controls, "]]>").
xml_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=30)
wild_text = st.one_of(
    xml_text,
    st.lists(st.sampled_from(["\x00", "\x01", "]]>", "<", "&", "\ufeff", "\u202e", "é"]) |
             st.characters(exclude_categories=["Cs"]), max_size=12).map("".join),
)  # fmt: skip
numbers = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", "0", "-1", "1e3", "１２３", " 12 ", "NaN", str(int(time.time()))]),
)


def element_value():
    return st.one_of(
        wild_text.map(lambda v: f"<![CDATA[{v}]]>"),
        wild_text.map(escape),
        wild_text,  # raw: often no longer XML
        numbers,
        st.just("<a>1</a><a>2</a>"),  # nested elements: wechatpy hands over a dict or list
    )


CREATE_TIMES, MSG_IDS = itertools.count(1_796_000_001), itertools.count(6_054_768_590_064_713_728)
# A message WeChat could send: each field with a value that fits.
FITS = {
    "ToUserName": st.just("gh_huiyuan000001"),
    "FromUserName": st.sampled_from([OPENID, "oStranger0000000000000000001"]),
    # New ones: a CreateTime or MsgId seen before is a retry, answered "success".
    "CreateTime": st.builds(lambda: str(next(CREATE_TIMES))),
    "MsgType": st.sampled_from(["text", "event"]),
    "Content": st.sampled_from(["积分", "签到", "会员", "points", " 积分 ", "你好"]),
    "MsgId": st.builds(lambda: str(next(MSG_IDS))),
    "Event": st.sampled_from(["subscribe", "unsubscribe", "SCAN", "CLICK", "VIEW", "LOCATION"]),
    "EventKey": st.sampled_from(
        ["", "qrscene_SH01", "qrscene_", "SH01", "CHECKIN", "POINTS", "MEMBER", "scanbarcode|x"]
    ),  # fmt: skip
}
ODD_FIELDS = [*FITS, "Ticket", "Latitude", "ScanCodeInfo", "x"]


@st.composite
def messages(draw) -> str:
    """An official-account message: every field with a value that fits, then up to four
    changes: a field left out, given a value that does not fit (or markup), or added."""
    fields = [[name, f"<![CDATA[{draw(values)}]]>"] for name, values in FITS.items()]
    for _ in range(draw(st.integers(0, 4))):
        change = draw(st.sampled_from(["drop", "odd", "odd", "add"]))
        if change == "drop" and fields:
            fields.pop(draw(st.integers(0, len(fields) - 1)))
        elif change == "odd" and fields:
            fields[draw(st.integers(0, len(fields) - 1))][1] = draw(element_value())
        else:
            fields.append([draw(st.sampled_from(ODD_FIELDS)), draw(element_value())])
    root = draw(st.sampled_from(["xml", "xml", "xml", "root"]))
    return f"<{root}>{''.join(f'<{k}>{v}</{k}>' for k, v in fields)}</{root}>"


bodies = st.one_of(
    messages().map(str.encode),  # half the time
    st.one_of(
        messages().map(lambda m: m.encode("utf-16")),
        st.binary(max_size=120),
        wild_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    ),
)
query_values = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    st.sampled_from(["aes", "", "0" * 40, str(int(time.time()))]),
)
# Query parameters added or replaced (a third of the time): mostly refused on the way in.
query_extras = st.one_of(
    st.just({}),
    st.just({}),
    st.dictionaries(
        st.sampled_from(["signature", "timestamp", "nonce", "encrypt_type", "msg_signature",
                         "echostr", "openid"]),
        query_values,
        max_size=2,
    ),
)  # fmt: skip


@pytest.fixture
def follower_member(fake, store):
    member = MemberFactory(store=store)
    member.__class__.objects.filter(pk=member.pk).update(wechat_openid=OPENID)
    return member


def post(client, path: str, body: bytes, query: dict | None = None):
    url = f"{path}?{urlencode(query)}" if query else path
    return client.post(url, body, content_type="text/xml")


@FUZZ
@given(body=bodies, extras=query_extras, method=st.sampled_from(["post", "post", "get"]))
def test_plain_mode_callbacks_are_never_a_500(client, follower_member, body, extras, method):
    query = {**signed_query(), **extras}

    if method == "get":
        response = client.get(CALLBACK, query)
    else:
        response = post(client, CALLBACK, body, query)

    event(f"{response.status_code} {response.content[:7]!r}")
    assert response.status_code < 500


NONCES = itertools.count(10**9)


@st.composite
def safe_mode_requests(draw):
    """(body, query): an envelope around a drawn message encrypted with the right key, an
    envelope around a drawn Encrypt, or any body; signed right most of the time."""
    nonce = str(next(NONCES))  # a fresh URL: a reused one stops at the nonce check
    timestamp = str(int(time.time()))
    kind = draw(st.sampled_from(["encrypted", "encrypted", "encrypt", "body"]))
    if kind == "encrypted":
        crypto = PrpCrypto(WeChatCrypto(TOKEN, AES_KEY, APP_ID).key)
        crypto.get_random_string = lambda: "0123456789abcdef"  # no `random` in a strategy
        app_id = draw(st.sampled_from([APP_ID, APP_ID, "wxother"]))
        encrypt = crypto.encrypt(draw(messages() | wild_text), app_id).decode()
    elif kind == "encrypt":
        encrypt = draw(st.one_of(xml_text, st.from_regex(r"[A-Za-z0-9+/=]{0,96}", fullmatch=True)))
    else:
        encrypt = ""
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    if kind == "body":
        body = draw(bodies)
    query = {**signed_query(timestamp=int(timestamp), nonce=nonce), "encrypt_type": "aes",
             "msg_signature": callback_signature(TOKEN, timestamp, nonce, encrypt)}  # fmt: skip
    return body, {**query, **draw(query_extras)}


@FUZZ
@given(drawn=safe_mode_requests())
def test_safe_mode_callbacks_are_never_a_500(client, follower_member, settings, drawn):
    settings.WECHAT_AES_KEY = AES_KEY
    body, query = drawn

    response = post(client, CALLBACK, body, query)

    event(f"{response.status_code} {response.content[:7]!r}")
    assert response.status_code < 500


NOTICE = {
    "appid": APP_ID,
    "mch_id": MCH_ID,
    "return_code": "SUCCESS",
    "result_code": "SUCCESS",
    "openid": OPENID,
    "fee_type": "CNY",
    "total_fee": "8800",
    "transaction_id": "4200001234202611271234567890",
    "time_end": "20261127103005",
    "attach": "SH01",
    "nonce_str": "5d2b6c2a8db53831f7eda20af46e531c",
}
NOTICE_VALUES = {
    "appid": st.just(APP_ID) | xml_text,
    "mch_id": st.just(MCH_ID) | xml_text,
    "return_code": st.sampled_from(["SUCCESS", "FAIL"]) | xml_text,
    "result_code": st.sampled_from(["SUCCESS", "FAIL"]) | xml_text,
    "openid": st.sampled_from([OPENID, "", "o" * 65]) | xml_text,
    "fee_type": st.sampled_from(["CNY", "USD", ""]),
    "total_fee": numbers | st.integers(0, 10**12).map(str),
    "transaction_id": st.sampled_from(["42000001", "42000002", "4" * 64, "4" * 65]) | xml_text,
    "time_end": st.one_of(
        st.datetimes().map(lambda d: d.strftime("%Y%m%d%H%M%S")),
        st.sampled_from(["20991231235959", "19000101000000", "00000000000000", "2026"]),
        xml_text,
    ),
    "attach": st.sampled_from(
        ["", "SH01", "top_up", "top_up:SH01", "top_up:SH01:500-50", "top_up::x", "nowhere"]
    )
    | xml_text,  # fmt: skip
    "sign_type": st.sampled_from(["MD5", "HMAC-SHA256"]),
}


@st.composite
def pay_notices(draw) -> bytes:
    """The recorded notice with fields changed, left out or added, signed with the Pay
    key (MD5 or HMAC-SHA256) most of the time; or any body at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(bodies)
    data = dict(NOTICE)
    for name in draw(st.lists(st.sampled_from(sorted(NOTICE_VALUES)), max_size=3)):
        data[name] = draw(NOTICE_VALUES[name])
    if draw(st.integers(0, 4)) == 0:
        data.pop(draw(st.sampled_from(sorted(NOTICE))))
    if data.get("sign_type") == "HMAC-SHA256":
        sign = calculate_signature_hmac(data, PAY_KEY)
    else:
        sign = calculate_signature(data, PAY_KEY)
    if draw(st.integers(0, 9)) == 0:
        sign = draw(xml_text)
    fields = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in data.items())
    return f"<xml>{fields}<sign>{sign}</sign></xml>".encode("utf-8", "surrogatepass")


@FUZZ
@given(body=pay_notices())
def test_pay_notices_are_never_a_500(client, follower_member, body):
    response = post(client, PAY, body)
    event(f"{response.content[30:60]!r}")

    assert response.status_code == 200 and b"<return_code>" in response.content
    # Recorded or not, never dated where no purchase can be (issue 25: 2099, 1900).
    assert not Purchase.objects.exclude(occurred_at__year__range=(2000, 2027)).exists()
