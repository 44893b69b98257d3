"""Pending entries: sealed at one length per kind and petition, packed small, read back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from petition import pending
from petition.tokens import new_id, receipt_key

from .conftest import make_settings

CODE = {"signature": receipt_key("sig/v1", "r"), "method": "code", "code_batch": new_id(), "flyer": new_id()}
EMAIL = {
    "signature": receipt_key("sig/v1", "s"),
    "method": "email",
    "flyer": new_id(),
    "dedupe": {"tag": receipt_key("t", "x"), "withdraw_key": receipt_key("wd/v1", "s")},
    "attempt": receipt_key("attempt/v1", "a"),
}
NAMED = {
    **EMAIL,
    "name": {"key": receipt_key("name/v1", "s"), "name": "😀" * 80, "role": '"' * 80},
    "reason": {"key": receipt_key("reason/v1", "s"), "reason": "夜" * 500},
}


@pytest.mark.parametrize("content", [CODE, EMAIL, NAMED])
def test_an_entry_packs_small_and_reads_back_exactly(content: dict[str, object]) -> None:
    assert pending.expand(pending.compact(content)) == content


def test_content_sealed_before_it_was_packed_reads_back_as_it_is() -> None:
    legacy = {"signature": "ab" * 32, "contact": {"key": "cd" * 32, "address": "a@example.org"}}
    assert pending.expand(legacy) == legacy


def test_every_signature_entry_of_a_petition_seals_to_one_length(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    plain = {"id": new_id(), "show_names": 0, "reasons_enabled": 0}
    named = {"id": new_id(), "show_names": 1, "reasons_enabled": 1}
    for petition, contents in ((plain, [CODE, EMAIL]), (named, [CODE, EMAIL, NAMED])):
        lengths = {
            len(pending.seal(settings, kind=kind, key="k", petition=petition, content=content))
            for content in contents
            for kind in (pending.SIGNATURE, pending.WITHDRAWN)
        }
        assert len(lengths) == 1, f"one length for every entry of a petition, not {sorted(lengths)}"
