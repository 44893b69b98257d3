"""Turning stored text and times into what pages show."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from markupsafe import Markup, escape

URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def paragraphs(text: str) -> Markup:
    """Plain text -> escaped HTML paragraphs with web addresses made into links; never raw HTML."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if block.strip()]
    html = []
    for block in blocks:
        escaped = str(escape(block))
        linked = URL.sub(lambda m: f'<a href="{m.group(0)}" rel="nofollow noopener">{m.group(0)}</a>', escaped)
        html.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return Markup("\n".join(html))  # noqa: S704 (every piece escaped above)


def long_date(iso_time: str | None, floor: str = "day") -> str:
    """An ISO 8601 time -> "3 June 2026" (or "3 June 2026, 14:00 UTC" for an hourly floor)."""
    if iso_time is None:
        return ""
    moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00")).astimezone(UTC)
    day = f"{moment.day} {moment:%B %Y}"
    return day if floor == "day" else f"{day}, {moment:%H:%M} UTC"
