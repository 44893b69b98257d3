"""The in-memory rate limiter: a sliding window in constant memory per key."""

from __future__ import annotations

from petition.ratelimit import RateLimiter


def test_a_key_gets_its_limit_per_window_and_then_waits() -> None:
    limiter = RateLimiter()
    assert all(limiter.allow("k", 5, 60, at=100 + i) for i in range(5))
    assert not limiter.allow("k", 5, 60, at=106)
    assert limiter.allow("other", 5, 60, at=106), "keys are counted apart"
    assert not limiter.allow("k", 5, 60, at=130), "still the same window"
    # Half into the next window, half of the last one's hits are still in view: 2.5 of 5.
    assert [limiter.allow("k", 5, 60, at=190) for _ in range(3)] == [True, True, True]
    assert not limiter.allow("k", 5, 60, at=190)
    # Two windows later, nothing is in view.
    assert all(limiter.allow("k", 5, 60, at=400 + i) for i in range(5))


def test_the_memory_per_key_does_not_grow_with_its_hits() -> None:
    limiter = RateLimiter()
    for i in range(10_000):
        limiter.allow("busy", 1_000_000_000, 900, at=i / 1000)
    assert len(limiter._hits) == 1 and len(limiter._hits["busy"]) == 3
