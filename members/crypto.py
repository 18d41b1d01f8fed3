"""Contact data encrypted at rest (AES-256-GCM) and keyed hashes for exact lookup.

A stored value reads ``v1.<key id>.<base64url(nonce + ciphertext + tag)>``. The key id
(first 8 hex digits of the key's SHA-256) says which key of FIELD_ENCRYPTION_KEYS
decrypts it, so keys can be rotated: put the new key first, run
``manage.py reencrypt_members``, then drop the old key (docs/operations.md).

Phones are looked up by HMAC-SHA256(PHONE_HASH_KEY, E.164 phone): deterministic, so it
can carry the unique constraint and an index, but useless without the key.
"""

import base64
import hashlib
import hmac
import os
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "v1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


@cache
def _keyring(keys: tuple[str, ...]) -> tuple[str, dict[str, AESGCM]]:
    ring = {}
    for text in keys:
        try:
            key = base64.urlsafe_b64decode(text.strip())
        except ValueError as exc:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS holds a key that is not base64"
            ) from exc
        if len(key) != 32:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS keys must be 32 bytes (base64)")
        ring[_key_id(key)] = AESGCM(key)
    if not ring:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty")
    return next(iter(ring)), ring


def keyring() -> tuple[str, dict[str, AESGCM]]:
    """(id of the key that encrypts, {key id: cipher}) for the configured keys."""
    return _keyring(tuple(settings.FIELD_ENCRYPTION_KEYS))


def current_key_id() -> str:
    return keyring()[0]


def generate_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def encrypt(plaintext: str) -> str:
    return encrypter()(plaintext)


def encrypter():
    """encrypt, with the key looked up once: for a bulk run's thousands of values."""
    kid, ring = keyring()
    seal, aad, head = ring[kid].encrypt, kid.encode(), f"{PREFIX}.{kid}."
    urandom, b64 = os.urandom, base64.urlsafe_b64encode

    def encrypt_one(plaintext: str) -> str:
        nonce = urandom(NONCE_BYTES)
        return head + b64(nonce + seal(nonce, plaintext.encode(), aad)).decode()

    return encrypt_one


def decrypt(token: str) -> str:
    try:
        prefix, kid, body = token.split(".", 2)
    except ValueError as exc:
        raise DecryptionError("not an encrypted value") from exc
    cipher = keyring()[1].get(kid)
    if prefix != PREFIX or cipher is None:
        raise DecryptionError(f"no configured key with id {kid}")
    raw = base64.urlsafe_b64decode(body)
    try:
        return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], kid.encode()).decode()
    except InvalidTag as exc:
        raise DecryptionError("value was tampered with or the key is wrong") from exc


def key_id_of(token: str) -> str:
    return token.split(".", 2)[1] if token.count(".") >= 2 else ""


@cache
def _hash_key(key: str) -> bytes:
    return key.encode()


def phone_hash(e164: str) -> str:
    """Keyed hash of a normalised phone: the exact-lookup and uniqueness column."""
    return phone_hasher()(e164)


def phone_hasher():
    """phone_hash, with the key looked up once: for a bulk run's thousands of phones."""
    key, digest = _hash_key(settings.PHONE_HASH_KEY), hmac.digest

    def phone_hash_one(e164: str) -> str:
        return digest(key, e164.encode(), "sha256").hex()

    return phone_hash_one


class EncryptedTextField(models.TextField):
    """A text column that holds AES-GCM ciphertext and gives back plain text.

    Not searchable or orderable in SQL by design; look values up through a keyed
    hash column instead. Empty strings are stored as empty strings.
    """

    description = "Text encrypted at rest (AES-GCM)"

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)

    def db_prep_saver(self, connection):
        """get_db_prep_save for many values (config/platform/adapt.py: bulk inserts and
        the import), with the key looked up once."""
        encrypt_one = encrypter()

        def prepare(value):
            if value.__class__ is not str:
                return self.get_db_prep_save(value, connection)
            return encrypt_one(value) if value else value

        return prepare

    def get_lookup(self, lookup_name):
        # Ciphertext is randomised, so `filter(phone=...)` could never match: refuse
        # every lookup but isnull rather than return silently empty results.
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)
