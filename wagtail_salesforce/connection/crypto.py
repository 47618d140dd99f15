"""Encryption at rest of the connection's secrets (consumer secret, access and refresh tokens).

Fernet (AES-128-CBC + HMAC-SHA256) through ``MultiFernet`` so keys can be rotated:

- the primary key is ``WAGTAIL_SALESFORCE["ENCRYPTION_KEY"]`` (a Fernet key: 32 bytes, urlsafe
  base64, e.g. from ``Fernet.generate_key()``); without it, a key derived from ``SECRET_KEY``
  with HKDF-SHA256 and a fixed ``info`` string, so a default install still encrypts;
- older keys still decrypt: ``OLD_ENCRYPTION_KEYS`` (newest first), then keys derived from
  ``SECRET_KEY`` (when an explicit key is set: the move away from the derived key) and from
  Django's ``SECRET_KEY_FALLBACKS``;
- ``manage.py salesforce_rotate_key`` re-encrypts every stored secret with the primary key.

Plain text and ciphertext never appear in exception messages or logs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from wagtail_salesforce import conf
from wagtail_salesforce.exceptions import SalesforceError

# Changing this string changes every derived key: never edit it (add a new one for a v2 scheme).
DERIVED_KEY_INFO = b"wagtail-salesforce:connection-secrets:v1"


class SecretUnreadable(SalesforceError):
    """A stored secret cannot be decrypted with any configured key (the key changed or was lost)."""


def derive_key(secret_key: str) -> bytes:
    """The Fernet key derived from a Django ``SECRET_KEY`` (HKDF-SHA256, fixed info, no salt)."""
    if not secret_key:
        raise ImproperlyConfigured(
            "wagtail-salesforce needs SECRET_KEY (or WAGTAIL_SALESFORCE['ENCRYPTION_KEY']) to "
            "encrypt Salesforce secrets."
        )
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DERIVED_KEY_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def _fernet(key: str | bytes, setting: str) -> Fernet:
    raw = key.encode() if isinstance(key, str) else key
    try:
        decoded = base64.urlsafe_b64decode(raw)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != 32:
        # Never echo the key itself.
        raise ImproperlyConfigured(
            f"WAGTAIL_SALESFORCE[{setting!r}] must be a Fernet key: 32 bytes in urlsafe base64 "
            '(generate one with `python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"`).'
        )
    return Fernet(raw)


def _unique(keys: Iterable[bytes]) -> list[bytes]:
    seen: list[bytes] = []
    for key in keys:
        if key not in seen:
            seen.append(key)
    return seen


def keyring() -> MultiFernet:
    """The primary key first (encrypts), then every key that may still decrypt old values."""
    primary_setting = conf.get("ENCRYPTION_KEY")
    old_settings = conf.get("OLD_ENCRYPTION_KEYS") or []
    if isinstance(old_settings, str | bytes):
        raise ImproperlyConfigured(
            "WAGTAIL_SALESFORCE['OLD_ENCRYPTION_KEYS'] must be a list of keys, not one string."
        )
    fernets = [_fernet(primary_setting, "ENCRYPTION_KEY")] if primary_setting else []
    fernets += [_fernet(key, "OLD_ENCRYPTION_KEYS") for key in old_settings]
    derived = _unique(
        derive_key(secret)
        for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        if secret
    )
    if not fernets and not derived:
        derive_key("")  # raises the explanatory ImproperlyConfigured
    fernets += [Fernet(key) for key in derived]
    return MultiFernet(fernets)


def encrypt(plain_text: str) -> str:
    """Encrypt with the primary key. The empty string stays empty (nothing stored)."""
    if not plain_text:
        return ""
    return keyring().encrypt(plain_text.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """Decrypt with any configured key; the empty string means "not set"."""
    if not token:
        return ""
    try:
        return keyring().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as error:
        raise SecretUnreadable(
            "A stored Salesforce secret cannot be decrypted with the configured keys: put the "
            "previous key in WAGTAIL_SALESFORCE['OLD_ENCRYPTION_KEYS'] (see the set-up guide)."
        ) from error


def reencrypt(token: str) -> str:
    """The same secret encrypted with the primary key (for key rotation)."""
    if not token:
        return ""
    try:
        return keyring().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as error:
        raise SecretUnreadable(
            "A stored Salesforce secret cannot be decrypted with the configured keys."
        ) from error
