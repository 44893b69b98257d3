"""Parameters from outside: cursors, whole numbers, days and times, each read by one function.

Query strings, path segments, form fields and JSON fields all come through here, so a
forged cursor, a number too large for a database column, `1e999`, NaN or a time without
an offset is refused with 422 and a sentence, before anything else looks at it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

from .errors import ApiError, ErrorCode

# Every whole number we store fits a signed 64-bit column; these bounds leave room for sums.
LARGEST_NUMBER = 2**53 - 1
# A form field of more digits than this is no number we take (and int() of thousands of digits is slow).
MAX_DIGITS = 15
ASCII_DIGITS = re.compile(f"[0-9]{{1,{MAX_DIGITS}}}")
MAX_CURSOR_LENGTH = 200
CURSOR_TEXT = re.compile(r"[0-9A-Za-z_~-]{1,64}")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Times are shown as ISO 8601 in UTC, which has no year after 9999.
LATEST_MOMENT = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
BAD_CURSOR = "The cursor is not one this API gave out."


def bounded(minimum: int, maximum: int) -> Any:
    """A whole-number field from minimum to maximum: never a float, a string in JSON, or a huge integer."""
    return Annotated[int, Field(strict=True, ge=minimum, le=maximum)]


def query_number(minimum: int, maximum: int) -> Any:
    """A whole number in a query string (text there, so not strict), from minimum to maximum."""
    return Annotated[int, BeforeValidator(_digits_only), Field(ge=minimum, le=maximum)]


def _digits_only(value: object) -> object:
    # pydantic alone would take "1_0", "1.0" and " 5"; a query string's number is plain digits.
    if isinstance(value, str) and not ASCII_DIGITS.fullmatch(value):
        raise ValueError(f"must be a whole number of at most {MAX_DIGITS} digits")
    return value


def form_number(raw: object) -> int | str:
    """A form field as an int when it is plain ASCII digits, else the text as typed (for a model to refuse)."""
    text = str(raw or "").strip()
    return int(text) if ASCII_DIGITS.fullmatch(text) else text


def encode_cursor(number: int, text: str) -> str:
    """A page's position (a number and an id) -> an opaque cursor."""
    return base64.urlsafe_b64encode(json.dumps([number, text]).encode()).decode().rstrip("=")


def refuse_json_constant(name: str) -> None:
    """For `json.loads(parse_constant=...)`: NaN and the infinities are no JSON (RFC 8259); ValueError."""
    raise ValueError(name)


def decode_cursor(cursor: str) -> tuple[int, str]:
    """A cursor from `encode_cursor` -> (number, id); ApiError(422) for anything else.

    Anything else: bad base64, bad JSON, NaN or infinities (`1e999`), floats, a number out of
    0..LARGEST_NUMBER, a wrong length or type, an id that is not short plain text.
    """
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise ApiError(422, BAD_CURSOR, code=ErrorCode.VALIDATION_FAILED)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw, parse_constant=refuse_json_constant, parse_float=refuse_json_constant)
    except (ValueError, binascii.Error, RecursionError):  # UnicodeDecodeError and JSONDecodeError among them
        raise ApiError(422, BAD_CURSOR, code=ErrorCode.VALIDATION_FAILED) from None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and type(value[0]) is int
        and 0 <= value[0] <= LARGEST_NUMBER
        and isinstance(value[1], str)
        and CURSOR_TEXT.fullmatch(value[1])
    ):
        raise ApiError(422, BAD_CURSOR, code=ErrorCode.VALIDATION_FAILED)
    return value[0], value[1]


def parse_day(text: str) -> date:
    """`YYYY-MM-DD` -> a date; ApiError(422) for any other shape or an impossible day."""
    message = "Give the date as YYYY-MM-DD, for example 2026-06-03."
    if not DAY.fullmatch(text):
        raise ApiError(422, message, code=ErrorCode.VALIDATION_FAILED)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(422, message, code=ErrorCode.VALIDATION_FAILED) from None


def _time_text(value: object) -> object:
    # A time is ISO 8601 text with an offset; pydantic would also read numbers as Unix times.
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 time with an offset, like 2026-06-03T17:00:00Z")
    return value


def _representable(value: datetime) -> datetime:
    if not 0 <= value.timestamp() <= LATEST_MOMENT:
        raise ValueError("must be between 1970 and the end of 9999 (UTC)")
    return value.astimezone(UTC)


# A moment in a request: ISO 8601 text with an offset (`Z` for UTC); a time without one is refused.
Moment = Annotated[AwareDatetime, BeforeValidator(_time_text), AfterValidator(_representable)]
