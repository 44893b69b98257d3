"""In-memory rate limits, per process, keyed so that no client address is ever kept.

A client is known by an HMAC of its address under a random key that lives in
memory only and changes every day, so yesterday's keys cannot be tied to
addresses even by someone who reads the process's memory today.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time

from starlette.types import Scope

from .settings import Settings

DAY_SECONDS = 24 * 3600


class RateLimiter:
    """`allow(key, limit, window)` says whether one more attempt may go ahead.

    Each key keeps two counters (this window's and the last one's), and the count is the
    sliding estimate `last * (share of the last window still in view) + this`: constant
    memory per key however high a limit is raised, and no burst at a window's edge.
    """

    def __init__(self) -> None:
        # key -> [start of the current window, hits in it, hits in the window before]
        self._hits: dict[str, list[float]] = {}
        self._day = -1
        self._day_key = b""

    def allow(self, key: str, limit: int, window: float, at: float | None = None) -> bool:
        moment = time.monotonic() if at is None else at
        counters = self._hits.get(key)
        if counters is None:
            counters = self._hits[key] = [moment, 0.0, 0.0]
            if len(self._hits) > 100_000:  # forget idle keys rather than grow without bound
                self._hits = {k: v for k, v in self._hits.items() if v[0] > moment - 2 * window}
                self._hits[key] = counters
        start, current, previous = counters
        if moment - start >= window:  # move on one window, or two (nothing of it is left in view)
            previous = current if moment - start < 2 * window else 0.0
            start, current = start + window * ((moment - start) // window), 0.0
        in_view = previous * (1 - (moment - start) / window) + current
        counters[:] = [start, current, previous]
        if in_view >= limit:
            return False
        counters[1] = current + 1
        return True

    def client_key(self, scope: Scope, settings: Settings) -> str:
        """An HMAC of the client's address under today's in-memory key."""
        day = int(time.time() // DAY_SECONDS)
        if day != self._day:
            self._day, self._day_key = day, secrets.token_bytes(32)
            self._hits = {key: hits for key, hits in self._hits.items() if not key.startswith("client:")}
        address = client_address(scope, settings)
        return "client:" + hmac.digest(self._day_key, address.encode(), "sha256").hex()


def client_address(scope: Scope, settings: Settings) -> str:
    """The client's address: X-Forwarded-For's last untrusted hop when the peer is a trusted proxy."""
    peer = (scope.get("client") or ("", 0))[0]
    if not settings.trusted_proxies or not _is_trusted(peer, settings):
        return peer
    forwarded = ""
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            forwarded = value.decode("latin-1")
    # Walk from the nearest hop back; the first address that is not one of our proxies is the client.
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _is_trusted(hop, settings):
            return hop
    return peer


def _is_trusted(address: str, settings: Settings) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.trusted_proxies)
