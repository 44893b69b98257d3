"""A join that waits for its batch: one sealed entry, found through its participant token only.

The entry's key is SHA-256("pending-join/v1" | token). Sealed (AES-GCM under ENCRYPTION_KEY,
bound to its key, padded to one length whatever it holds) it carries everything the join batch
writes: the participant's random key, the hash of their token, the method, the round dedupe tag
or the printed code's hash, the code's batch, and the emailed attempt the batch deletes.
"""

from __future__ import annotations

import json
from typing import Any

from ..encryption import decrypt, encrypt
from ..settings import Settings
from ..tokens import receipt_key

# Every entry seals to this many bytes of JSON (the longest, an emailed join, holds about 330): a
# length that followed the method would tell an entry's kind from its size on disk.
ENTRY_SIZE = 512
# Short names for what an entry holds (entries are written at every join, so kept small).
SHORT = {
    "participant": "p",
    "token_hash": "h",
    "method": "m",
    "tag": "t",
    "code_hash": "c",
    "code_batch": "b",
    "attempt": "a",
}
LONG = {short: name for name, short in SHORT.items()}


def pending_key(token: str) -> str:
    """The key of a waiting join's entry: SHA-256("pending-join/v1" | participant token), hex."""
    return receipt_key("pending-join/v1", token)


def _bound(key: str) -> str:
    return f"pending-join/{key}"


def seal(settings: Settings, key: str, content: dict[str, Any]) -> str:
    """An entry's content (the names of SHORT) -> its sealed text, bound to `key`, of ENTRY_SIZE."""
    text = json.dumps({SHORT[name]: value for name, value in content.items()}, separators=(",", ":"))
    return encrypt(settings.encryption_key, text, _bound(key), pad_to=ENTRY_SIZE)


def unseal(settings: Settings, key: str, sealed: str) -> dict[str, Any]:
    """A sealed entry of `key` -> its content; encryption.DecryptionError if tampered or moved."""
    packed = json.loads(decrypt(settings.encryption_key, sealed, _bound(key)))
    return {LONG[short]: value for short, value in packed.items()}
