"""HTTP connections: uvicorn's httptools protocol with a deadline for reading request headers.

uvicorn waits for a request's headers as long as the client likes: a connection that
sends nothing, or a header a byte at a time, is held open forever, and hundreds of them
keep the event loop busy for everyone (a slowloris attack). Here every connection gets
HTTP_HEADER_TIMEOUT_SECONDS to send a request's headers, counted from the moment it opens,
and on a kept-alive connection from the first byte of its next request (the idle time
before that byte is HTTP_KEEPALIVE_SECONDS, uvicorn's own keep-alive timeout). A client
past the deadline gets 408 and its connection is closed; nobody else notices.

Production still runs behind a reverse proxy that buffers whole requests (see the README):
this deadline is what keeps the service standing when it is reached directly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

logger = logging.getLogger("petition.connections")
TIMEOUT_BODY = b"The request headers took too long to arrive.\n"
TIMEOUT_RESPONSE = b"".join(
    [
        STATUS_LINE[408],
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: " + str(len(TIMEOUT_BODY)).encode() + b"\r\n",
        b"connection: close\r\n\r\n",
        TIMEOUT_BODY,
    ]
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers are late (408)."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The first byte of a next request on a kept-alive connection (the first request's
        # deadline runs from the connection's opening).
        self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self.header_deadline is None:
            self.header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_late)

    def _disarm_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _headers_too_late(self) -> None:
        self.header_deadline = None
        if self.transport.is_closing():
            return
        # A response still being written for an earlier (pipelined) request must not be cut into.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(TIMEOUT_RESPONSE)
        logger.debug("closed a connection whose request headers were late")
        self.transport.close()


def protocol(header_timeout: float) -> Any:
    """The protocol class to give uvicorn as `http`, with its header deadline in seconds."""
    return functools.partial(HeaderDeadlineProtocol, header_timeout=header_timeout)
