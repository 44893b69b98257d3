"""What waits for a petition's next batch: one sealed entry each, and nothing else on disk.

The transaction that accepts a signature writes only what must be checked at
once: the printed code it spends (one byte, in place) and one pending entry,
keyed by a hash of the receipt and sealed (AES-GCM, bound to its key), holding
everything the batch will write: the signature, its dedupe tag, its name and
reason, the code batch and flyer it came through. No permanent row is written
then, so nothing on disk orders signatures or pairs one with its name, reason,
tag or contact: closing a batch writes each table's rows in the order of that
table's own key (DESIGN.md rule 11).

Kinds (small integers, so withdrawing a waiting signature changes its entry in place):
SIGNATURE waits to be counted; WITHDRAWN was withdrawn before its batch (counted
in and out at once); WITHDRAWAL takes a counted signature off the count; DETAILS
carries what came for a signature later (an updates address confirmed after signing).

A second signature with an address whose first still waits must be refused at
once, so the waiting dedupe tags are kept where the writer can check them: on
SQLite (one process) in memory, rebuilt from the sealed entries at start; on
PostgreSQL (several processes) in `pending_dedupe`, keyed again under the
pepper so that no waiting tag matches a permanent one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import weakref
from typing import Any

from . import queries
from .database import Database, Row, Transaction
from .encryption import DecryptionError, decrypt, encrypt
from .petitions import PetitionError
from .settings import Settings
from .tokens import receipt_key

SIGNATURE = 0
WITHDRAWN = 1
WITHDRAWAL = 2
DETAILS = 3
# Every signature entry of a petition seals to one length, whatever it holds (AES-GCM hides the
# content, not the length, and a length that followed a name or reason would pair the entry, in
# its place in the page and its commit in the WAL, with the row the batch writes). Petitions that
# keep names or reasons need room for them: 80 + 80 + 500 characters at up to 4 bytes each.
SMALL_ENTRY = 384  # the longest: a work-email signature from a flyer, with its log commitment (about 320)
LARGE_ENTRY = 4 * (80 + 80 + 500) + 512
# Withdrawals and details (an updates address confirmed later) each have one length too.
DETAILS_ENTRY = 1536


def entry_size(petition: Row) -> int:
    """The length (bytes of JSON) every signature entry of `petition` is padded to."""
    return LARGE_ENTRY if petition["show_names"] or petition["reasons_enabled"] else SMALL_ENTRY


def signature_key(receipt: str) -> str:
    """The key of a signature's pending entry: SHA-256("pending/v1" | receipt)."""
    return receipt_key("pending/v1", receipt)


def withdrawal_key(receipt: str) -> str:
    """The key of the pending withdrawal of a counted signature: SHA-256("withdrawal/v1" | receipt)."""
    return receipt_key("withdrawal/v1", receipt)


def details_key(receipt: str) -> str:
    """The key of details that came later for a signature (an updates address)."""
    return receipt_key("pending-contact/v1", receipt)


def _bound(kind: int, key: str, petition_id: str) -> str:
    # Details kept their binding from before pending entries existed (and old ones wait still).
    return f"details/{petition_id}" if kind == DETAILS else f"pending/{key}"


# Entries are written at every signature, so they are kept small (fewer pages to write): short
# names for their fields, and the hashes and ids they carry (hex) as URL-safe base64.
SHORT = {
    "signature": "s",
    "method": "m",
    "code_batch": "b",
    "flyer": "f",
    "dedupe": "d",
    "attempt": "a",
    "commitment": "c",
}
LONG = {short: name for name, short in SHORT.items()}
HEX_FIELDS = frozenset({"signature", "code_batch", "flyer", "attempt", "commitment"})
DEDUPE_SHORT = {"tag": "t", "withdraw_key": "w"}


def _pack(value: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(value)).decode().rstrip("=")


