"""A check of our own for the API fuzzer: no answer ever carries traceback text."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def no_traceback_text(ctx: Any, response: Any, case: Any) -> bool | None:
    text = response.text or ""
    if "Traceback" in text or 'File "/' in text:
        raise AssertionError("the answer holds traceback text")
    return None
