"""WeChat Pay API v3 notices: the signature, its timestamp and the encrypted resource.

No network and no database here: the view (pay_v3_views) opens a notice with
`notice_open`, the services (pay_v3_services) record it. A notice is JSON whose
`resource` is encrypted with AES-256-GCM under the merchant's APIv3 key; the request is
signed by WeChat Pay (SHA256withRSA, PKCS#1 v1.5) over "{timestamp}\\n{nonce}\\n{body}\\n",
in the headers Wechatpay-Signature, -Timestamp, -Nonce and -Serial (the id of the key
that signed: it must be WECHAT_PAY_V3_PUBLIC_KEY_ID).

Why `cryptography` and not the `wechatpayv3` SDK (evaluated at 2.0.4, maintained): it can
be built offline with a public key and its id, but its notice path (`callback`) fetches
platform certificates from WeChat (/v3/certificates) whenever Wechatpay-Serial names
another key -- a header anyone can set --, checks no timestamp, answers None alike for a
forged signature and for a resource that fails its GCM tag (one is a 401, the other a
400 here), and raises bare Exceptions on odd headers. Everything it would check had to be
checked again around it; what was left were its two primitives, each a call of
`cryptography` (already a dependency), which this module makes directly.

The other side (signing, encrypting) is here too, for the fake server and the tests.
"""

import base64
import binascii
import datetime as dt
import functools
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cryptography.x509 import load_pem_x509_certificate
from django.conf import settings

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
# WeChat Pay sends probe notices signed "WECHATPAY/SIGNTEST/..." to check that merchants
# verify: they must fail.
SIGN_TEST_PREFIX = "WECHATPAY/SIGNTEST/"
MAX_SKEW = 300  # seconds a notice's timestamp may be off our clock, either way
ALGORITHM = "AEAD_AES_256_GCM"
ENCRYPTED = "encrypt-resource"
NONCE_MAX = 64
ID_MAX = 64
# The fake server's public key (test only): refused outside fake mode.
TEST_PUBLIC_KEY_FILE = Path(__file__).resolve().parent / "fake_server" / "pay_v3_public.pem"


class NoticeRefused(Exception):
    """A notice answered with a 4xx and {"code": "FAIL", "message": reason}."""

    status = 400

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class BadSignature(NoticeRefused):
    """Not signed by WeChat Pay's key, stale or early, or signed for another body: 401."""

    status = 401


class NotConfigured(Exception):
    """The APIv3 key or WeChat Pay's public key is missing or unusable (ours to fix)."""


@dataclass(frozen=True)
class Notice:
    """A verified notice: its id and event, and its resource decrypted."""

    id: str
    event_type: str
    original_type: str
    resource: dict
    nonce: str  # the Wechatpay-Nonce header: one notice, one nonce


# --- keys -------------------------------------------------------------------------------


def apiv3_key() -> bytes:
    """WECHAT_PAY_V3_KEY as AES-256's key (32 bytes), or NotConfigured."""
    key = (settings.WECHAT_PAY_V3_KEY or "").encode()
    if len(key) != 32:
        raise NotConfigured("WECHAT_PAY_V3_KEY must be the 32-character APIv3 key")
    return key


def public_key() -> rsa.RSAPublicKey:
    """WeChat Pay's public key from WECHAT_PAY_V3_PUBLIC_KEY_FILE, or NotConfigured.

    The file holds the "WeChat Pay public key" (a PEM public key) or a platform
    certificate; it is read again when it changes (a key rotated without a restart).
    """
    path = settings.WECHAT_PAY_V3_PUBLIC_KEY_FILE
    if not path or not settings.WECHAT_PAY_V3_PUBLIC_KEY_ID:
        raise NotConfigured("WECHAT_PAY_V3_PUBLIC_KEY_FILE and _ID must be set")
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise NotConfigured(f"cannot read {path}: {exc.strerror}") from None
    key = _key_from_file(str(path), mtime)
    if not getattr(settings, "WECHAT_FAKE", False) and key == _test_key():
        raise NotConfigured("the fake server's test key is configured outside fake mode")
    return key


def _test_key() -> rsa.RSAPublicKey | None:
    try:
        return _key_from_file(str(TEST_PUBLIC_KEY_FILE), TEST_PUBLIC_KEY_FILE.stat().st_mtime_ns)
    except (OSError, NotConfigured):  # not deployed with the code: nothing to compare
        return None


@functools.lru_cache(maxsize=8)
def _key_from_file(path: str, mtime: int) -> rsa.RSAPublicKey:
    try:
        pem = Path(path).read_bytes()
        if b"-----BEGIN CERTIFICATE-----" in pem:
            key = load_pem_x509_certificate(pem).public_key()
        else:
            key = load_pem_public_key(pem)
    except (OSError, ValueError) as exc:
        raise NotConfigured(f"{path} holds no PEM public key or certificate") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise NotConfigured(f"{path} holds no RSA key")
    return key


# --- opening a notice ---------------------------------------------------------------------


