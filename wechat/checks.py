"""`check --deploy` for WeChat: safe mode (安全模式) on, and an AES key that can work.

Registered in WechatConfig.ready() (tags security and wechat, deploy only).
"""

import base64
import binascii

from django.conf import settings
from django.core.checks import Warning

from .pay_v3 import NotConfigured, apiv3_key, public_key


def wechat_safe_mode_check(app_configs=None, **kwargs):
    """Plain mode signs the callback URL, not the body: warn when a real account uses it."""
    if not settings.WECHAT_APP_ID or getattr(settings, "WECHAT_FAKE", False):
        return []
    if not settings.WECHAT_AES_KEY:
        return [
            Warning(
                "WeChat callbacks are in plain mode (WECHAT_AES_KEY is empty): WeChat signs "
                "the URL but not the message, so a callback URL read from a log can be "
                "replayed with another message within WECHAT_CALLBACK_MAX_AGE.",
                hint="Switch the official account to safe mode (安全模式) and set "
                "WECHAT_AES_KEY to its EncodingAESKey (docs/operations.md).",
                id="wechat.W001",
            )
        ]
    if not aes_key_valid(settings.WECHAT_AES_KEY):
        return [
            Warning(
                "WECHAT_AES_KEY is not an EncodingAESKey (43 characters of base64, 32 "
                "bytes): every safe-mode callback would fail.",
                hint="Copy the EncodingAESKey from the official account's console.",
                id="wechat.W002",
            )
        ]
    return []


def aes_key_valid(key: str) -> bool:
    """WeChat's EncodingAESKey: 43 base64 characters that decode to 32 bytes."""
    if len(key) != 43:
        return False
    try:
        return len(base64.b64decode(key + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def wechat_pay_v3_check(app_configs=None, **kwargs):
    """WeChat Pay v3 configured only in part, or with keys that cannot work: every v3
    notice would be answered 503 (WeChat keeps sending them, nothing is recorded)."""
    v3 = (settings.WECHAT_PAY_V3_KEY, settings.WECHAT_PAY_V3_PUBLIC_KEY_FILE,
          settings.WECHAT_PAY_V3_PUBLIC_KEY_ID)  # fmt: skip
    if getattr(settings, "WECHAT_FAKE", False) or not any(v3):
        return []
    try:
        apiv3_key()
        public_key()
    except NotConfigured as exc:
        return [
            Warning(
                f"WeChat Pay v3 notices cannot be verified: {exc}.",
                hint="Set WECHAT_PAY_V3_KEY (the 32-character APIv3 key), "
                "WECHAT_PAY_V3_PUBLIC_KEY_FILE and WECHAT_PAY_V3_PUBLIC_KEY_ID from the "
                "WeChat Pay merchant platform (docs/wechat-pay-v3.md), or leave all three empty.",
                id="wechat.W003",
            )
        ]
    return []
