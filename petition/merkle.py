"""Merkle tree hashing and proofs of RFC 6962, as RFC 9162 (Certificate Transparency 2.0) writes them.

Leaves are hashed as SHA-256(0x00 || entry) and interior nodes as SHA-256(0x01 || left || right);
the tree over n leaves splits at the largest power of two below n. Indexes are 0-based.

- `root(leaf_hashes)`: the tree head (MTH), 32 bytes; of no leaves, SHA-256 of nothing.
- `inclusion_proof(index, leaf_hashes)` and `consistency_proof(first, leaf_hashes)`: lists of
  32-byte hashes (RFC 9162 sections 2.1.3.1 and 2.1.4.1), computed from every leaf; the log serves
  them from stored tiles instead, and these are what that must agree with.
- `verify_inclusion` and `verify_consistency`: RFC 9162 sections 2.1.3.2 and 2.1.4.2; they raise
  ProofError, saying what failed, and return None when the proof holds. They live in verify.py,
  the journalists' verifier (one file on the standard library and `cryptography`), with
  `leaf_hash`, `node_hash` and `HASH_SIZE`, and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

# The hashing and the verification live in the verifier, which journalists download as one file;
# they are re-exported here for the log and its tests.
from .verify import (
    EMPTY_ROOT,
    HASH_SIZE,
    ProofError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree head of the leaves (MTH in RFC 9162 section 2.1.1)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = _split(len(leaf_hashes))
    return node_hash(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `leaf_hashes` (PATH, RFC 9162 2.1.3.1)."""
    if not 0 <= index < len(leaf_hashes):
        raise ProofError(f"leaf {index} is not in a tree of {len(leaf_hashes)}")
    if len(leaf_hashes) == 1:
        return []
    k = _split(len(leaf_hashes))
    if index < k:
        return [*inclusion_proof(index, leaf_hashes[:k]), root(leaf_hashes[k:])]
    return [*inclusion_proof(index - k, leaf_hashes[k:]), root(leaf_hashes[:k])]


def consistency_proof(first: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The proof that the tree of the first `first` leaves is a prefix of this one (RFC 9162 2.1.4.1)."""
    if not 0 <= first <= len(leaf_hashes):
        raise ProofError(f"a tree of {first} is not a prefix of a tree of {len(leaf_hashes)}")
    if first in (0, len(leaf_hashes)):
        return []
    return _subproof(first, leaf_hashes, True)


def _subproof(first: int, leaf_hashes: Sequence[bytes], whole: bool) -> list[bytes]:
    size = len(leaf_hashes)
    if first == size:
        return [] if whole else [root(leaf_hashes)]
    k = _split(size)
    if first <= k:
        return [*_subproof(first, leaf_hashes[:k], whole), root(leaf_hashes[k:])]
    return [*_subproof(first - k, leaf_hashes[k:], False), root(leaf_hashes[:k])]
