"""The chart drawn on the server: something to see from the first day, labels that never collide or repeat a date."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette

from petition import chart
from petition.chart import Label, collide
from petition.timeline import Timeline, TimelineBucket, TimelineEvent

from .test_petitions import published
from .test_timeline import SVG, midnight, seed

pytestmark = pytest.mark.usefixtures("organizer")


def timeline(starts: list[str], counts: list[int], *, bucket: str = "day", zone: str = "UTC") -> Timeline:
    buckets = [
        TimelineBucket(start=start, signed=count, withdrawn=0, invalidated=0, cumulative=count)
        for start, count in zip(starts, counts, strict=True)
    ]
    return Timeline(
        bucket=bucket,  # type: ignore[arg-type]
        floor=bucket,  # type: ignore[arg-type]
        time_zone=zone,
        as_of=starts[-1],
        buckets=buckets,
        events=[TimelineEvent(kind="opened", at=starts[0])],
    )


def no_two_collide(labels: list[Label]) -> bool:
    return not any(collide(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :])


def test_one_day_of_data_draws_a_dot_with_its_count_in_the_middle_and_its_date_once() -> None:
    drawing = chart.chart(timeline(["2026-06-03T00:00:00Z"], [12]), goal=100, floor="day")
    assert [(dot.x, dot.y) for dot in drawing.dots] == [(chart.LEFT + (640 - 16 - 64) / 2, drawing.dots[0].y)]
    assert drawing.dots[0].label == "3 June 2026: 12 signatures"
    assert [label.text for label in drawing.value_labels] == ["12"]
    assert [(label.text, label.anchor) for label in drawing.x_labels] == [("3 June 2026", "middle")]
    assert drawing.span == "on 3 June 2026", "the description names the day once"


def test_two_days_of_data_draw_two_dots_each_with_its_count_and_two_different_dates() -> None:
    drawing = chart.chart(timeline(["2026-06-03T00:00:00Z", "2026-06-04T00:00:00Z"], [12, 40]), goal=100, floor="day")
    assert len(drawing.dots) == 2 and drawing.dots[0].x == chart.LEFT and drawing.dots[1].x == 640 - chart.RIGHT
    assert [label.text for label in drawing.value_labels] == ["12", "40"]
    assert [label.text for label in drawing.x_labels] == ["3 June 2026", "4 June 2026"]
    assert no_two_collide(drawing.x_labels) and no_two_collide(drawing.value_labels)


def test_hours_of_one_day_name_the_date_once_and_then_only_the_time() -> None:
    starts = ["2026-06-03T14:00:00+09:00", "2026-06-03T15:00:00+09:00"]
    drawing = chart.chart(timeline(starts, [5, 9], bucket="hour", zone="Asia/Tokyo"), goal=100, floor="hour")
    assert [label.text for label in drawing.x_labels] == ["3 June 2026, 14:00", "15:00"]
    hours_across_midnight = ["2026-06-03T23:00:00Z", "2026-06-04T00:00:00Z"]
    drawing = chart.chart(timeline(hours_across_midnight, [5, 9], bucket="hour"), goal=100, floor="hour")
    assert [label.text for label in drawing.x_labels] == ["3 June 2026, 23:00", "4 June 2026, 00:00"]


@pytest.mark.parametrize("days", [1, 2, 3, 7, 30, 31, 32, 400])
def test_the_axis_never_shows_one_date_twice_and_no_labels_collide(days: int) -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    starts = [(first + timedelta(days=n)).isoformat().replace("+00:00", "Z") for n in range(days)]
    counts = [n * 1_000_003 for n in range(days)]  # wide counts
    drawing = chart.chart(timeline(starts, counts), goal=10, floor="day")
    texts = [label.text for label in drawing.x_labels]
    assert len(texts) == len(set(texts)) >= 1
    assert no_two_collide(drawing.x_labels) and no_two_collide(drawing.value_labels)
    assert len(drawing.dots) == (days if days <= chart.MAX_DOTS else 0)
    for label in drawing.value_labels:
        start, end = chart.extent(label)
        assert start >= chart.LEFT and end <= 640 - chart.RIGHT, "every count stays inside the plot"


def test_a_count_beside_the_goal_label_moves_below_its_dot() -> None:
    drawing = chart.chart(timeline(["2026-06-03T00:00:00Z", "2026-06-04T00:00:00Z"], [10, 100]), goal=100, floor="day")
    assert drawing.goal_y is not None
    goal = Label(640 - chart.RIGHT, drawing.goal_y - 4, "end", drawing.goal_label)
    last = drawing.value_labels[-1]
    assert not collide(last, goal) and last.y > drawing.dots[-1].y, "written under its dot"


async def test_a_petition_opened_today_shows_a_dot_its_count_and_todays_date_once_on_its_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token, goal=50)
    await seed(app, slug, midnight(0), {midnight(0): (7, 0)})
    page = (await client.get(f"/p/{slug}")).text
    svg = ET.fromstring(re.search(r"<svg viewBox.*?</svg>", page, re.S).group(0))  # type: ignore[union-attr]
    dots = svg.findall(f"{SVG}circle[@class='point']")
    assert len(dots) == 1 and float(dots[0].get("cx") or 0) > chart.LEFT, "a dot, not a line of no length"
    texts = [text.text for text in svg.findall(f"{SVG}text")]
    today = datetime.now(UTC)
    assert texts.count(f"{today.day} {today:%B %Y}") == 1, "today's date under the axis once"
    assert "7" in texts, "the count beside its dot"
    desc = svg.find(f"{SVG}desc")
    assert desc is not None and f"by day, on {today.day} {today:%B %Y}." in (desc.text or "")
