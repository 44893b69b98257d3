"""Flags text that could identify a reason's author or others, before anyone approves it.

(Placeholder: returns no flags yet; the flagger proper replaces it.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FLAG_KINDS = ("email", "phone", "handle", "url", "number", "sensitive")


@dataclass(frozen=True)
class Flag:
    """One warning: `kind` is one of FLAG_KINDS; `match` the text that raised it, as written."""

    kind: str
    match: str


def flags(text: str, sensitive_words: Sequence[str] = ()) -> list[Flag]:
    """The flags `text` raises, in the order they appear in it; [] for plain text."""
    return []