def signed_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """What WeChat Pay signs: the timestamp, the nonce and the body, each on its line."""
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def fresh(timestamp: str, now: float | None = None) -> bool:
    """Whether the header is whole seconds within MAX_SKEW of `now` (either way)."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    now = time.time() if now is None else now
    return abs(now - int(timestamp)) <= MAX_SKEW


def verify(headers, body: bytes, *, now: float | None = None) -> str:
    """Check a notice's signature headers against its raw body; returns its nonce.

    BadSignature for another key's id, WeChat's sign test, a stale or early timestamp,
    a malformed header or a signature that does not verify; NotConfigured for ours.
    """
    serial = headers.get("Wechatpay-Serial") or ""
    signature = headers.get("Wechatpay-Signature") or ""
    timestamp = headers.get("Wechatpay-Timestamp") or ""
    nonce = headers.get("Wechatpay-Nonce") or ""
    kind = headers.get("Wechatpay-Signature-Type") or SIGNATURE_TYPE
    key_id = settings.WECHAT_PAY_V3_PUBLIC_KEY_ID or ""
    if not key_id or not hmac.compare_digest(serial.encode(), key_id.encode()):
        raise BadSignature("unknown Wechatpay-Serial")
    if kind != SIGNATURE_TYPE:
        raise BadSignature("unsupported Wechatpay-Signature-Type")
    if signature.startswith(SIGN_TEST_PREFIX):
        raise BadSignature("sign test signature")
    if not fresh(timestamp, now):
        raise BadSignature("timestamp missing or more than 5 minutes off")
    if not (nonce.isascii() and nonce.isprintable() and 0 < len(nonce) <= NONCE_MAX):
        raise BadSignature("bad Wechatpay-Nonce")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("signature is not base64") from None
    try:
        public_key().verify(
            raw, signed_message(timestamp, nonce, body), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise BadSignature("signature does not verify") from None
    return nonce


def _json(data: bytes | str, what: str):
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, nested too deep
        raise NoticeRefused(f"{what} is not JSON") from None


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def decrypt(resource, key: bytes) -> dict:
    """The resource's plaintext (a JSON object), or NoticeRefused when it cannot be."""
    if not isinstance(resource, dict) or _text(resource, "algorithm") != ALGORITHM:
        raise NoticeRefused("resource is not AEAD_AES_256_GCM")
    nonce, associated = _text(resource, "nonce"), _text(resource, "associated_data")
    try:
        ciphertext = base64.b64decode(_text(resource, "ciphertext"), validate=True)
        plain = AESGCM(key).decrypt(nonce.encode(), ciphertext, associated.encode())
    except (binascii.Error, ValueError, InvalidTag):  # GCM's tag failed, empty nonce, ...
        raise NoticeRefused("resource cannot be decrypted") from None
    data = _json(plain, "resource")
    if not isinstance(data, dict):
        raise NoticeRefused("resource is not an object")
    return data


def notice_open(headers, body: bytes, *, now: float | None = None) -> Notice:
    """Verify a notice (headers and raw body), then parse it and decrypt its resource."""
    nonce = verify(headers, body, now=now)
    envelope = _json(body, "notice")
    if not isinstance(envelope, dict):
        raise NoticeRefused("notice is not an object")
    notice_id, event_type = _text(envelope, "id"), _text(envelope, "event_type")
    if not (0 < len(notice_id) <= ID_MAX) or not event_type:
        raise NoticeRefused("notice has no id or event_type")
    if _text(envelope, "resource_type") != ENCRYPTED:
        raise NoticeRefused("resource_type is not encrypt-resource")
    resource = envelope.get("resource")
    plain = decrypt(resource, apiv3_key())
    return Notice(
        id=notice_id,
        event_type=event_type,
        original_type=_text(resource, "original_type"),
        resource=plain,
        nonce=nonce,
    )


def beijing_time_end(success_time: str) -> str:
    """An RFC 3339 time ("2026-11-27T10:30:05+08:00") as v2's time_end
    ("20261127103005", Beijing time), or "" when it is none."""
    try:
        moment = dt.datetime.fromisoformat(success_time)
    except (TypeError, ValueError):
        return ""
    if moment.tzinfo is None:
        return ""
    return moment.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y%m%d%H%M%S")


# --- the other side: signing and encrypting as WeChat Pay does (fake server, tests) ------


def notice_sign(message: bytes, private_key: rsa.RSAPrivateKey) -> str:
    """SHA256withRSA over `message` (signed_message), base64, as Wechatpay-Signature."""
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def resource_encrypt(
    plain: dict, key: bytes, *, original_type: str, associated_data: str, nonce: str
) -> dict:
    """`plain` as a notice's encrypted resource (nonce: 12 characters, as WeChat's)."""
    data = json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode()
    ciphertext = AESGCM(key).encrypt(nonce.encode(), data, associated_data.encode())
    return {
        "original_type": original_type,
        "algorithm": ALGORITHM,
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }
