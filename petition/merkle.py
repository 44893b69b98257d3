"""Merkle tree hashing and proofs of RFC 6962, as RFC 9162 (Certificate Transparency 2.0) writes them.

Leaves are hashed as SHA-256(0x00 || entry) and interior nodes as SHA-256(0x01 || left || right);
the tree over n leaves splits at the largest power of two below n. Indexes are 0-based. This
module needs only the standard library: the journalists' verifier imports it on its own.

- `root(leaf_hashes)`: the tree head (MTH), 32 bytes; of no leaves, SHA-256 of nothing.
- `inclusion_proof(index, leaf_hashes)` and `consistency_proof(first, leaf_hashes)`: lists of
  32-byte hashes (RFC 9162 sections 2.1.3.1 and 2.1.4.1), computed from every leaf; the log serves
  them from stored tiles instead, and these are what that must agree with.
- `verify_inclusion` and `verify_consistency`: RFC 9162 sections 2.1.3.2 and 2.1.4.2; they raise
  ProofError, saying what failed, and return None when the proof holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

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


def _check_hashes(proof: Sequence[bytes]) -> None:
    if any(len(item) != HASH_SIZE for item in proof):
        raise ProofError("a proof holds 32-byte hashes")


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], tree_root: bytes) -> None:
    """ProofError unless `proof` shows the leaf hash `leaf` at `index` of the tree of `tree_size` with `tree_root`."""
    _check_hashes(proof)
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
    """ProofError unless `proof` shows the tree of `first` (with `first_root`) is a prefix of the tree of
    `second` (with `second_root`)."""
    _check_hashes(proof)
    if not 0 <= first <= second:
        raise ProofError(f"a tree of {first} cannot grow into a tree of {second}")
    if first == second or first == 0:
        if proof:
            raise ProofError("no proof is needed between these sizes")
        if first == second and first_root != second_root:
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
