"""The mini-program's state (app label wechat: imported by wechat/models.py).

A mini-program user is a WeChat user of the mini-program (its own openid, not the official
account's), bound to a member once they registered or WeChat's unionid named one. Each
login gives them a session token; only its SHA-256 is stored.
"""

import hashlib

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.crypto import EncryptedTextField

__all__ = ["MiniProgramToken", "MiniProgramUser"]


class MiniProgramUser(models.Model):
    """Who logged in to the mini-program (code2Session's openid), and their member."""

    openid = models.CharField(_("mini-program openid"), max_length=64, unique=True)
    # Looked up by the admin's search (=unionid).
    unionid = models.CharField(_("WeChat unionid"), max_length=64, blank=True, db_index=True)
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="mp_users",
        verbose_name=_("member"),
    )
    # WeChat's key for this user's encrypted data (wx.getUserInfo and the like): kept
    # encrypted, never sent to the mini-program.
    session_key = EncryptedTextField(_("session key"), blank=True, editable=False)
    created_at = models.DateTimeField(_("first login"), default=timezone.now)
    last_login_at = models.DateTimeField(_("last login"), default=timezone.now)

    class Meta:
        verbose_name = _("mini-program user")
        verbose_name_plural = _("mini-program users")

    def __str__(self):
        return self.openid


class MiniProgramToken(models.Model):
    """A session token of the mini-program: `Authorization: Bearer <token>`.

    The token is 32 random bytes given to the mini-program once (at login); the row holds
    its SHA-256, so a copy of the database holds no usable token.
    """

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        MiniProgramUser,
        on_delete=models.CASCADE,
        related_name="tokens",
        verbose_name=_("mini-program user"),
    )
    created_at = models.DateTimeField(_("issued"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("mini-program session")
        verbose_name_plural = _("mini-program sessions")
        indexes = [
            # Pruning the expired ones.
            models.Index(fields=["expires_at"], name="wechat_mptoken_expires"),
        ]

    def __str__(self):
        return f"{self.user} ({self.created_at:%Y-%m-%d %H:%M})"

    @staticmethod
    def hash(token: str) -> str:
        # The tokens are 32 random bytes: a fast hash is enough (no dictionary to attack).
        return hashlib.sha256(token.encode()).hexdigest()
