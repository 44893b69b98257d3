"""Organizer passwords: the policy, and argon2id hashing that cannot exhaust memory."""

from __future__ import annotations

import asyncio
import secrets
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "common_passwords.txt"
# OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """None when a new password is acceptable, else the reason to show beside the field."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters; a few unrelated words make a strong one."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if password.lower() in common_passwords():
        return "That is one of the most common passwords; choose another."
    return None


def new_password_errors(password: str, again: str) -> dict[str, str]:
    """Field -> problem, for a new password typed twice."""
    if problem := password_problem(password):
        return {"password": problem}
    if password != again:
        return {"password_again": "The two passwords differ."}
    return {}


class PasswordHashing:
    """argon2id in worker threads, at most `concurrency` at once (each takes 19 MiB)."""

    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(HASHER.hash, password)

    async def prepare(self) -> None:
        """Make the stand-in hash that unknown accounts are checked against."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; with no stored hash, spends the same time and says no."""
        # Always check a hash, in the same time, to prevent email enumeration.
        if self._dummy is None:
            await self.prepare()
        async with self._slots:
            try:
                matched = await asyncio.to_thread(HASHER.verify, stored or self._dummy, password)
            except (VerificationError, InvalidHashError):
                return False
        return matched and stored is not None
