"""Drawing the count: the chart on the petition page and the badge, as SVG drawn on the server.

The SVG takes no script and no inline style: lines and colours come from classes in the
stylesheet (the chart) or from presentation attributes (the badge, which stands alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from .text import long_date
from .timeline import Timeline

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
CHAR_WIDTH = 7  # the badge's text, Verdana-like at 11px: about this wide per character
# The chart's labels (13px in the stylesheet): about this wide per character, erring wide, so
# labels that are judged apart never touch.
LABEL_CHAR_WIDTH = 7.5
LABEL_GAP = 12  # the least room between two labels on one line
LABEL_HEIGHT = 16  # labels whose lines are closer than this collide
# Up to this many buckets each gets a dot: with few points (one or two days) the line alone is
# a speck or a bare segment; with more, dots would crowd into a thick line.
MAX_DOTS = 31
VALUE_LIFT = 10  # a point's count is written this far above it


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Label:
    """Text at (x, y) in the SVG's units; `anchor` is SVG's text-anchor: start, middle or end."""

    x: float
    y: float
    anchor: str
    text: str


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
    dots: list[Marker] = field(default_factory=list)  # each bucket's point, its title the day and count
    x_labels: list[Label] = field(default_factory=list)  # dates under the axis, never the same one twice
    value_labels: list[Label] = field(default_factory=list)  # counts beside the dots, where they fit
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def span(self) -> str:
        """The dates the chart covers, in words: "from 3 June 2026 to 4 June 2026", or "on 3 June 2026"."""
        if self.first_label == self.last_label:
            return f"on {self.first_label}"
        return f"from {self.first_label} to {self.last_label}"


def nice_top(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 10)."""
    step = 10
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def text_width(text: str) -> float:
    """About how wide a chart label is, in the SVG's units."""
    return len(text) * LABEL_CHAR_WIDTH


def axis_text(iso_time: str, floor: str, zone: str) -> tuple[str, str]:
    """A bucket's start -> (its date, its time or ""): the chart names the zone once, beside it."""
    shown = long_date(iso_time, floor, zone)
    day, _, rest = shown.partition(", ")
    return day, rest.split(" ")[0] if rest else ""


def x_axis_labels(data: Timeline, xs: list[float], floor: str) -> list[Label]:
    """The first and last bucket's dates under the axis (one label for one bucket); the last gives
    only its time when it falls on the first's date, and is left out when the two would touch."""
    if not data.buckets:
        return []
    y = HEIGHT - BOTTOM + 24
    zone = data.time_zone
    first_day, first_time = axis_text(data.buckets[0].start, floor, zone)
    first = f"{first_day}, {first_time}" if first_time else first_day
    if len(data.buckets) == 1:
        return [Label(xs[0], y, "middle", first)]
    last_day, last_time = axis_text(data.buckets[-1].start, floor, zone)
    last = last_time if last_day == first_day else (f"{last_day}, {last_time}" if last_time else last_day)
    labels = [Label(xs[0], y, "start", first)]
    if text_width(first) + LABEL_GAP + text_width(last) <= xs[-1] - xs[0]:
        labels.append(Label(xs[-1], y, "end", last))
    return labels


def extent(label: Label) -> tuple[float, float]:
    """Where a label runs along its line: (from x, to x)."""
    width = text_width(label.text)
    start = {"start": label.x, "middle": label.x - width / 2, "end": label.x - width}[label.anchor]
    return start, start + width


def collide(one: Label, other: Label) -> bool:
    """Whether two labels would touch."""
    (a_start, a_end), (b_start, b_end) = extent(one), extent(other)
    return abs(one.y - other.y) < LABEL_HEIGHT and a_start < b_end + LABEL_GAP and b_start < a_end + LABEL_GAP


def value_labels(dots: list[Marker], counts: list[int], goal: Label | None) -> list[Label]:
    """Each dot's count above it, when every count fits between its neighbours; below it where it
    would meet the goal's label (just above the goal line, at the right end)."""
    if not dots:
        return []
    texts = [f"{count:,}" for count in counts]
    if len(dots) > 1 and max(text_width(text) for text in texts) + LABEL_GAP > dots[1].x - dots[0].x:
        return []
    labels = []
    last = len(dots) - 1
    for index, (dot, text) in enumerate(zip(dots, texts, strict=True)):
        # The ends are anchored inward, so no count runs past the plot.
        anchor = "start" if index == 0 and last else "end" if index == last and last else "middle"
        label = Label(dot.x, round(dot.y - VALUE_LIFT, 1), anchor, text)
        if goal is not None and collide(label, goal):
            label = Label(dot.x, round(dot.y + VALUE_LIFT + LABEL_HEIGHT / 2, 1), anchor, text)
        labels.append(label)
    return labels


def chart(data: Timeline, goal: int, floor: str) -> Chart:
    """One point per bucket of cumulative count, the goal line, and a marker at each milestone.

    With few buckets (a petition one or two days old) each point gets a dot and its count, and a
    single bucket stands in the middle of the chart, so there is always something to see.
    """
    counts = [item.cumulative for item in data.buckets]
    top = nice_top(max([goal, *counts, 1]))
    span_x = WIDTH - RIGHT - LEFT
    span_y = HEIGHT - BOTTOM - TOP
    step = span_x / max(len(counts) - 1, 1)
    zone = data.time_zone

    def x_of(index: int) -> float:
        return round(LEFT + span_x / 2 if len(counts) == 1 else LEFT + step * index, 1)

    def y_of(count: int) -> float:
        return round(TOP + span_y * (1 - max(count, 0) / top), 1)

    xs = [x_of(i) for i in range(len(counts))]
    index = {item.start: i for i, item in enumerate(data.buckets)}
    markers = [
        Marker(
            xs[index[event.at]],
            y_of(event.signatures or 0),
            f"{event.signatures:,} signatures{' (the goal)' if event.goal else ''}, {long_date(event.at, floor, zone)}",
        )
        for event in data.events
        if event.kind == "milestone" and event.at in index
    ]
    dots = (
        [
            Marker(x, y_of(count), f"{long_date(item.start, floor, zone)}: {count:,} signatures")
            for x, count, item in zip(xs, counts, data.buckets, strict=True)
        ]
        if len(counts) <= MAX_DOTS
        else []
    )
    goal_y = y_of(goal) if goal <= top else None
    goal_text = f"Goal: {goal:,}"
    # Where the template writes it: right-aligned at the right end, just above the goal line.
    goal_label = None if goal_y is None else Label(WIDTH - RIGHT, goal_y - 4, "end", goal_text)
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        points=" ".join(f"{x},{y_of(count)}" for x, count in zip(xs, counts, strict=True)),
        goal_y=goal_y,
        goal_label=goal_text,
        top_label=f"{top:,}",
        first_label=long_date(data.buckets[0].start, floor, zone) if data.buckets else "",
        last_label=long_date(data.buckets[-1].start, floor, zone) if data.buckets else "",
        markers=markers,
        dots=dots,
        x_labels=x_axis_labels(data, xs, floor),
        value_labels=value_labels(dots, counts, goal_label),
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
