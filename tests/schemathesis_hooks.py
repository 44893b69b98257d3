"""Hooks of our own for the API fuzzer: text that breaks things in every string, no traceback text.

Besides what schemathesis generates from the schema, every string of a body, a query and a
path may get a character XML forbids, a bidirectional control, a line break or a NUL put
into it, or a word too long for any line appended: the answer must still be documented
(the text rule's 422, a 404 for a path that names nothing), never a server error.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st
from hypothesis.internal import lambda_sources

_describe_lambda = lambda_sources._lambda_description


def _described_or_unknown(f: Any) -> str:
    """Hypothesis names a lambda in a strategy's repr by parsing its whole source file. Deep in
    schemathesis's nested strategies, CPython 3.11's parser can fail with "AST constructor
    recursion depth mismatch" (a SystemError): a repr is only for
    messages, so such a lambda is left unnamed instead of failing the run."""
    try:
        return _describe_lambda(f)
    except (SystemError, RecursionError):
        return "lambda: <unknown>"


lambda_sources._lambda_description = _described_or_unknown

BREAKING_CHARACTERS = (
    "\x00",  # PostgreSQL refuses it in text
    "\x01",
    "\x0b",
    "\x1f",
    "\x7f",
    "\ufffe",
    "\uffff",
    "\ufdd0",
    "\U0010ffff",
    "\u202e",  # right-to-left override
    "\u202d",
    "\u2066",  # left-to-right isolate
    "\u2069",
    "\u200f",  # right-to-left mark
    "\u061c",
    "\r",
    "\n",
    "\r\n",
    "\u2028",
)
LONG_WORDS = (
    "Arbeitszeitverlängerungsvereinbarungsentwürfe",
    "https://intranet.example.com/departments/operations/night-shift/rotas/2026/proposals/" + "x" * 30,
)


def breaking(text: str) -> st.SearchStrategy[str]:
    """The string as generated, or with a breaking character put somewhere in it, or a long word after it."""

    # Named functions, not lambdas: hypothesis describes a lambda by parsing its source, which
    # deep inside schemathesis's nested strategies trips CPython 3.11's AST recursion check.
    def insert(found: tuple[str, int]) -> str:
        character, at = found
        return text[:at] + character + text[at:]

    def append(word: str) -> str:
        return f"{text} {word}".strip()

    inserted = st.tuples(st.sampled_from(BREAKING_CHARACTERS), st.integers(0, len(text))).map(insert)
    appended = st.sampled_from(LONG_WORDS).map(append)
    return st.one_of(st.just(text), inserted, appended)


def every_string(value: Any) -> st.SearchStrategy[Any]:
    """A strategy for `value` with each string in it (keys aside) possibly broken."""
    if isinstance(value, str):
        return breaking(value)
    if isinstance(value, dict):
        return st.fixed_dictionaries({key: every_string(item) for key, item in value.items()})
    if isinstance(value, list):
        return st.tuples(*(every_string(item) for item in value)).map(list)
    return st.just(value)


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    return every_string(body)


@schemathesis.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    return every_string(query)


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy[Any]:
    return every_string(path_parameters)


@schemathesis.check
def no_traceback_text(ctx: Any, response: Any, case: Any) -> bool | None:
    body = response.content or b""  # bytes: some answers are PNG or PDF, not text
    if b"Traceback" in body or b'File "/' in body:
        raise AssertionError("the answer holds traceback text")
    return None
