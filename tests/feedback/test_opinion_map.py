"""The opinion map: well-formed SVG with a title and a description, a dot per participant in its group's
class, no style attribute and no script, inside its box whatever the coordinates. Pure: no database."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from petition.feedback.opinion_map import describe, group_class, render

SVG = "{http://www.w3.org/2000/svg}"
STYLESHEET = Path(__file__).resolve().parents[2] / "static" / "results.css"
DOTS = [[-1.5, 0.2, "A"], [-1.4, 0.1, "A"], [-1.2, 0.3, "A"], [2.0, -0.5, "B"], [2.1, -0.4, "B"], [0.1, 3.0, None]]
GROUPS = [("A", 3), ("B", 2)]


def marks(svg: ET.Element) -> list[ET.Element]:
    """The drawn marks, dots then the legend's swatches: each a <use> of a shape, inside a <g> of its
    class (its class copied onto it here, for the tests)."""
    found = []
    for group in svg.iter(f"{SVG}g"):
        for use in group:
            assert use.tag == f"{SVG}use"
            use.set("class", group.get("class", ""))
            found.append(use)
    return found


def test_the_map_is_well_formed_svg_with_a_title_a_description_and_no_style_or_script() -> None:
    svg = ET.fromstring(render(DOTS, GROUPS, 6))

    assert svg.tag == f"{SVG}svg" and svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "map-title map-desc"
    assert svg.find(f"{SVG}title") is not None and svg.find(f"{SVG}title").get("id") == "map-title"  # type: ignore[union-attr]
    desc = svg.find(f"{SVG}desc")
    assert desc is not None and desc.get("id") == "map-desc"
    assert desc.text == describe(6, GROUPS)
    for element in svg.iter():
        assert "style" not in element.attrib, element.tag
        assert not any(name.startswith("on") for name in element.attrib), element.tag
        assert element.tag != f"{SVG}script"


def test_each_dot_is_drawn_in_its_groups_class_and_a_participant_in_no_group_is_ungrouped() -> None:
    svg = ET.fromstring(render(DOTS, GROUPS, 6))

    classes = [element.get("class") for element in marks(svg)]

    # Each dot, then one swatch per legend entry.
    assert classes == ["group-a"] * 3 + ["group-b"] * 2 + ["ungrouped"] + ["group-a", "group-b", "ungrouped"]
    legend = [element.text for element in svg.iter(f"{SVG}text")]
    assert legend == ["Group A (3)", "Group B (2)", "No group shown"]


def test_groups_differ_in_shape_as_well_as_colour() -> None:
    dots = [[float(n), float(n), letter] for n, letter in enumerate("ABCDE")]
    svg = ET.fromstring(render(dots, [(letter, 5) for letter in "ABCDE"], 25))

    by_class = {element.get("class"): element.get("href") for element in marks(svg)[:5]}

    assert [group_class(letter) for letter in "ABCDE"] == list(by_class)
    assert len(set(by_class.values())) == 5, "five different shapes"
    defined = {element.get("id") for element in svg.iter() if element.get("id")}
    assert {href.removeprefix("#") for href in by_class.values()} <= defined


def test_every_dot_stays_inside_the_map_whatever_the_coordinates() -> None:
    dots = [[x * 1000.0, -x * 0.001, "A"] for x in range(-5, 6)]
    svg = ET.fromstring(render(dots, [("A", 11)], 11))
    width, height = (float(number) for number in svg.get("viewBox", "").split()[2:])

    for element in marks(svg)[:11]:
        x, y = float(element.get("x", "")), float(element.get("y", ""))
        assert 4 <= x <= width - 4 and 4 <= y <= height - 4


def test_participants_who_all_voted_alike_sit_in_the_middle() -> None:
    svg = ET.fromstring(render([[0.0, 0.0, None]] * 5, [], 5))

    dots = marks(svg)[:5]

    assert {(dot.get("x"), dot.get("y")) for dot in dots} == {("240", "160")}
    assert "in no opinion group yet" in (svg.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]


def test_the_description_names_every_group_and_its_size() -> None:
    assert describe(312, [("A", 120), ("B", 100), ("C", 52)]).startswith(
        "312 participants in 3 opinion groups: Group A, 120 people; Group B, 100 people; Group C, 52 people."
    )


def test_text_in_the_map_is_escaped() -> None:
    assert "<script" not in render([], [("<script>", 5)], 5)
    ET.fromstring(render([], [("<&>", 5)], 5))


def test_the_stylesheet_styles_every_class_the_map_draws() -> None:
    css = STYLESHEET.read_text()
    for css_class in [*(group_class(letter) for letter in "ABCDE"), "ungrouped", "map-frame", "opinion-map"]:
        assert re.search(rf"\.{css_class}\s*[{{,]", css), css_class