def _unpack(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()


def compact(content: dict[str, Any]) -> dict[str, Any]:
    """An entry's content with short field names and its hex values packed (names, reasons and
    addresses as they are); `expand` undoes it."""
    packed: dict[str, Any] = {}
    for name, value in content.items():
        if name in HEX_FIELDS:
            value = _pack(value)
        elif name == "dedupe":
            value = {DEDUPE_SHORT[field]: _pack(tag) for field, tag in value.items()}
        packed[SHORT.get(name, name)] = value
    return packed


def expand(packed: dict[str, Any]) -> dict[str, Any]:
    """The content `compact` packed (content sealed before it was packed comes through as it is)."""
    content: dict[str, Any] = {}
    for short, value in packed.items():
        name = LONG.get(short, short)
        if name in HEX_FIELDS and short in LONG:
            value = _unpack(value)
        elif name == "dedupe" and short in LONG:
            fields = {tag: field for field, tag in DEDUPE_SHORT.items()}
            value = {fields[tag]: _unpack(packed_tag) for tag, packed_tag in value.items()}
        content[name] = value
    return content


def seal(settings: Settings, *, kind: int, key: str, petition: Row, content: dict[str, Any]) -> str:
    """An entry's content (JSON) encrypted under ENCRYPTION_KEY, bound to its key, and padded to
    the one length of its kind on its petition."""
    size = entry_size(petition) if kind in (SIGNATURE, WITHDRAWN) else DETAILS_ENTRY
    text = json.dumps(compact(content), ensure_ascii=False, separators=(",", ":"))
    return encrypt(settings.encryption_key, text, _bound(kind, key, petition["id"]), pad_to=size)


def reseal(settings: Settings, row: dict[str, Any], content: dict[str, Any]) -> str:
    """A pending row (pending_key, petition_id, kind, sealed) sealed again with `content` (no more
    than it held), padded to the very length it had: an entry changed in place (a name taken out)
    keeps its length, whatever the petition's settings are now. DecryptionError if tampered."""
    bound = _bound(int(row["kind"]), row["pending_key"], row["petition_id"])
    size = len(decrypt(settings.encryption_key, row["sealed"], bound).encode())
    text = json.dumps(compact(content), ensure_ascii=False, separators=(",", ":"))
    return encrypt(settings.encryption_key, text, bound, pad_to=size)


def unseal(settings: Settings, row: dict[str, Any]) -> dict[str, Any]:
    """A pending row (pending_key, petition_id, kind, sealed) -> its content; DecryptionError if tampered."""
    bound = _bound(int(row["kind"]), row["pending_key"], row["petition_id"])
    return expand(json.loads(decrypt(settings.encryption_key, row["sealed"], bound)))


async def insert(
    tx: Transaction, settings: Settings, *, kind: int, key: str, petition: Row, content: dict[str, Any]
) -> None:
    """Inside a write: one pending entry (replacing an entry of the same key, as a changed address does).
    PetitionError(409) on PostgreSQL while the petition's purge runs (see queries.INSERT_PENDING_POSTGRES)."""
    sealed = seal(settings, kind=kind, key=key, petition=petition, content=content)
    values = {"pending_key": key, "petition_id": petition["id"], "kind": kind, "sealed": sealed}
    if settings.database_dialect != "postgresql":
        await tx.execute(queries.INSERT_PENDING, values)
    elif await tx.fetch_one(queries.INSERT_PENDING_POSTGRES, values) is None:
        raise PetitionError(409, "This petition has closed.")


class PendingTags:
    """The dedupe tags of signatures that still wait, for one database."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.in_memory = db.dialect == "sqlite"
        self.pepper = settings.pepper
        # SQLite: tag -> the pending key of the signature holding it.
        self.held: dict[str, str] = {}
        self.loaded = False

    async def load(self, db: Database, settings: Settings) -> None:
        """SQLite: rebuild the tags from the waiting signatures' sealed entries (once, at start)."""
        if not self.in_memory or self.loaded:
            return
        held = {}
        for row in await db.fetch_all(queries.SELECT_PENDING_OF_KIND, {"kind": SIGNATURE}):
            dedupe = unseal(settings, row).get("dedupe")
            if dedupe:
                held[dedupe["tag"]] = row["pending_key"]
        self.held, self.loaded = held, True

    def _pending_tag(self, tag: str) -> str:
        return hmac.new(self.pepper, f"pending-dedupe/v1|{tag}".encode(), hashlib.sha256).hexdigest()

    async def reserve(self, tx: Transaction, *, tag: str, owner: str, petition_id: str) -> bool:
        """Inside a write: hold `tag` for the waiting signature `owner` (its pending key); False when
        another waiting signature holds it."""
        if not self.in_memory:
            row = await tx.fetch_one(
                queries.INSERT_PENDING_DEDUPE, {"pending_tag": self._pending_tag(tag), "petition_id": petition_id}
            )
            return row is not None
        holder = self.held.get(tag)
        # A holder whose entry is gone (its write was rolled back) holds nothing.
        if holder not in (None, owner) and await tx.fetch_one(queries.SELECT_PENDING_KIND, {"pending_key": holder}):
            return False
        self.held[tag] = owner

        def undo() -> None:
            if self.held.get(tag) == owner:
                del self.held[tag]

        tx.on_rollback(undo)
        return True

    async def release(self, tx: Transaction, *, tags: list[str]) -> None:
        """Inside a write: the waiting signatures holding `tags` are counted or withdrawn; once
        committed, the tags are free (or held by the permanent `email_dedupe` rows)."""
        if not self.in_memory:
            for pending_tag in sorted(self._pending_tag(tag) for tag in tags):
                await tx.execute(queries.DELETE_PENDING_DEDUPE, {"pending_tag": pending_tag})
            return
        owners = {tag: self.held.get(tag) for tag in tags}

        def forget() -> None:
            for tag, owner in owners.items():
                if owner is not None and self.held.get(tag) == owner:
                    del self.held[tag]

        tx.after_commit(forget)


_tags: weakref.WeakKeyDictionary[Database, PendingTags] = weakref.WeakKeyDictionary()


async def key_problem(db: Database, settings: Settings) -> str | None:
    """None when ENCRYPTION_KEY opens the entries waiting in `db` (or none wait), else why not, in
    a sentence: a service started with another key could count none of them."""
    row = await db.fetch_one(queries.SELECT_ANY_PENDING)
    if row is None:
        return None
    try:
        unseal(settings, row)
    except DecryptionError:
        return (
            "ENCRYPTION_KEY does not open the signatures waiting in this database: start with the key "
            "they were sealed with (a restored database needs the secrets it was used with)"
        )
    return None


async def tags_of(db: Database, settings: Settings) -> PendingTags:
    """The waiting dedupe tags of `db` (loaded from the pending entries the first time, on SQLite)."""
    tags = _tags.get(db)
    if tags is None:
        tags = _tags[db] = PendingTags(db, settings)
    await tags.load(db, settings)
    return tags
