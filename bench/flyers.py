"""Flyer drawing times: a one-page poster PDF, a 10-tab tear-off sheet, a 100-copy tear-off batch.

    .venv/bin/python bench/flyers.py [--repeat 5]

Each is drawn as the service draws it (layouts in flyers/ typeset by Typst, parts of ten sheets
joined by pypdf), with QR codes beside a bare one (the library choosing the mask, and a fixed mask
as the tabs use), on one core, the median of a few runs; the PDF's size beside each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qrcode

from petition import flyers

TEXT = flyers.FlyerText(
    title="Safe staffing on every ward",
    summary="Two nurses on every night shift, on every ward of the trust.",
    target="The hospital board",
    url="https://petitions.example.org/f/K7Q2MXY4",
    short_url="petitions.example.org/f/K7Q2MXY4",
    goal=1500,
)


def tabs(count: int) -> list[flyers.Tab]:
    codes = [f"ABCD-EFGH-JKMN-{n:04d}" for n in range(count)]
    return [
        flyers.Tab(code, f"https://petitions.example.org/p/safe-staffing-on-every-ward?code={code}") for code in codes
    ]


def median_ms(work: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The median time of `repeat` runs, in milliseconds, and what the last run made."""
    times = []
    made: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        made = work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), made


def one_qr(mask: int | None) -> None:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, mask_pattern=mask)
    code.add_data(tabs(1)[0].url)
    code.make(fit=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    per_page = flyers.tabs_per_page("tearoff")
    poster = flyers.Flyer("poster", "a4", TEXT)
    sheet = flyers.Flyer("tearoff", "a4", TEXT, tabs=tabs(per_page))
    batch = flyers.Flyer("tearoff", "a4", TEXT, copies=100, tabs=tabs(100 * per_page))
    flyers.to_pdf(poster)  # the fonts are read once per process, before the first flyer
    rows = [
        ("QR code, mask chosen by the library", *median_ms(lambda: one_qr(None), 50)),
        ("QR code, fixed mask (the tabs)", *median_ms(lambda: one_qr(flyers.QUICK_MASK), 50)),
        ("poster PDF, one page", *median_ms(lambda: flyers.to_pdf(poster), args.repeat)),
        ("poster PNG, 150 dpi", *median_ms(lambda: flyers.to_png(poster), args.repeat)),
        (f"tear-off sheet PDF, {per_page} tabs", *median_ms(lambda: flyers.to_pdf(sheet), args.repeat)),
        ("tear-off batch PDF, 100 copies", *median_ms(lambda: flyers.to_pdf(batch), 1)),
    ]
    print("| drawing | time | size |\n| --- | ---: | ---: |")
    for label, ms, made in rows:
        size = f"{len(made) / 1024:,.0f} KiB" if isinstance(made, bytes) else ""
        print(f"| {label} | {ms:,.1f} ms | {size} |")


if __name__ == "__main__":
    main()
