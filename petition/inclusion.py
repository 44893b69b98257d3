"""A counted signature's entry in its petition's log, and the proof that the latest checkpoint holds
it, found from the receipt alone (only the receipt's holder can point at their entry).

The entry is found by its commitment, SHA-256("commit/v1" || receipt), or, for a signature
accepted before the log existed and counted after, the legacy commitment of its pending key
(tlog.entry_of looks for both). A signature counted before the log existed has no entry of its
own: it is part of the count the log's entry 0 carries over.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from . import checkpoints, pending, queries, tlog
from .database import Database, Row


@dataclass(frozen=True)
class Inclusion:
    """Where a signature is in its log: `leaf_index` (0-based) in the tree of `tree_size` that the
    signed `checkpoint` (note text) commits to, with the audit path `proof` (RFC 9162 2.1.3) and
    the entry's bytes. `carried_over`: counted before the log existed, so no entry (index, size and
    proof are then 0, 0 and empty)."""

    leaf_index: int
    tree_size: int
    proof: list[bytes]
    checkpoint: str
    entry: bytes
    carried_over: bool = False

    @property
    def entry_number(self) -> int:
        """The entry's place as people count, from 1 (the API's leaf_index counts from 0)."""
        return self.leaf_index + 1


async def of_counted(db: Database, reader: tlog.LogReader, *, petition: Row, receipt: str) -> Inclusion | None:
    """The inclusion of a counted signature in the log's latest checkpoint; None when the petition's
    log has not started (which publishing prevents)."""
    found = await tlog.entry_of(db, petition["id"], receipt, pending.signature_key(receipt))
    # The head read now, after the entry, not the cached row: the entry's batch may have closed in
    # another process within the last second, and the checkpoint that closed it holds it.
    head = await db.fetch_one(queries.SELECT_LOG_HEAD, {"id": petition["id"]})
    if head is None or head["log_checkpoint"] is None:
        return None
    note, size = str(head["log_checkpoint"]), int(head["log_size"])
    if found is None:
        return Inclusion(0, 0, [], note, b"", carried_over=True)
    index = found[0]
    proof = await reader.inclusion_proof(petition["id"], index, size)
    [entry] = await reader.entries(petition["id"], index, index + 1)
    return Inclusion(index, size, proof, note, entry)


def proof_file(inclusion: Inclusion, *, petition_url: str) -> bytes:
    """The proof as a file to keep or share (JSON): the petition's address, the log's origin, the
    entry (base64) with its index and the tree size, the proof (base64 hashes) and the checkpoint.
    Not the receipt: the entry shows the signature is counted without the power to withdraw it."""
    origin, _, _ = checkpoints.root_of(inclusion.checkpoint)
    data = {
        "petition": petition_url,
        "origin": origin,
        "leaf_index": inclusion.leaf_index,
        "tree_size": inclusion.tree_size,
        "entry": base64.b64encode(inclusion.entry).decode(),
        "proof": [base64.b64encode(item).decode() for item in inclusion.proof],
        "checkpoint": inclusion.checkpoint,
    }
    return json.dumps(data, indent=2).encode() + b"\n"
