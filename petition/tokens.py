"""Random secrets handed to people (session cookies, API tokens, links), kept only as hashes."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits


def new_token() -> str:
    """A fresh URL-safe secret."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the database keeps of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    """A random row key (no order, no count leaks from it)."""
    return secrets.token_hex(12)


def receipt_key(label: str, receipt: str) -> str:
    """The key of one of a signer's rows: SHA-256(label | receipt), a different label for each table."""
    return hashlib.sha256(f"{label}|{receipt.strip()}".encode()).hexdigest()
