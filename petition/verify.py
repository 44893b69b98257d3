"""Check a petition's count from its transparency log, trusting nothing but the log's signing key.

    python -m petition.verify https://petitions.example.org/p/some-petition [--state FILE]

(or `python verify.py URL`: this one file is what the service hands out at /verify.py; it needs
Python 3.9 or newer and the `cryptography` package, nothing else.)

It fetches the log's verifier key, the latest signed checkpoint and every entry over HTTP,
then checks that:

- the checkpoint is a C2SP signed-note signed by the log's current or a retired key, for this
  petition's log (its origin is the address without the scheme);
- the entries hash to the checkpoint's root (RFC 6962 / RFC 9162 Merkle tree head);
- every entry is well formed, every withdrawal cancels a signature that was there and not yet
  cancelled, and printed-code signatures never outnumber the codes committed before them;
- a purge record, if there is one, is the log's last entry and its only one;
- the checkpoint saved by the previous run (in the state file, default ~/.petition-verify.json)
  is a prefix of this one: the log only grew, it was not rewritten.

The count is the signatures carried over from before the log, plus signature entries, minus
withdrawals. When the log holds a purge record, a line says "identifying data destroyed" and at
which entry. The last line printed is `consistent, N signatures`; exit status 0 when all of the
above holds, 1 when something does not (a line `error: <kind>` on standard error says what),
2 when the log could not be checked at all (a bad address, the network, an answer that is not
the log's).

Entries are bytes, exactly:

    signature     0x01 · method (0x01 work email, 0x02 printed code) · commitment (32 bytes)
    withdrawal    0x02 · index of the signature entry it cancels (u64, big-endian)
    code batch    0x03 · number of codes in the batch (u32, big-endian)
    purge         0x04 alone: the petition's identifying data was destroyed (its retention purge)
    carried over  0x05 · signatures counted before the log existed (u64, big-endian); entry 0 only

A delivery certificate (`<slug>-certificate.note`, what organizers hand over) is checked with

    python -m petition.verify --certificate FILE [URL]

Without URL: the note's signature (C2SP signed-note, over the file's exact bytes) with the key in
its log.vkey, its log.checkpoint signed by that key and naming the log.origin, log.tree_size and
log.root it gives, log.fingerprint that key's, its parts naming one service (petition.url is
service + /p/<slug>, the key is named service without its scheme, log.origin ends in /p/<slug>),
and its counts agreeing (verified_count is by_method's sum, printed_code no more than
codes_issued). That proves only that whoever holds that key signed it: the last line is
`signature valid for the key with fingerprint F, N signatures claimed; nothing ties that key to
<service> ...`, and the fingerprint is to be compared with the one the service publishes (GET
/api/v1/log/key). With the petition's URL, also: the key is the service's current or a retired
one, the live log holds the certificate's checkpoint (a consistency proof to the live one), and
its entries up to it hash to that root and add up to the certificate's counts, and hold the purge
record exactly when petition.purged_at is set; the last line is `consistent, N signatures`. Exit
status as above; the certificate's own kinds of error are bad-certificate (not a well-formed
certificate, Windows line endings or a byte-order mark among them, or its parts disagree),
other-service, other-petition and count-mismatch. Nothing is saved in the state file.

The tree, the proofs and the notes follow RFC 9162 section 2.1, C2SP tlog-checkpoint and C2SP
signed-note (as golang.org/x/mod/sumdb/note reads them); the service builds its log with the same
functions, so what this file accepts is what the service must produce.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import http.client
import json
import os
import re
import signal
import ssl
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # run as the downloaded file, without its one dependency
    if __name__ == "__main__":
        print("error: the verifier needs the cryptography package: pip install cryptography", file=sys.stderr)
        sys.exit(2)
    raise

# -- The Merkle tree (RFC 6962 hashing, RFC 9162 section 2.1 proofs) --------------------------

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not prove what it claims (or does not fit the sizes given)."""


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the hash of a log entry."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_hashes(proof: Sequence[bytes]) -> None:
    if any(len(item) != HASH_SIZE for item in proof):
        raise ProofError("a proof holds 32-byte hashes")


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], tree_root: bytes) -> None:
    """ProofError unless `proof` (32-byte hashes, leaf to root) shows the leaf hash `leaf` at `index`
    (0-based) of the tree of `tree_size` leaves whose head is `tree_root` (RFC 9162 2.1.3.2)."""
    _check_hashes(proof)
    if len(leaf) != HASH_SIZE or len(tree_root) != HASH_SIZE:
        raise ProofError("a leaf hash and a tree head are 32 bytes")
    if not 0 <= index < tree_size:
        raise ProofError(f"index {index} is not in a tree of {tree_size}")
    fn, sn, result = index, tree_size - 1, leaf
    for item in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(item, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    if result != tree_root:
        raise ProofError("the proof leads to another root")


def verify_consistency(first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes) -> None:
    """ProofError unless `proof` shows the tree of `first` leaves (head `first_root`) is a prefix of
    the tree of `second` (head `second_root`), 0 < first <= second (RFC 9162 2.1.4.2)."""
    _check_hashes(proof)
    if first == 0:
        # Every tree extends the empty one, so such a proof says nothing about the second root:
        # accepting it would let a log "prove" any head (transparency-dev/merkle refuses it too).
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if not 0 < first <= second:
        raise ProofError(f"a tree of {first} cannot grow into a tree of {second}")
    if first == second:
        if proof:
            raise ProofError("no proof is needed between these sizes")
        if first_root != second_root:
            raise ProofError("two roots for one tree size")
        return
    if not proof:
        raise ProofError("the proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is a node of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_result = second_result = path[0]
    for item in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the trees are deep")
        if fn & 1 or fn == sn:
            first_result = node_hash(item, first_result)
            second_result = node_hash(item, second_result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second_result = node_hash(second_result, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the trees are deep")
    if first_result != first_root:
        raise ProofError("the proof does not lead to the first root")
    if second_result != second_root:
        raise ProofError("the proof does not lead to the second root")


class CompactRange:
    """The streaming root builder: leaf hashes appended one at a time, the tree head at any size.

    Holds only the heads of the perfect subtrees the leaves so far make (one per bit set in the
    size, largest first), so a million leaves take 20 hashes of memory (as transparency-dev's
    compact ranges do).
    """

    def __init__(self) -> None:
        self.size = 0
        self._heads: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash (32 bytes; ValueError otherwise)."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        self._heads.append(leaf)
        self.size += 1
        # Each trailing zero bit of the new size is two equal subtrees that just became one.
        size = self.size
        while not size & 1:
            right = self._heads.pop()
            self._heads[-1] = node_hash(self._heads[-1], right)
            size >>= 1

    def root(self) -> bytes:
        """The tree head (MTH, RFC 9162 2.1.1) of the leaves appended so far; SHA-256("") of none."""
        if not self._heads:
            return EMPTY_ROOT
        result = self._heads[-1]
        for head in reversed(self._heads[:-1]):
            result = node_hash(head, result)
        return result


# -- Signed notes and checkpoints (C2SP signed-note, C2SP tlog-checkpoint) --------------------

ED25519 = 0x01  # the signature type byte of C2SP signed-note for Ed25519
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space start every signature line
MAX_SIGNATURES = 100  # as golang.org/x/mod/sumdb/note: a note with more is malformed
MAX_TREE_SIZE = 2**64 - 1
DECIMAL = re.compile(r"0|[1-9][0-9]*")
HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")


NO_KNOWN_SIGNATURE = "no signature on the note is by a known key"


class NoteError(ValueError):
    """A signed note, verifier key or checkpoint that is malformed or does not verify."""


class MalformedNote(NoteError):
    """A signed note that is not one at all (C2SP signed-note's malformed note): a control character,
    no signature block, a line in it that is not a signature line. No signature was checked."""


def b64decode_canonical(text: str | bytes) -> bytes:
    """Standard base64 (RFC 4648 section 4, padded) -> bytes; ValueError unless `text` is exactly how
    those bytes encode. Other decoders let the unused bits of the last character vary, so one
    value would have several spellings: a hash or signature must have one."""
    try:
        encoded = text.encode("ascii") if isinstance(text, str) else bytes(text)
        decoded = base64.b64decode(encoded, validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError("not base64") from None
    if base64.b64encode(decoded) != encoded:
        raise ValueError("not canonical base64 (unused bits set)")
    return decoded


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 key (32 bytes) named `name`:
    SHA-256(name || 0x0A || 0x01 || public key)[:4] (C2SP signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def valid_name(name: str) -> bool:
    """A key name: not empty, no white space, no '+' (C2SP signed-note)."""
    return bool(name) and "+" not in name and not any(char.isspace() for char in name)


def parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    """A C2SP verifier key `<name>+<8 hex key id>+<base64(0x01 || 32-byte Ed25519 key)>` ->
    (name, 4-byte key id, 32-byte public key); NoteError unless it is one, with its key id right."""
    parts = vkey.split("+", 2) if isinstance(vkey, str) else []
    if len(parts) != 3 or not valid_name(parts[0]) or not HEX_KEY_ID.fullmatch(parts[1]):
        raise NoteError(f"{vkey!r} is not a verifier key <name>+<key id>+<key>")
    name, hex_id, encoded = parts
    try:
        key = b64decode_canonical(encoded)
    except ValueError as error:
        raise NoteError(f"the key of {name} is {error}") from None
    if len(key) != 1 + 32 or key[0] != ED25519:
        raise NoteError(f"the key of {name} is not an Ed25519 key")
    if key_id(name, key[1:]) != bytes.fromhex(hex_id):
        raise NoteError(f"the key id of {name} is {hex_id}, but its key's is {key_id(name, key[1:]).hex()}")
    return name, bytes.fromhex(hex_id), key[1:]


def open_note(text: str, vkeys: Iterable[str]) -> tuple[str, list[str]]:
    """A signed note and verifier keys -> (its text, the keys whose signatures verified), as
    golang.org/x/mod/sumdb/note's Open reads it: NoteError if the note is malformed (MalformedNote), if a
    signature by a known key (same name and key id) does not verify, or if none verifies.
    Signature lines by unknown keys are ignored (a note may carry a witness's cosignature)."""
    known: dict[tuple[str, bytes], tuple[str, bytes]] = {}
    for vkey in vkeys:
        name, kid, public_key = parse_vkey(vkey)
        if known.get((name, kid), (vkey, public_key))[1] != public_key:
            raise NoteError(f"two keys are named {name}+{kid.hex()}")
        known[name, kid] = (vkey, public_key)
    if any(char < " " and char != "\n" for char in text):
        raise MalformedNote("the note holds a control character")
    split = text.rfind("\n\n")
    if split < 0:
        raise MalformedNote("the note has no signature block after a blank line")
    body, block = text[: split + 1], text[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNote("the note's signature block does not end its lines")
    verified: list[str] = []
    seen: set[tuple[str, bytes]] = set()
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"the note carries more than {MAX_SIGNATURES} signatures")
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise MalformedNote(f"{line!r} is not a signature line (an em dash, a space, a key name, a signature)")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not valid_name(name):
            raise MalformedNote(f"{line!r} is not a signature line (an em dash, a space, a key name, a signature)")
        try:
            signature = b64decode_canonical(encoded)
        except ValueError as error:
            raise MalformedNote(f"the signature by {name} is {error}") from None
        if len(signature) < 5:
            raise MalformedNote(f"the signature by {name} is too short to hold a key id and a signature")
        kid, signature = signature[:4], signature[4:]
        if (name, kid) not in known or (name, kid) in seen:
            continue
        seen.add((name, kid))
        vkey, public_key = known[name, kid]
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, body.encode())
        except InvalidSignature:
            raise NoteError(f"the signature by {name}+{kid.hex()} does not verify") from None
        verified.append(vkey)
    if not verified:
        raise NoteError(NO_KNOWN_SIGNATURE)
    return body, verified


def verify_note(text: str, vkeys: Iterable[str]) -> str:
    """A signed note -> its text (the lines before the blank line, each ending in a newline), once a
    signature by one of `vkeys` verifies; NoteError saying why not (see open_note)."""
    return open_note(text, vkeys)[0]


def parse_checkpoint(body: str) -> tuple[str, int, bytes]:
    """A C2SP tlog-checkpoint body (origin, decimal tree size, base64 root, any extension lines,
    each line ending in a newline) -> (origin, size, 32-byte root); NoteError unless it is one."""
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "" or "" in lines[:-1]:
        raise NoteError("a checkpoint is an origin, a tree size and a root, each on its own line")
    origin, size, root = lines[:3]
    if not DECIMAL.fullmatch(size) or int(size) > MAX_TREE_SIZE:
        raise NoteError(f"the checkpoint's tree size {size!r} is not a decimal number")
    try:
        root_hash = b64decode_canonical(root)
    except ValueError as error:
        raise NoteError(f"the checkpoint's root is {error}") from None
    if len(root_hash) != HASH_SIZE:
        raise NoteError("the checkpoint's root is not 32 bytes")
    return origin, int(size), root_hash


# -- Entries and the count ------------------------------------------------------------------

SIGNATURE = 0x01
WITHDRAWAL = 0x02
CODE_BATCH = 0x03
# The retention purge destroyed the petition's identifying data (dedupe tags among it), so the
# service could no longer refuse a second signature from one address: it appends nothing after it.
PURGE = 0x04
CARRIED_OVER = 0x05
WORK_EMAIL = 0x01
PRINTED_CODE = 0x02
METHODS = {WORK_EMAIL: "work email", PRINTED_CODE: "printed code"}
ENTRY_SIZES = {SIGNATURE: 34, WITHDRAWAL: 9, CODE_BATCH: 5, PURGE: 1, CARRIED_OVER: 9}
KIND_NAMES = {
    SIGNATURE: "a signature",
    WITHDRAWAL: "a withdrawal",
    CODE_BATCH: "a code batch",
    PURGE: "a purge record",
    CARRIED_OVER: "a carried-over count",
}
# What each entry is, one byte an entry (a million entries take a megabyte): a signature not
# withdrawn is marked with its method byte (WORK_EMAIL, PRINTED_CODE), so a withdrawal knows
# which method's count it lowers.
OTHER, WITHDRAWN_SIGNATURE = 0, 0xFF

FAILURES = (
    "bad-signature",
    "root-mismatch",
    "fork",
    "shrunk",
    "withdrawal-of-nothing",
    "codes-exceeded",
    "bad-entry",
    # A delivery certificate's (--certificate): not a well-formed certificate or its parts disagree;
    # signed by a key the service does not have; of another petition; counts the log does not hold.
    "bad-certificate",
    "other-service",
    "other-petition",
    "count-mismatch",
)


class Inconsistent(Exception):
    """The log does not verify: `kind` is one of FAILURES, the message says what in a sentence."""

    def __init__(self, kind: str, message: str) -> None:
        assert kind in FAILURES
        super().__init__(message)
        self.kind = kind


@dataclass
class Tally:
    """The count, entry by entry, with the log's rules: `add` raises Inconsistent on an entry that
    breaks them (bad-entry, withdrawal-of-nothing, codes-exceeded)."""

    carried_over: int | None = None
    signatures: dict[int, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    withdrawals: int = 0
    # Withdrawals of signature entries by their method (those of carried-over ones are not here).
    withdrawn: dict[int, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    codes_committed: int = 0
    code_batches: int = 0
    carried_over_withdrawn: int = 0
    purge_index: int | None = None  # the index of the purge record, if the log holds one
    _marks: bytearray = field(default_factory=bytearray, repr=False)

    @property
    def count(self) -> int:
        """Signatures carried over, plus signature entries, minus withdrawals."""
        return (self.carried_over or 0) + sum(self.signatures.values()) - self.withdrawals

    def add(self, index: int, entry: bytes) -> None:
        """The entry at `index`; entries must come in order, from 0."""
        assert index == len(self._marks)
        kind = entry[0] if entry else None
        if kind not in ENTRY_SIZES:
            what = "empty" if kind is None else f"of kind 0x{kind:02x}, which no log entry is"
            raise Inconsistent("bad-entry", f"entry {index} is {what}.")
        if len(entry) != ENTRY_SIZES[kind]:
            raise Inconsistent(
                "bad-entry",
                f"entry {index} is {KIND_NAMES[kind]} of {len(entry)} bytes, not {ENTRY_SIZES[kind]}.",
            )
        if self.purge_index is not None:
            self._after_purge(index, kind)
        value = int.from_bytes(entry[1:], "big")
        if kind == SIGNATURE:
            self._sign(index, entry[1])
            return
        self._marks.append(OTHER)
        if kind == WITHDRAWAL:
            self._withdraw(index, value)
        elif kind == CODE_BATCH:
            self.codes_committed += value
            self.code_batches += 1
        elif kind == PURGE:
            self.purge_index = index
        elif index != 0:
            raise Inconsistent("bad-entry", f"entry {index} carries a count over, which only entry 0 may.")
        else:
            self.carried_over = value

    def _after_purge(self, index: int, kind: int) -> None:
        if kind == PURGE:
            raise Inconsistent(
                "bad-entry",
                f"entry {index} is a second purge record (entry {self.purge_index} was the first): "
                "identifying data is destroyed once.",
            )
        raise Inconsistent(
            "bad-entry",
            f"entry {index} is {KIND_NAMES[kind]} after the purge record (entry {self.purge_index}): once "
            "identifying data is destroyed, nothing could refuse a second signature from one address, "
            "so the log takes no entry after it.",
        )

    def _sign(self, index: int, method: int) -> None:
        if method not in METHODS:
            raise Inconsistent("bad-entry", f"entry {index} is a signature by method 0x{method:02x}, which none is.")
        # Every printed-code signature uses up a code, withdrawn or not: a code works once.
        if method == PRINTED_CODE and self.signatures[PRINTED_CODE] >= self.codes_committed:
            raise Inconsistent(
                "codes-exceeded",
                f"entry {index} is printed-code signature number {self.signatures[PRINTED_CODE] + 1}, "
                f"but only {self.codes_committed} codes were committed before it.",
            )
        self.signatures[method] += 1
        self._marks.append(method)

    def _withdraw(self, index: int, target: int) -> None:
        if target >= index:
            raise Inconsistent(
                "withdrawal-of-nothing", f"entry {index} withdraws entry {target}, which does not come before it."
            )
        if target == 0 and self.carried_over is not None:
            if self.carried_over_withdrawn >= self.carried_over:
                raise Inconsistent(
                    "withdrawal-of-nothing",
                    f"entry {index} withdraws a signature carried over, and none is left "
                    f"({self.carried_over} carried over, {self.carried_over_withdrawn} withdrawn before).",
                )
            self.carried_over_withdrawn += 1
        elif self._marks[target] == WITHDRAWN_SIGNATURE:
            raise Inconsistent("withdrawal-of-nothing", f"entry {index} withdraws entry {target}, already withdrawn.")
        elif self._marks[target] not in METHODS:
            raise Inconsistent(
                "withdrawal-of-nothing", f"entry {index} withdraws entry {target}, which is not a signature."
            )
        else:
            self.withdrawn[self._marks[target]] += 1
            self._marks[target] = WITHDRAWN_SIGNATURE
        self.withdrawals += 1


# -- Fetching the log over HTTP ---------------------------------------------------------------

PAGE = 1000  # entries a call: the most the service hands out at once
PROGRESS_OVER = 10_000  # logs longer than this show a progress bar
TIMEOUT_SECONDS = 60
MAX_ANSWER_BYTES = 16 * 2**20  # far above a page of entries; a service sending more is not the log
DEFAULT_STATE = "~/.petition-verify.json"
PETITION_PAGE = re.compile(r"(?P<prefix>(?:/[^/]+)*?)/p/(?P<slug>[a-z0-9-]+)/?")


class CannotVerify(Exception):
    """A bad address, a network failure, or an answer that is not the log's (exit status 2)."""


@dataclass(frozen=True)
class Petition:
    """Where a petition's log is, from its page address `https://host[:port][/prefix]/p/<slug>`."""

    scheme: str
    host: str
    port: int | None
    service: str  # host[:port][/prefix]: the log's key name (BASE_URL without the scheme)
    prefix: str
    slug: str

    @classmethod
    def from_url(cls, url: str) -> Petition:
        """CannotVerify unless `url` is a petition page's address over http or https."""
        example = "like https://petitions.example.org/p/some-petition"
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise CannotVerify(f"{url!r} is not an address: give the petition page's, {example}") from None
        if "@" in parts.netloc:  # not repeated: it may hold a password
            raise CannotVerify(f"give the petition page's address without a user name or password, {example}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CannotVerify(f"{url!r} is not an http or https address: give the petition page's, {example}")
        page = PETITION_PAGE.fullmatch(parts.path)
        if page is None:
            raise CannotVerify(f"{url!r} is not a petition page's address (…/p/<slug>): give one {example}")
        prefix, slug = page.group("prefix"), page.group("slug")
        return cls(parts.scheme, parts.hostname, port, f"{parts.netloc}{prefix}", prefix, slug)

    @property
    def origin(self) -> str:
        """The origin line this petition's checkpoints must carry."""
        return f"{self.service}/p/{self.slug}"

    def api(self, path: str) -> str:
        """The request path of `/api/v1/...` on this service."""
        return f"{self.prefix}/api/v1{path}"


class Client:
    """GET requests over one persistent HTTP/1.1 connection (https too), opened again only when the
    service closes it."""

    def __init__(self, petition: Petition, timeout: float = TIMEOUT_SECONDS) -> None:
        self.petition = petition
        self.timeout = timeout
        self.connections = 0
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        self.connections += 1
        if self.petition.scheme == "https":
            context = ssl.create_default_context()
            return http.client.HTTPSConnection(
                self.petition.host, self.petition.port, timeout=self.timeout, context=context
            )
        return http.client.HTTPConnection(self.petition.host, self.petition.port, timeout=self.timeout)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def get(self, path: str) -> bytes:
        """The body of a 200 answer to GET `path`; CannotVerify on a network failure or another status."""
        where = f"{self.petition.scheme}://{self.petition.host}" + (
            f":{self.petition.port}" if self.petition.port else ""
        )
        for attempt in (1, 2):
            reused = self._connection is not None
            if self._connection is None:
                self._connection = self._connect()
            try:
                with whole_answer_within(self.timeout * 2):
                    self._connection.request("GET", path, headers={"accept": "application/json, text/plain"})
                    response = self._connection.getresponse()
                    body = response.read(MAX_ANSWER_BYTES + 1)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                self.close()
                # A kept-alive connection the service closed meanwhile: one fresh try.
                if reused and attempt == 1:
                    continue
                raise CannotVerify(f"{where} closed the connection ({error or type(error).__name__})") from None
            except ssl.SSLError as error:
                self.close()
                raise CannotVerify(f"cannot talk TLS with {where}: {error.reason or error}") from None
            except (OSError, http.client.HTTPException) as error:
                self.close()
                reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
                raise CannotVerify(f"cannot reach {where}: {reason or type(error).__name__}") from None
            if len(body) > MAX_ANSWER_BYTES:
                self.close()
                raise CannotVerify(f"{where}{path} answered more than {MAX_ANSWER_BYTES} bytes")
            if response.will_close:
                self.close()
            if 300 <= response.status < 400 and response.getheader("location"):
                # Most often http:// sent to https://: the address to give is the one it moved to.
                moved = printable(response.getheader("location"))
                raise CannotVerify(f"{where}{path} answered {response.status}, moved to {moved}: give that address")
            if response.status != 200:
                raise CannotVerify(f"{where}{path} answered {response.status}{_error_message(body)}")
            return body
        raise AssertionError("unreachable")

    def get_json(self, path: str) -> object:
        """The JSON of a 200 answer to GET `path`; CannotVerify if it is not JSON."""
        body = self.get(path)
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: JSON nested past any sense
            raise CannotVerify(f"the answer to {path} is not JSON") from None


@contextlib.contextmanager
def whole_answer_within(seconds: float) -> Iterator[None]:
    """TimeoutError once `seconds` pass: the socket's timeout bounds each read, and a service
    trickling a byte now and then would otherwise hold the verifier for ever. (Where there is no
    SIGALRM, or off the main thread, only the socket's timeout holds.)"""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"the answer took longer than {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _error_message(body: bytes) -> str:
    """': <message>' from the service's `{"error": {"code", "message"}}`, or nothing."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return ""
    return f": {printable(message)}" if isinstance(message, str) else ""


def printable(text: str) -> str:
    """Text from the service with its control characters shown as escapes: a lying service must not
    move the cursor or colour what the terminal shows (a fake "consistent")."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text[:500])


class Progress:
    """A progress bar on standard error for long logs (over PROGRESS_OVER entries)."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream = total, stream
        self.shown = total > PROGRESS_OVER
        self._percent = -1

    def update(self, done: int) -> None:
        if not self.shown or done * 100 // self.total == self._percent:
            return
        self._percent = done * 100 // self.total
        filled = done * self.WIDTH // self.total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {self._percent:3d}% {done}/{self.total} entries")
        self.stream.flush()

    def finish(self) -> None:
        if self.shown and self._percent >= 0:
            self.stream.write("\n")
            self.stream.flush()


# -- The check ------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What a consistent log showed: the checkpoint, who signed it, the count and the saved prefix."""

    origin: str
    size: int
    root: bytes
    key: str  # the verifier key whose signature verified
    retired: bool
    tally: Tally
    saved_size: int | None
    page_count: object = None  # the petition page's signature_count, when it could be read
    page_codes: object = None  # the petition page's codes_issued, when it could be read
    page_purged: object = False  # the petition page's purged_at (None: not purged), when it could be read


def fetch_keys(client: Client, petition: Petition) -> tuple[list[str], list[str]]:
    """The log's current verifier key and its retired ones: ([current], [retired...])."""
    document = client.get_json(petition.api("/log/key"))
    current = document.get("vkey") if isinstance(document, dict) else None
    retired = document.get("retired", []) if isinstance(document, dict) else None
    if not isinstance(current, str) or not isinstance(retired, list) or not all(isinstance(k, str) for k in retired):
        raise CannotVerify('the log\'s key document is not {"name", "vkey", "retired": [...]}')
    # A key is named after the address the service had when it signed (its BASE_URL); the name is
    # not held against the address given here (localhost or 127.0.0.1, a service that moved).
    for vkey in [current, *retired]:
        try:
            parse_vkey(vkey)
        except NoteError as error:
            raise Inconsistent("bad-signature", f"The log's verifier key is malformed: {error}.") from None
    return [current], retired


def fetch_checkpoint(
    client: Client, petition: Petition, current: list[str], retired: list[str]
) -> tuple[str, int, bytes, str]:
    """The latest checkpoint, verified -> (origin, size, root, the vkey that signed it)."""
    raw = client.get(petition.api(f"/petitions/{petition.slug}/checkpoint"))
    try:
        body, verified = open_note(raw.decode("utf-8"), [*current, *retired])
        origin, size, root = parse_checkpoint(body)
    except UnicodeDecodeError:
        raise Inconsistent("bad-signature", "The checkpoint is not UTF-8 text, so no signature on it holds.") from None
    except NoteError as error:
        raise Inconsistent("bad-signature", f"The checkpoint does not verify: {error}.") from None
    # The origin was fixed when the petition was published: under another host name (or before the
    # service moved) it still names this petition.
    if not origin.endswith(f"/p/{petition.slug}"):
        raise Inconsistent(
            "bad-signature", f"The checkpoint is signed for the log {origin}, not this petition's ({petition.origin})."
        )
    key = next((vkey for vkey in verified if vkey in current), verified[0])
    return origin, size, root, key


def fetch_entries(client: Client, petition: Petition, size: int, progress: Progress) -> Iterator[bytes]:
    """Entries 0 to size - 1, in pages of PAGE; Inconsistent if the log serves others or fewer."""
    start = 0
    while start < size:
        end = min(start + PAGE, size)
        page = client.get_json(petition.api(f"/petitions/{petition.slug}/log/entries?start={start}&end={end}"))
        items = page.get("entries") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise CannotVerify('the log\'s answer is not a page of entries {"entries": [...]}')
        if not items:
            raise Inconsistent(
                "root-mismatch", f"The checkpoint counts {size} entries, but the log serves only {start}."
            )
        for index, item in enumerate(items, start):
            served = item.get("index") if isinstance(item, dict) else None
            if index >= end or type(served) is not int or served != index:
                raise Inconsistent("bad-entry", f"Asked for entries {start} to {end - 1}, the log served another.")
            data = item.get("data")
            if not isinstance(data, str):
                raise Inconsistent("bad-entry", f"Entry {index} has no base64 data.")
            try:
                entry = b64decode_canonical(data)
            except ValueError as error:
                raise Inconsistent("bad-entry", f"Entry {index} is {error}.") from None
            yield entry
        start += len(items)
        progress.update(start)


def check(client: Client, petition: Petition, saved: dict | None, stderr: TextIO) -> Verdict:
    """Every check of the log against its checkpoint and the `saved` one ({"size", "root"} or None)."""
    # The petition's own page first: an address by id (…/p/<id>) is checked under its slug. Its
    # count is only compared, never trusted: the log is what is checked.
    page_count = page_codes = None
    page_purged: object = False
    try:
        petition_json = client.get_json(petition.api(f"/petitions/{petition.slug}"))
    except CannotVerify:
        petition_json = None
    if isinstance(petition_json, dict):
        page_count = petition_json.get("signature_count")
        page_codes = petition_json.get("codes_issued")
        page_purged = petition_json.get("purged_at", False)
        slug = petition_json.get("slug")
        if isinstance(slug, str) and slug != petition.slug and re.fullmatch(r"[a-z0-9-]{1,60}", slug):
            petition = Petition(petition.scheme, petition.host, petition.port, petition.service, petition.prefix, slug)
    current, retired = fetch_keys(client, petition)
    origin, size, root, key = fetch_checkpoint(client, petition, current, retired)
    saved_size, saved_root = (saved["size"], saved["root"]) if saved else (None, None)
    if saved_size is not None and saved_size > size:
        raise Inconsistent("shrunk", f"The log had {saved_size} entries when last checked, and now says it has {size}.")
    if saved_size == size and saved_root != root:
        raise Inconsistent("fork", f"The log signed two different roots for {size} entries: it was rewritten.")
    tally, tree = Tally(), CompactRange()
    prefix_root = tree.root() if saved_size == 0 else None
    progress = Progress(size, stderr)
    try:
        for index, entry in enumerate(fetch_entries(client, petition, size, progress)):
            tally.add(index, entry)
            tree.append(leaf_hash(entry))
            if tree.size == saved_size:
                prefix_root = tree.root()
    finally:
        progress.finish()
    # The root first: entries that do not make the signed root say nothing about history.
    if tree.root() != root:
        raise Inconsistent(
            "root-mismatch", f"The {size} entries the log serves do not hash to the root its checkpoint signs."
        )
    if saved_size is not None and prefix_root != saved_root:
        raise Inconsistent(
            "fork",
            f"The first {saved_size} entries are not the ones checked last time: the log rewrote its history.",
        )
    return Verdict(origin, size, root, key, key in retired, tally, saved_size, page_count, page_codes, page_purged)


# -- The state file: the checkpoint each log had when last found consistent -------------------


def load_state(path: Path) -> dict:
    """The state file's JSON `{"<origin>": {"size": n, "root": "<base64>"}}`, {} if there is none."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as error:
        raise CannotVerify(f"cannot read the state file {path}: {error}") from None
    if not isinstance(state, dict):
        raise CannotVerify(f"the state file {path} is not a JSON object of checkpoints")
    return state


def saved_checkpoint(state: dict, origin: str, path: Path) -> dict | None:
    """The checkpoint saved for `origin` as {"size": int, "root": 32 bytes}, or None."""
    if origin not in state:
        return None
    saved = state[origin]
    try:
        size, root = saved["size"], b64decode_canonical(saved["root"])
        if type(size) is not int or size < 0 or len(root) != HASH_SIZE:
            raise ValueError
    except (TypeError, KeyError, ValueError):
        raise CannotVerify(f"the state file {path} holds a malformed checkpoint for {origin}") from None
    return {"size": size, "root": root}


def save_state(path: Path, state: dict, origin: str, size: int, root: bytes) -> None:
    """Write the state with `origin`'s new checkpoint atomically: a reader sees the old file or the
    new one, never half of one, whatever happens meanwhile."""
    state = {**state, origin: {"size": size, "root": base64.b64encode(root).decode()}}
    temporary = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as handle:
            temporary = handle.name
            json.dump(state, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise CannotVerify(f"the log is consistent, but the state file {path} cannot be written: {error}") from None


# -- Delivery certificates: `--certificate FILE [URL]` ---------------------------------------

CERTIFICATE_FORMAT = "petition-delivery-certificate/v1"
CERTIFICATE_METHODS = {WORK_EMAIL: "work_email", PRINTED_CODE: "printed_code"}


@dataclass
class SignedCertificate:
    """A delivery certificate whose signature verified with the key it carries, and what it claims."""

    data: dict  # the certificate's JSON, as signed
    slug: str
    title: str
    url: str
    as_of: str
    count: int
    by_method: dict  # method byte (WORK_EMAIL, PRINTED_CODE) -> count
    codes_issued: int
    code_batches: int
    origin: str
    size: int
    root: bytes
    vkey: str
    fingerprint: str
    service: str  # BASE_URL when it was made
    purged_at: str | None  # when its identifying data was destroyed, as it says (None: not)


def key_fingerprint(public_key: bytes) -> str:
    """SHA-256 of a 32-byte Ed25519 public key in hex, in groups of four separated by spaces."""
    digest = hashlib.sha256(public_key).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def _claimed(data: object, path: tuple[str, ...], kind: type) -> object:
    """data[path[0]][path[1]]... of the type `kind`, or Inconsistent (bad-certificate) naming the field."""
    value = data
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    # type(), not isinstance: a boolean is no count.
    if type(value) is not kind or (kind is int and value < 0):  # type: ignore[operator]
        raise Inconsistent("bad-certificate", f"The certificate has no {'.'.join(path)} of the right type.")
    return value


def _text(data: object, *path: str) -> str:
    """The certificate's text field at `path` (see _claimed)."""
    return str(_claimed(data, path, str))


def _number(data: object, *path: str) -> int:
    """The certificate's whole number, 0 or more, at `path` (see _claimed)."""
    value = _claimed(data, path, int)
    assert isinstance(value, int)
    return value


EDITED = (
    "it was changed in an editor, and its signature is over the bytes as they were: download it again "
    "(or save it without changing it)"
)


def read_certificate(raw: bytes) -> SignedCertificate:
    """A certificate file's bytes -> what it claims, once checked without the network: the note's
    signature verifies (on these exact bytes, C2SP signed-note) with the key in its log.vkey; its
    log.checkpoint is signed by that key and names the log.origin, log.tree_size and log.root it
    gives; log.fingerprint is that key's; its parts name one service (see _check_service) and its
    counts agree with each other (see _check_counts). Inconsistent otherwise: bad-signature when a
    signature does not verify, bad-certificate for anything else (a file that is not a
    well-formed certificate, or whose parts disagree). Any change to any byte of a certificate
    fails one of these. What it does not show: that the key is the service's (check_certificate)."""
    if raw.startswith(b"%PDF-"):
        raise Inconsistent(
            "bad-certificate",
            "This is the certificate's PDF, which is for people: check the signed file beside it, "
            '<slug>-certificate.note (the dashboard\'s "Signed note" download).',
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Inconsistent(
            "bad-certificate", "The file is not UTF-8 text: it was changed, or is no certificate."
        ) from None
    _check_bytes(raw)
    split = text.rfind("\n\n")
    if split < 0 or text.index("\n") != split:
        raise Inconsistent(
            "bad-certificate",
            "The file is not a certificate: one line of JSON, a blank line, then signature lines (C2SP signed-note).",
        )
    try:
        data = json.loads(text[:split])
    except (ValueError, RecursionError):
        raise Inconsistent("bad-certificate", "The certificate's first line is not JSON.") from None
    if not isinstance(data, dict) or data.get("format") != CERTIFICATE_FORMAT:
        raise Inconsistent("bad-certificate", f"The file is not a delivery certificate ({CERTIFICATE_FORMAT}).")
    vkey = _text(data, "log", "vkey")
    try:
        key_name, _, public_key = parse_vkey(vkey)
    except NoteError as error:
        raise Inconsistent("bad-certificate", f"The certificate's key is malformed: {error}.") from None
    try:
        open_note(text, [vkey])
    except MalformedNote as error:
        # Not a signed note at all (a line added after the signatures, say): nothing was verified.
        raise Inconsistent("bad-certificate", f"The file is not a well-formed signed note: {error}.") from None
    except NoteError as error:
        raise Inconsistent("bad-signature", f"The certificate's signature does not verify: {error}.") from None
    # Signed: from here on, what it says is what the key's holder signed.
    if _text(data, "log", "fingerprint") != key_fingerprint(public_key):
        raise Inconsistent("bad-certificate", "The certificate's log.fingerprint is not its key's.")
    try:
        origin, size, root = parse_checkpoint(verify_note(_text(data, "log", "checkpoint"), [vkey]))
    except NoteError as error:
        raise Inconsistent(
            "bad-signature", f"The certificate's checkpoint does not verify with its key: {error}."
        ) from None
    slug = _text(data, "petition", "slug")
    if (
        origin != _text(data, "log", "origin")
        or size != _number(data, "log", "tree_size")
        or base64.b64encode(root).decode() != _text(data, "log", "root")
    ):
        raise Inconsistent("bad-certificate", "The certificate's log fields are not its checkpoint's.")
    # The origin was fixed when the petition was published (BASE_URL may have changed since), so
    # only its petition part is held against the slug.
    if not origin.endswith(f"/p/{slug}") or (size == 0 and root != EMPTY_ROOT):
        raise Inconsistent(
            "bad-certificate", f"The certificate's checkpoint is of the log {origin}, not its petition's."
        )
    service, url = _text(data, "service"), _text(data, "petition", "url")
    _check_service(service, url, slug, key_name)
    certificate = SignedCertificate(
        data=data,
        slug=slug,
        title=_text(data, "petition", "title"),
        url=url,
        as_of=_text(data, "as_of"),
        count=_number(data, "verified_count"),
        by_method={method: _number(data, "by_method", name) for method, name in CERTIFICATE_METHODS.items()},
        codes_issued=_number(data, "rules", "codes_issued"),
        code_batches=_number(data, "rules", "code_batches"),
        origin=origin,
        size=size,
        root=root,
        vkey=vkey,
        fingerprint=key_fingerprint(public_key),
        service=service,
        purged_at=_purged_at(data),
    )
    _check_counts(certificate)
    return certificate


def _check_bytes(raw: bytes) -> None:
    """Inconsistent (bad-certificate) for a file an editor saved again: Windows line endings or a
    byte-order mark, which no certificate has (its JSON escapes every control character)."""
    changes = []
    if b"\r\n" in raw:
        changes.append("Windows line endings (CR LF)")
    if raw.startswith(b"\xef\xbb\xbf"):
        changes.append("a byte-order mark (BOM) at its start")
    if changes:
        raise Inconsistent("bad-certificate", f"The file has {' and '.join(changes)}: {EDITED}.")


def _check_service(service: str, url: str, slug: str, key_name: str) -> None:
    """Inconsistent (bad-certificate) unless the certificate's parts name one service: `service` is
    an http(s) BASE_URL without a trailing slash, petition.url is `service` + /p/<slug>, and the key
    is named `service` without its scheme (as the service names its key: checkpoints.signer)."""
    try:
        parts = urlsplit(service)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.query
        or parts.fragment
        or service.endswith("/")
    ):
        raise Inconsistent("bad-certificate", f"The certificate's service {printable(service)!r} is not an address.")
    if url != f"{service}/p/{slug}":
        raise Inconsistent(
            "bad-certificate",
            f"The certificate's petition.url {printable(url)!r} is not its service's page of the petition "
            f"({printable(service)}/p/{printable(slug)}): its parts name different services.",
        )
    if key_name != f"{parts.netloc}{parts.path}":
        raise Inconsistent(
            "bad-certificate",
            f"The certificate's key is named {printable(key_name)!r}, but its service is {printable(service)} "
            "(a service names its key after its address): its parts name different services.",
        )


def _purged_at(data: dict) -> str | None:
    """petition.purged_at: null (never purged) or a time; Inconsistent (bad-certificate) otherwise."""
    petition = data.get("petition")
    value = petition.get("purged_at", False) if isinstance(petition, dict) else False
    if value is not None and type(value) is not str:
        raise Inconsistent("bad-certificate", "The certificate has no petition.purged_at of the right type.")
    return value


def _check_counts(certificate: SignedCertificate) -> None:
    """Inconsistent (bad-certificate) unless the counts agree as in every certificate the service
    makes: the verified count is the sum of its split by method (the service moves all three in one
    update, carried-over signatures included), printed-code signatures are no more than the codes
    issued (a code signs once), and a purged petition is closed. (The timeline's last cumulative is
    not held against the count: an hour's counter can fall before the opening day in a zone whose
    offset is not whole hours, so the two may differ in a genuine certificate.)"""
    work_email, printed_code = (certificate.by_method[method] for method in (WORK_EMAIL, PRINTED_CODE))
    if certificate.count != work_email + printed_code:
        raise Inconsistent(
            "bad-certificate",
            f"The certificate's verified count {certificate.count} is not the sum of its count by method "
            f"({work_email} by work email and {printed_code} by printed code): its parts disagree.",
        )
    if printed_code > certificate.codes_issued:
        raise Inconsistent(
            "bad-certificate",
            f"The certificate counts {printed_code} signatures by printed code, but only {certificate.codes_issued} "
            "codes were issued, and a code signs once: its parts disagree.",
        )
    if certificate.purged_at is not None and _text(certificate.data, "petition", "state") != "closed":
        raise Inconsistent(
            "bad-certificate",
            "The certificate says its petition's identifying data was destroyed, but not that it closed: only a "
            "closed petition is purged.",
        )


@dataclass
class CertificateVerdict:
    """What the live log showed of a certificate: its key's standing, the log's size now, the tally."""

    retired: bool
    live_size: int
    tally: Tally


def check_certificate(
    client: Client, petition: Petition, certificate: SignedCertificate, stderr: TextIO
) -> CertificateVerdict:
    """The certificate against the live log of the petition at `petition`: its key is the service's
    (current or retired), the log signed now holds the certificate's checkpoint (a consistency
    proof, RFC 9162), and its entries up to that checkpoint hash to its root and tally to its
    counts. Inconsistent (other-service, other-petition, shrunk, fork, root-mismatch,
    count-mismatch, and the log's own rules) otherwise; CannotVerify for the network."""
    found = client.get_json(petition.api(f"/petitions/{petition.slug}"))
    slug = found.get("slug") if isinstance(found, dict) else None
    if not isinstance(slug, str) or not re.fullmatch(r"[a-z0-9-]{1,60}", slug):
        raise CannotVerify("the petition's answer is not a petition's JSON")
    if slug != certificate.slug:
        raise Inconsistent(
            "other-petition",
            f"The certificate is of the petition {printable(certificate.slug)}, not of {printable(slug)}.",
        )
    petition = Petition(petition.scheme, petition.host, petition.port, petition.service, petition.prefix, slug)
    current, retired = fetch_keys(client, petition)
    mine = parse_vkey(certificate.vkey)
    if all(parse_vkey(vkey) != mine for vkey in [*current, *retired]):
        raise Inconsistent(
            "other-service",
            "The certificate is signed by a key this service does not have (neither its current key nor a "
            "retired one): it is another service's, or not genuine.",
        )
    origin, size, root, _ = fetch_checkpoint(client, petition, current, retired)
    if origin != certificate.origin:
        raise Inconsistent(
            "other-petition", f"The certificate proves the log {certificate.origin}; this petition's is {origin}."
        )
    if size < certificate.size:
        raise Inconsistent(
            "shrunk", f"The certificate's log had {certificate.size} entries; the live log says it has {size}."
        )
    if size == certificate.size and root != certificate.root:
        raise Inconsistent("fork", f"The log signed two different roots for {size} entries: it was rewritten.")
    if size > certificate.size > 0:
        answer = client.get_json(
            petition.api(f"/petitions/{slug}/log/consistency?first={certificate.size}&second={size}")
        )
        items = answer.get("proof") if isinstance(answer, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise CannotVerify('the log\'s answer is not a consistency proof {"proof": [...]}')
        try:
            verify_consistency(
                certificate.size, size, [b64decode_canonical(item) for item in items], certificate.root, root
            )
        except (ValueError, ProofError) as error:
            raise Inconsistent(
                "fork",
                f"The live log does not hold the certificate's checkpoint ({error}): its history was rewritten.",
            ) from None
    tally, tree = Tally(), CompactRange()
    progress = Progress(certificate.size, stderr)
    try:
        for index, entry in enumerate(fetch_entries(client, petition, certificate.size, progress)):
            tally.add(index, entry)
            tree.append(leaf_hash(entry))
    finally:
        progress.finish()
    if tree.root() != certificate.root:
        raise Inconsistent(
            "root-mismatch",
            f"The log's first {certificate.size} entries do not hash to the root of the certificate's checkpoint.",
        )
    _compare_counts(certificate, tally)
    return CertificateVerdict(any(parse_vkey(vkey) == mine for vkey in retired), size, tally)


def _compare_counts(certificate: SignedCertificate, tally: Tally) -> None:
    """Inconsistent (count-mismatch) unless the entries up to the checkpoint add up to what the
    certificate claims: the count, the count by method (when no count was carried over from before
    the log, whose signatures have no method in it), the printed codes and their batches, and
    whether identifying data was destroyed (petition.purged_at set exactly when the log holds the
    purge record)."""
    claims = [("verified count", certificate.count, tally.count)]
    if tally.carried_over is None:
        for method, label in METHODS.items():
            claims.append(
                (f"count by {label}", certificate.by_method[method], tally.signatures[method] - tally.withdrawn[method])
            )
    claims.append(("printed codes issued", certificate.codes_issued, tally.codes_committed))
    claims.append(("batches of printed codes", certificate.code_batches, tally.code_batches))
    for what, claimed, held in claims:
        if claimed != held:
            raise Inconsistent(
                "count-mismatch",
                f"The certificate's {what} is {claimed}, but the log up to its checkpoint holds {held}.",
            )
    # The purge stamps purged_at and appends its record in one transaction, and a certificate is
    # read in one snapshot: its checkpoint holds the record exactly when it says purged_at.
    if certificate.purged_at is not None and tally.purge_index is None:
        raise Inconsistent(
            "count-mismatch",
            f"The certificate says its petition's identifying data was destroyed ({printable(certificate.purged_at)}), "
            "but the log up to its checkpoint holds no purge record.",
        )
    if certificate.purged_at is None and tally.purge_index is not None:
        raise Inconsistent(
            "count-mismatch",
            f"The log up to the certificate's checkpoint records that identifying data was destroyed (entry "
            f"{tally.purge_index}), but the certificate does not say so (petition.purged_at is null).",
        )


def certificate_report(certificate: SignedCertificate, verdict: CertificateVerdict | None) -> list[str]:
    """A checked certificate for a journalist, line by line; the last is `signature valid for the key
    with fingerprint F, N signatures claimed; nothing ties that key to <service> ...` (without the
    live log: the signature alone) or `consistent, N signatures`."""
    name, kid, _ = parse_vkey(certificate.vkey)
    by_method = ", ".join(f"{certificate.by_method[method]} by {label}" for method, label in METHODS.items())
    lines = [
        f"Certificate: {printable(certificate.title)}",
        f"Petition: {printable(certificate.url)}",
        f"Verified count: {certificate.count} ({by_method}), as of {printable(certificate.as_of)}",
        f"Log: {printable(certificate.origin)}; tree size {certificate.size}; "
        f"root {base64.b64encode(certificate.root).decode()}",
        f"Signed by: {printable(name)} (key id {kid.hex()})",
        f"Key fingerprint: {certificate.fingerprint}",
        "The certificate's signature verifies, and so does its checkpoint's, with the key it carries.",
    ]
    if verdict is None:
        lines += [
            "Only the signature was checked: without the petition's address, nothing was compared with the "
            "live log or the service's key. Anyone can make a key and sign a certificate with it: compare the "
            "key's fingerprint with the one the service publishes (GET /api/v1/log/key, `fingerprint`), or run "
            "again with the petition's address.",
            f"signature valid for the key with fingerprint {certificate.fingerprint}, {certificate.count} "
            f"signatures claimed; nothing ties that key to {printable(certificate.service)} until checked with "
            "the petition's address or against the fingerprint the service publishes",
        ]
        return lines
    which = "a retired key of the service" if verdict.retired else "the service's current key"
    lines += [
        f"The key is {which}.",
        f"The live log holds the certificate's checkpoint: its {certificate.size} entries are the first of "
        f"the {verdict.live_size} it has now.",
        f"Those entries hash to the certificate's root and add up to its counts: {certificate.count} signatures, "
        f"{certificate.codes_issued} printed codes in {certificate.code_batches} "
        f"{'batch' if certificate.code_batches == 1 else 'batches'}.",
    ]
    if verdict.tally.purge_index is not None:
        lines.append(f"Purge: identifying data destroyed (entry {verdict.tally.purge_index}, the log's last).")
    lines.append(f"consistent, {certificate.count} signatures")
    return lines


# -- The command ----------------------------------------------------------------------------


def report(verdict: Verdict, state_path: Path) -> list[str]:
    """The verdict for a journalist, line by line; the last is `consistent, N signatures`."""
    tally = verdict.tally
    name, kid, _ = parse_vkey(verdict.key)
    which = "a retired key" if verdict.retired else "the current key"
    lines = [
        f"Log: {verdict.origin}",
        f"Tree size: {verdict.size} entries; root {base64.b64encode(verdict.root).decode()}",
        f"Signed by: {name} (key id {kid.hex()}, {which})",
    ]
    if tally.carried_over is not None:
        lines.append(f"{tally.carried_over} carried over from before the log")
    by_method = ", ".join(f"{tally.signatures[method]} by {label}" for method, label in METHODS.items())
    lines += [
        f"Signatures: {by_method}",
        f"Withdrawals: {tally.withdrawals}",
        f"Codes committed: {tally.codes_committed} in {tally.code_batches} "
        f"{'batch' if tally.code_batches == 1 else 'batches'} "
        f"({tally.signatures[PRINTED_CODE]} used)",
    ]
    if tally.purge_index is not None:
        lines.append(f"Purge: identifying data destroyed (entry {tally.purge_index}, the log's last).")
    lines.append("Every entry hashes to the signed root, and follows the log's rules.")
    if verdict.saved_size is None:
        lines.append(f"First check of this log: its checkpoint is saved in {state_path}.")
    else:
        lines.append(f"The log only grew since the last check ({verdict.saved_size} entries then, {verdict.size} now).")
    if type(verdict.page_count) is not int:
        lines.append("The petition page's count could not be read (informational).")
    elif verdict.page_count == tally.count:
        lines.append(f"The petition page shows {verdict.page_count} signatures: it agrees (informational).")
    else:
        lines.append(
            f"WARNING: the petition page shows {verdict.page_count} signatures, not the {tally.count} its log "
            "holds (a batch may have closed since this checkpoint: if it stays so, the page is wrong)."
        )
    if type(verdict.page_codes) is int and verdict.page_codes != tally.codes_committed:
        lines.append(
            f"WARNING: the petition page says {verdict.page_codes} printed codes were issued; its log commits "
            f"{tally.codes_committed}."
        )
    # The page's purged_at against the log's purge record (False: the page did not say).
    if verdict.page_purged is None and tally.purge_index is not None:
        lines.append(
            "WARNING: the petition page does not say its identifying data was destroyed; its log records "
            "that it was (a purge may have happened since the page was read)."
        )
    elif verdict.page_purged is not None and verdict.page_purged is not False and tally.purge_index is None:
        lines.append(
            "WARNING: the petition page says its identifying data was destroyed "
            f"({printable(str(verdict.page_purged))}); its log holds no record of it."
        )
    lines.append(f"consistent, {tally.count} signatures")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: 0 consistent, 1 not (a line `error: <kind>`), 2 cannot check."""
    parser = argparse.ArgumentParser(
        description="Check a petition's signature count from its transparency log, or a delivery certificate.",
        epilog="Exit status: 0 consistent, 1 the log (or certificate) does not verify, 2 it could not be checked.",
    )
    parser.add_argument(
        "url",
        metavar="URL",
        nargs="?",
        help="the petition page's address, like https://host/p/some-petition (optional with --certificate)",
    )
    parser.add_argument(
        "--state", metavar="FILE", default=DEFAULT_STATE, help=f"checkpoints of earlier runs (default {DEFAULT_STATE})"
    )
    parser.add_argument(
        "--certificate",
        metavar="FILE",
        help="check a delivery certificate (<slug>-certificate.note): its signature, and with URL, the live log",
    )
    args = parser.parse_args(argv)
    if args.certificate is not None:
        return certificate_main(Path(args.certificate).expanduser(), args.url)
    if args.url is None:
        parser.error("give the petition page's address (or --certificate FILE)")
    state_path = Path(args.state).expanduser()
    client = None
    try:
        petition = Petition.from_url(args.url)
        state = load_state(state_path)
        saved = saved_checkpoint(state, petition.origin, state_path)
        client = Client(petition)
        verdict = check(client, petition, saved, sys.stderr)
        save_state(state_path, state, verdict.origin, verdict.size, verdict.root)
    except CannotVerify as error:
        print(f"cannot verify: {error}", file=sys.stderr)
        return 2
    except Inconsistent as error:
        return not_consistent(error)
    except KeyboardInterrupt:
        print("interrupted: nothing saved", file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()
    print("\n".join(report(verdict, state_path)))
    return 0


def not_consistent(error: Inconsistent) -> int:
    """Say what did not verify (`NOT consistent: ...`, then `error: <kind>` on standard error): 1."""
    print(f"NOT consistent: {error}")
    print(f"error: {error.kind}", file=sys.stderr)
    print(str(error), file=sys.stderr)
    return 1


def certificate_main(path: Path, url: str | None) -> int:
    """`--certificate FILE [URL]`: 0 it verifies (and, with URL, the live log holds what it claims), 1 it
    does not (`error: <kind>`), 2 it could not be checked (an unreadable file, the network). Saves nothing."""
    client = None
    try:
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise CannotVerify(f"cannot read the certificate {path}: {error.strerror or error}") from None
        if not raw:
            raise CannotVerify(f"the certificate {path} is empty")
        certificate = read_certificate(raw)
        verdict = None
        if url is not None:
            petition = Petition.from_url(url)
            client = Client(petition)
            verdict = check_certificate(client, petition, certificate, sys.stderr)
    except CannotVerify as error:
        print(f"cannot verify: {error}", file=sys.stderr)
        return 2
    except Inconsistent as error:
        return not_consistent(error)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()
    print("\n".join(certificate_report(certificate, verdict)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
