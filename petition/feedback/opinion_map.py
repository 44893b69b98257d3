"""The opinion map of a round's results: an SVG drawn on the server, one dot per participant.

Each dot sits at the participant's two PCA coordinates (one scale for both axes, so distances mean the
same across and up), with its group's class: `group-a` ... `group-e` (each a colour that stays apart
in greyscale and a shape of its own, from the stylesheet) or `ungrouped` (grey) for a participant in no
reported group. No script and no style attribute (the Content-Security-Policy allows neither); a
<title> and a <desc> say in words what the dots show, and the page says it again in text.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH = 480
MAP_HEIGHT = 320
MARGIN = 12
LEGEND_ROW = 32  # the legend's rows under the map, each this high (its text is large: the map shrinks on a phone)
LEGEND_COLUMNS = 2
DOT = 4.0  # a dot's half width: a circle's radius, a square's half side
# Each group's shape, so that groups differ without colour too (a printout, colour blindness).
SHAPES = {"a": "circle", "b": "square", "c": "triangle", "d": "diamond", "e": "cross"}


def group_class(letter: str | None) -> str:
    """A group's letter ("A") -> its dots' class ("group-a"); None (in no reported group) -> "ungrouped"."""
    return "ungrouped" if letter is None else f"group-{letter.lower()}"


def describe(participants: int, groups: Sequence[tuple[str, int]]) -> str:
    """The map in words: "312 participants in 3 opinion groups: Group A, 120 people; ...", and what grey means."""
    people = f"{participants:,} participant{'' if participants == 1 else 's'}"
    if not groups:
        return f"{people}, in no opinion group yet: every dot is grey."
    listed = "; ".join(f"Group {letter}, {size:,} {'person' if size == 1 else 'people'}" for letter, size in groups)
    count = len(groups)
    return (
        f"{people} in {count} opinion group{'' if count == 1 else 's'}: {listed}. "
        "Grey dots are participants in no group shown. Dots close together voted alike."
    )


def render(dots: Sequence[Sequence[Any]], groups: Sequence[tuple[str, int]], participants: int) -> str:
    """The map's SVG text: `dots` as stored ([x, y, group letter or None], in an order that says nothing),
    `groups` (letter, size) largest first, `participants` the total. Coordinates are unitless."""
    legend = [(group_class(letter), f"Group {letter} ({size:,})") for letter, size in groups]
    if any(dot[2] is None for dot in dots):
        legend.append(("ungrouped", "No group shown"))
    rows = -(-len(legend) // LEGEND_COLUMNS)
    height = MAP_HEIGHT + rows * LEGEND_ROW + MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="opinion-map" viewBox="0 0 {WIDTH} {height}" '
        'role="img" aria-labelledby="map-title map-desc">',
        '<title id="map-title">Opinion map: each dot is a participant, placed by how they voted</title>',
        f'<desc id="map-desc">{escape(describe(participants, groups))}</desc>',
        _defs(),
        f'<rect class="map-frame" x="0.5" y="0.5" width="{WIDTH - 1}" height="{MAP_HEIGHT - 1}"/>',
    ]
    # One <g> of each class, its dots <use>s of the class's shape: a round of thousands stays small.
    by_class: dict[str, list[str]] = {}
    for x, y, letter in _placed(dots):
        by_class.setdefault(group_class(letter), []).append(
            f'<use href="#{_shape_of(group_class(letter))}" x="{round(x)}" y="{round(y)}"/>'
        )
    parts += [f'<g class="{escape(css_class)}">{"".join(uses)}</g>' for css_class, uses in by_class.items()]
    for index, (css_class, label) in enumerate(legend):
        x = MARGIN + (index % LEGEND_COLUMNS) * (WIDTH - 2 * MARGIN) / LEGEND_COLUMNS
        y = MAP_HEIGHT + (index // LEGEND_COLUMNS) * LEGEND_ROW + LEGEND_ROW / 2 + MARGIN / 2
        use = f'<use href="#{_shape_of(css_class)}" x="{_number(x + DOT)}" y="{_number(y)}"/>'
        parts.append(f'<g class="{escape(css_class)}">{use}</g>')
        parts.append(f'<text x="{_number(x + 3 * DOT)}" y="{_number(y + 7)}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _placed(dots: Sequence[Sequence[Any]]) -> list[tuple[float, float, str | None]]:
    """Dots scaled into the map's box: one scale for both axes, centred; y grows upwards as in a plot."""
    if not dots:
        return []
    xs = [float(dot[0]) for dot in dots]
    ys = [float(dot[1]) for dot in dots]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    inner_w, inner_h = WIDTH - 2 * MARGIN, MAP_HEIGHT - 2 * MARGIN
    # Everyone on one point (all voted alike) leaves no span: they sit in the middle.
    scale = min(inner_w / span_x if span_x else float("inf"), inner_h / span_y if span_y else float("inf"))
    scale = 0.0 if scale == float("inf") else scale
    centre_x, centre_y = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return [
        (WIDTH / 2 + (x - centre_x) * scale, MAP_HEIGHT / 2 - (y - centre_y) * scale, dot[2])
        for x, y, dot in zip(xs, ys, dots, strict=True)
    ]


def _shape_of(css_class: str) -> str:
    """The id of the shape a class's dots are drawn with ("map-circle", ...)."""
    return "map-" + SHAPES.get(css_class.removeprefix("group-"), "circle")


def _defs() -> str:
    """Each shape once, centred on (0, 0), unfilled: a dot's <use> takes its group's colours from its <g>."""
    a, b = DOT * 0.4, DOT * 1.2
    polygons = {
        "triangle": [(0, -DOT * 1.2), (DOT * 1.1, DOT * 0.8), (-DOT * 1.1, DOT * 0.8)],
        "diamond": [(0, -DOT * 1.3), (DOT * 1.3, 0), (0, DOT * 1.3), (-DOT * 1.3, 0)],
        # A plus-shaped cross, as a polygon so that it fills like the others.
        "cross": [
            (-a, -b),
            (a, -b),
            (a, -a),
            (b, -a),
            (b, a),
            (a, a),
            (a, b),
            (-a, b),
            (-a, a),
            (-b, a),
            (-b, -a),
            (-a, -a),
        ],
    }
    corner, side = _number(-DOT), _number(2 * DOT)
    shapes = [
        f'<circle id="map-circle" r="{_number(DOT)}"/>',
        f'<rect id="map-square" x="{corner}" y="{corner}" width="{side}" height="{side}"/>',
    ]
    for name, points in polygons.items():
        joined = " ".join(f"{_number(x)},{_number(y)}" for x, y in points)
        shapes.append(f'<polygon id="map-{name}" points="{joined}"/>')
    return f"<defs>{''.join(shapes)}</defs>"


def _number(value: float) -> str:
    """A coordinate with one decimal, no trailing zero: small SVG for a round of thousands."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text
