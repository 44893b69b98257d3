"""Random secrets handed to people (session cookies, API tokens, links), kept only as hashes."""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_BYTES = 32  # 256 bits
URLSAFE = re.compile(r"[A-Za-z0-9_-]+")


def new_token() -> str:
    """A fresh URL-safe secret."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the database keeps of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    """A random row key (no order, no count leaks from it)."""
    return secrets.token_hex(12)


def token_length(nbytes: int) -> int:
    """How many characters `secrets.token_urlsafe(nbytes)` gives: base64url (RFC 4648 §5), unpadded."""
    return -(-nbytes * 4 // 3)


def has_token_shape(text: str, nbytes: int) -> bool:
    """Whether `text` can be what `secrets.token_urlsafe(nbytes)` gives."""
    return len(text) == token_length(nbytes) and URLSAFE.fullmatch(text) is not None


def receipt_key(label: str, receipt: str) -> str:
    """The key of one of a signer's rows: SHA-256(label | receipt), a different label for each table."""
    return hashlib.sha256(f"{label}|{receipt.strip()}".encode()).hexdigest()
