"""A check of our own for the API fuzzer: no answer ever carries traceback text."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def no_traceback_text(ctx: Any, response: Any, case: Any) -> bool | None:
    body = response.content or b""  # bytes: some answers are PNG or PDF, not text
    if b"Traceback" in body or b'File "/' in body:
        raise AssertionError("the answer holds traceback text")
    return None
