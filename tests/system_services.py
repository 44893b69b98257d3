"""The only things a test may need beyond `pip install -e '.[test]'`: a PostgreSQL server, Chromium, and
the Noto fonts (flyers in Chinese, Japanese, Korean, Devanagari and emoji: large Debian packages).

Everything else a test uses ships in a Python wheel (QR decoding, PDF rendering, axe-core, the
SMTP server). A test that needs one of these services calls `need()`: outside CI it is skipped
with a one-line reason, so the README's test command passes on a fresh machine; in CI (`CI` set,
as `.ci/run` does) a missing service is a failure, never a silent skip. The suite turns any
other skip into a failure (see `conftest.py`), and `tests/test_system_services.py` lists who calls
`need()`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator
from pathlib import Path

import pytest

SKIP_PREFIX = "needs a system service:"
POSTGRESQL = "PostgreSQL (set TEST_DATABASE_URL=postgresql://…, as .ci/run does)"
CHROMIUM_PATH = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM = "Chromium (apt-get install chromium)"
NOTO = "the Noto fonts (apt-get install fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji)"
SERVICES = (POSTGRESQL, CHROMIUM, NOTO)


def need(service: str, *, there: bool) -> None:
    """Skip (outside CI) or fail (in CI) the calling test unless `service`, one of SERVICES, is there."""
    if service not in SERVICES:
        raise ValueError(f"not a system service the tests may need: {service}")
    if there:
        return
    message = f"{SKIP_PREFIX} {service}"
    if os.environ.get("CI"):
        pytest.fail(message + " (in CI every service must be there)")
    pytest.skip(message)


def chromium_is_there() -> bool:
    return Path(CHROMIUM_PATH).exists()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport]:
    """A skip for any reason but a missing system service is reported as a failure: it proves nothing."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if SKIP_PREFIX not in reason:
            report.outcome = "failed"
            report.longrepr = f"skipped for a reason other than a missing system service: {reason}"
        else:
            # One place for every such skip, so the summary folds them into one line per service.
            report.longrepr = (__file__, need.__code__.co_firstlineno, reason)
    return report
