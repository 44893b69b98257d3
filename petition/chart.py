"""Drawing the count: the chart on the petition page and the badge, as SVG drawn on the server.

The SVG takes no script and no inline style: lines and colours come from classes in the
stylesheet (the chart) or from presentation attributes (the badge, which stands alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from .text import long_date
from .timeline import Timeline

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
CHAR_WIDTH = 7  # the badge's text, Verdana-like at 11px: about this wide per character


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    """What the chart template draws, in the SVG's own units."""

    width: int
    height: int
    points: str
    goal_y: float | None
    goal_label: str
    top_label: str
    first_label: str
    last_label: str
    markers: list[Marker]
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def nice_top(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 10)."""
    step = 10
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def chart(data: Timeline, goal: int, floor: str) -> Chart:
    """One point per bucket of cumulative count, the goal line, and a marker at each milestone."""
    counts = [item.cumulative for item in data.buckets]
    top = nice_top(max([goal, *counts, 1]))
    span_x = WIDTH - RIGHT - LEFT
    span_y = HEIGHT - BOTTOM - TOP
    step = span_x / max(len(counts) - 1, 1)

    def y_of(count: int) -> float:
        return round(TOP + span_y * (1 - max(count, 0) / top), 1)

    index = {item.start: i for i, item in enumerate(data.buckets)}
    markers = [
        Marker(
            round(LEFT + step * index[event.at], 1),
            y_of(event.signatures or 0),
            f"{event.signatures:,} signatures{' (the goal)' if event.goal else ''}, {long_date(event.at, floor)}",
        )
        for event in data.events
        if event.kind == "milestone" and event.at in index
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        points=" ".join(f"{round(LEFT + step * i, 1)},{y_of(count)}" for i, count in enumerate(counts)),
        goal_y=y_of(goal) if goal <= top else None,
        goal_label=f"Goal: {goal:,}",
        top_label=f"{top:,}",
        first_label=long_date(data.buckets[0].start, floor) if data.buckets else "",
        last_label=long_date(data.buckets[-1].start, floor) if data.buckets else "",
        markers=markers,
    )


@dataclass(frozen=True)
class Badge:
    label: str
    value: str
    label_width: int
    value_width: int

    @property
    def width(self) -> int:
        return self.label_width + self.value_width


def badge(count: int) -> Badge:
    label, value = "signatures", f"{count:,}"
    return Badge(label, value, len(label) * CHAR_WIDTH + 12, len(value) * CHAR_WIDTH + 12)


def embed_code(petition_url: str, title: str) -> str:
    """The HTML another site pastes to show the badge: a link around the image, as plain text.

    Each value is escaped for the attribute it lands in, so a title holding a quote stays inside
    `alt` on the site that pastes it; the page escapes the whole snippet again to show it.
    """
    url = escape(petition_url, quote=True)
    return f'<a href="{url}"><img src="{url}/badge.svg" alt="Signatures on {escape(title, quote=True)}"></a>'
