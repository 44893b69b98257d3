"""Encryption at rest with ENCRYPTION_KEY: AES-256-GCM, a random nonce, and associated data.

The associated data binds a ciphertext to its row (say, its organizer's id), so
a ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
VERSION = "v1"


class DecryptionError(Exception):
    """The ciphertext was altered, belongs to another row, or was made with another key."""


def encrypt(key: bytes, plaintext: str, associated: str) -> str:
    """Text -> "v1.<base64 nonce + ciphertext>"."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), associated.encode())
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(key: bytes, token: str, associated: str) -> str:
    """The reverse of `encrypt`; DecryptionError when it does not check out."""
    version, _, body = token.partition(".")
    if version != VERSION:
        raise DecryptionError("unknown format")
    try:
        raw = base64.urlsafe_b64decode(body)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated.encode()).decode()
    except (InvalidTag, ValueError) as error:
        raise DecryptionError("cannot decrypt") from error
