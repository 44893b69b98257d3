"""Encryption at rest with ENCRYPTION_KEY: AES-256-GCM, a random nonce, and associated data.

The associated data binds a ciphertext to its row (say, its organizer's id), so
a ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
VERSION = "v1"


class DecryptionError(Exception):
    """The ciphertext was altered, belongs to another row, or was made with another key."""


# Sizes that ciphertexts about signers are padded to (bytes of plaintext, or a multiple): AES-GCM
# hides what a ciphertext says but not how long it is, and a length that follows a name or a
# reason would pair a sealed entry with the row the batch writes later.
ADDRESS_PAD = 320  # any ASCII address (254 characters at most) and most others
OUTBOX_PAD = 1024  # an email: recipient, subject and the short body of a code email


@functools.lru_cache(maxsize=4)
def _cipher(key: bytes) -> AESGCM:
    """The AES-GCM cipher of a key, made once (a signature seals an entry at every request)."""
    return AESGCM(key)


def pad(plaintext: str, size: int) -> str:
    """`plaintext` followed by spaces up to `size` UTF-8 bytes, or to the next multiple of `size`
    when it is longer: every text of one kind (JSON, an address) then seals to the same length."""
    length = len(plaintext.encode())
    target = size * max(1, -(-length // size))
    return plaintext + " " * (target - length)


def encrypt(key: bytes, plaintext: str, associated: str, *, pad_to: int = 0) -> str:
    """Text -> "v1.<base64 nonce + ciphertext>"; with `pad_to`, padded with spaces first (see `pad`:
    the reader strips them, or JSON ignores them)."""
    if pad_to:
        plaintext = pad(plaintext, pad_to)
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(key).encrypt(nonce, plaintext.encode(), associated.encode())
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(key: bytes, token: str, associated: str) -> str:
    """The reverse of `encrypt`; DecryptionError when it does not check out."""
    version, _, body = token.partition(".")
    if version != VERSION:
        raise DecryptionError("unknown format")
    try:
        raw = base64.urlsafe_b64decode(body)
        return _cipher(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated.encode()).decode()
    except (InvalidTag, ValueError) as error:
        raise DecryptionError("cannot decrypt") from error
