"""Logging: one format for the service and for uvicorn, and our own access log.

uvicorn's access log writes the client address and the full path with its
query string, so it is off; ours writes the route template only.
"""

from __future__ import annotations

import asyncio
import logging.config
import sys
import time
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def logging_config(level: str) -> dict[str, Any]:
    """A dictConfig for the service and uvicorn."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": FORMAT}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "petition": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            # `databases` logs every query with its arguments at DEBUG: never.
            "databases": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure_logging(level: str) -> None:
    logging.config.dictConfig(logging_config(level))


class AccessLog:
    """The access log: one line per request, written to stderr in batches.

    Formatting a log record and writing it costs about 25 µs through the
    logging module, a quarter of a whole /healthz request; collecting lines
    and writing them at most once a second (or every few kilobytes) costs about 1 µs.
    A line names the route template, never the client, the real path or the query.
    """

    FLUSH_SECONDS = 1.0
    # Writes to a pipe of up to 4096 bytes are atomic, so lines from several workers never interleave.
    PIPE_ATOMIC_BYTES = 4096

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Note one request; the line is written within a second."""
        second = int(time.time())
        if second != self._second:
            # Whole seconds: enough to read a log by, and formatted once a second.
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        line = f"{self._stamp} INFO petition.access: {method} {route} {status} {seconds * 1000:.1f}ms\n"
        if self._size + len(line) > self.PIPE_ATOMIC_BYTES:
            self.flush()
        self._lines.append(line)
        self._size += len(line)
        if self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no event loop (a synchronous caller): write now
                self.flush()

    def flush(self) -> None:
        """Write every line collected so far."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        self._size = 0
        sys.stderr.write(text)
        sys.stderr.flush()
