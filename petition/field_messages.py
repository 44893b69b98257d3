"""Field messages: a refused form, in plain words that name each field, for the page to show beside it.

pydantic's own wording ("Input should be a valid integer", "String should have at most 80
characters") names neither the field nor what to do. Each form says, per field, what it is
called and, where the field takes a number or a choice, the one sentence that tells a person
what to enter (GOV.UK Design System style: "Enter a number of codes from 1 to 5,000").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

FORM = "form"  # the key of a message about the form as a whole
UNNAMED = "This answer is not one the form takes: check it and send the form again"


@dataclass(frozen=True)
class FieldWords:
    """How a form speaks of one field: `name` starts a sentence ("Label"); `refused`, when set, is the
    whole message for a value of the wrong kind, out of range or missing ("Choose a paper size.")."""

    name: str
    refused: str | None = None


def field_messages(error: ValidationError, fields: Mapping[str, FieldWords]) -> dict[str, str]:
    """A model's refusal -> {field: one sentence naming it}, the first problem of each field.

    A problem of no one field (the model's own check) is under FORM. Never echoes the value sent.
    """
    messages: dict[str, str] = {}
    for item in error.errors(include_url=False, include_input=False):
        field = str(item["loc"][0]) if item["loc"] else FORM
        words = fields.get(field)
        messages.setdefault(field, sentence(_message(item, words)))
    return messages


def _message(item: dict, words: FieldWords | None) -> str:
    kind, context = item["type"], item.get("ctx") or {}
    # Our own rules already speak in plain words ("must not hold ...", "must be in the future").
    own = str(item["msg"]).removeprefix("Value error, ")
    if words is None:
        # A field the form does not name: our own rules' words, or never pydantic's ("Input should be ...").
        return own if kind in ("text", "value_error") else UNNAMED
    if kind == "value_error" and own[:1].isupper():  # a whole sentence already ("Enter one plain email address")
        return own
    if kind == "text" or kind == "value_error":
        return f"{words.name} {own}"
    if kind == "string_too_long":
        return f"{words.name} must be {context['max_length']:,} characters or fewer"
    if kind == "too_long":
        return f"{words.name} takes at most {context['max_length']:,}"
    if words.refused:
        return words.refused
    if kind in ("missing", "string_too_short"):
        return f"Enter {words.name[0].lower()}{words.name[1:]}"
    return f"{words.name} is not valid"


def sentence(text: str) -> str:
    """Text -> a sentence: a capital first letter and a full stop."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")
