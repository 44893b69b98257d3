"""RFC 6962 Merkle trees: the test vectors of Certificate Transparency and transparency-dev/merkle, and every
proof up to 40 leaves."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from petition import merkle

# The eight leaves of Certificate Transparency's reference tests, and the tree head of each prefix.
LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
HASHES = [merkle.leaf_hash(bytes.fromhex(leaf)) for leaf in LEAVES]
MANY = [merkle.leaf_hash(n.to_bytes(2, "big")) for n in range(40)]


def test_tree_heads_match_certificate_transparencys_vectors() -> None:
    assert merkle.root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert [merkle.root(HASHES[:size]).hex() for size in range(1, 9)] == ROOTS


def test_proofs_match_certificate_transparencys_vectors() -> None:
    path = ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]  # fmt: skip
    assert [item.hex() for item in merkle.inclusion_proof(0, HASHES)] == path
    six_to_eight = ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]  # fmt: skip
    assert [item.hex() for item in merkle.consistency_proof(6, HASHES)] == six_to_eight


def test_every_inclusion_proof_verifies_and_no_altered_one_does() -> None:
    for size in range(1, len(MANY) + 1):
        head = merkle.root(MANY[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(index, MANY[:size])
            merkle.verify_inclusion(MANY[index], index, size, proof, head)
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(MANY[index], index, size, proof, merkle.leaf_hash(b"another root"))
            if size > 1:
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(MANY[(index + 1) % size], index, size, proof, head)
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(MANY[index], index, size, proof[:-1], head)
                altered = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(MANY[index], index, size, altered, head)
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(MANY[index], index, size, [*proof, head], head)


def test_every_consistency_proof_verifies_and_no_altered_one_does() -> None:
    for second in range(1, len(MANY) + 1):
        second_root = merkle.root(MANY[:second])
        for first in range(1, second + 1):
            first_root = merkle.root(MANY[:first])
            proof = merkle.consistency_proof(first, MANY[:second])
            merkle.verify_consistency(first, second, proof, first_root, second_root)
            if 0 < first < second:
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(first, second, proof, first_root, merkle.leaf_hash(b"fork"))
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(first, second, proof, merkle.leaf_hash(b"fork"), second_root)
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(first, second, proof[:-1], first_root, second_root)


@pytest.mark.parametrize(
    ("first", "second", "proof"),
    [(3, 2, []), (2, 2, [bytes(32)]), (-1, 2, []), (1, 2, []), (1, 2, [b"short"])],
)
def test_a_proof_that_does_not_fit_its_sizes_is_refused(first: int, second: int, proof: list[bytes]) -> None:
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(first, second, proof, HASHES[0], ROOTS[1].encode())


def test_a_consistency_proof_from_the_empty_tree_is_refused() -> None:
    """Every tree extends the empty one: a verifier that took such a proof would take any second root."""
    for second in (0, 1, 5):
        with pytest.raises(merkle.ProofError, match="empty tree"):
            merkle.verify_consistency(0, second, [], merkle.EMPTY_ROOT, merkle.root(MANY[:second]))


def test_two_roots_for_one_size_is_a_fork() -> None:
    with pytest.raises(merkle.ProofError, match="two roots"):
        merkle.verify_consistency(4, 4, [], bytes.fromhex(ROOTS[3]), bytes.fromhex(ROOTS[2]))
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_proof(8, HASHES)


# transparency-dev/merkle's known answers (Apache-2.0 data, see testdata/merkle/README.md): one JSON
# file a case, `wantErr` when a correct verifier must refuse it.
VECTORS = Path(__file__).parent / "testdata" / "merkle"


def vectors(kind: str) -> list[tuple[str, dict[str, Any]]]:
    cases = sorted((VECTORS / kind).rglob("*.json"))
    return [(str(path.relative_to(VECTORS / kind)), json.loads(path.read_text())) for path in cases]


def hashes(case: dict[str, Any], key: str) -> list[bytes]:
    """A vector's list of base64 hashes (null means none)."""
    return [base64.b64decode(item) for item in case[key] or []]


INCLUSION = vectors("inclusion")
CONSISTENCY = vectors("consistency")


def test_every_vector_is_read() -> None:
    assert len(INCLUSION) + len(CONSISTENCY) == len(list(VECTORS.rglob("*.json"))) > 150
    assert any(case["proof"] is None for _, case in INCLUSION + CONSISTENCY)
    assert {case["wantErr"] for _, case in INCLUSION} == {case["wantErr"] for _, case in CONSISTENCY} == {True, False}


@pytest.mark.parametrize("case", [case for _, case in INCLUSION], ids=[name for name, _ in INCLUSION])
def test_inclusion_vectors_verify_or_are_refused(case: dict[str, Any]) -> None:
    leaf, root = base64.b64decode(case["leafHash"]), base64.b64decode(case["root"])
    arguments = (leaf, case["leafIdx"], case["treeSize"], hashes(case, "proof"), root)
    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(*arguments)
    else:
        merkle.verify_inclusion(*arguments)


@pytest.mark.parametrize("case", [case for _, case in CONSISTENCY], ids=[name for name, _ in CONSISTENCY])
def test_consistency_vectors_verify_or_are_refused(case: dict[str, Any]) -> None:
    first_root, second_root = base64.b64decode(case["root1"]), base64.b64decode(case["root2"])
    arguments = (case["size1"], case["size2"], hashes(case, "proof"), first_root, second_root)
    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(*arguments)
    else:
        merkle.verify_consistency(*arguments)
