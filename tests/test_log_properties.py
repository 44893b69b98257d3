"""The count always equals the log, whatever happens in whatever order: a stateful property test.

Hypothesis runs the service through random sequences of signing (with printed codes, and with
codes emailed to work addresses), withdrawing
(a waiting signature, or a counted one), making code batches, closing batches and restarting (a
new app on the same database: every process cache gone), and after every step checks the
promises of the log against a model of what the count must be:

- the count is the model's, and check-log finds the log (entries, tiles, checkpoints, counts) whole;
- the latest checkpoint's signature verifies, and the entries recompute to its root;
- every receipt ever counted has an inclusion proof, read from tiles, that verifies against it;
- every two checkpoints stored are consistent (a consistency proof from tiles verifies).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from starlette.applications import Starlette

from petition import accounts, log_check, merkle, tlog
from petition.batcher import close_batch
from petition.database import Database

from .conftest import BASE_URL, TEST_DATABASE_URL, Mailbox, make_settings, start_app
from .migrated import copy_migrated_sqlite, postgres_pool, with_search_path
from .test_email_signing import CODE
from .test_petitions import PETITION, bearer

pytestmark = pytest.mark.slow  # many generated histories

T = TypeVar("T")
EXAMPLES = 25
STEPS = 30
CODES_AT_FIRST = 10  # so that most runs sign from their first step


class Where:
    """Where each run's database comes from, and the event loop every coroutine runs on."""

    def __init__(self, dialect: str, folder: Path, template_dir: Path) -> None:
        self.dialect = dialect
        self.folder = folder
        self.template_dir = template_dir
        self.loop = asyncio.new_event_loop()
        self.admin: asyncpg.Connection | None = None
        self.runs = itertools.count()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def database(self) -> tuple[str, Callable[[], Coroutine[Any, Any, None]]]:
        """A migrated database of its own for one run: its URL, and what gives it back."""
        if self.dialect == "sqlite":
            path = self.folder / f"run-{next(self.runs)}.db"
            await copy_migrated_sqlite(path, self.template_dir)

            async def remove() -> None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

            return f"sqlite:///{path}", remove
        if self.admin is None:
            self.admin = await asyncpg.connect(TEST_DATABASE_URL)
        pool = await postgres_pool(self.admin, TEST_DATABASE_URL)
        schema = await pool.take(self.admin)

        async def give_back() -> None:
            assert self.admin is not None
            await pool.give_back(self.admin, schema)

        return with_search_path(TEST_DATABASE_URL, schema), give_back

    def close(self) -> None:
        if self.admin is not None:
            self.run(self.admin.close())
        self.loop.close()


def log_machine(where: Where) -> type[RuleBasedStateMachine]:
    """A state machine of one published petition on a database of its own, with a model of its count."""

    class Log(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.url, self.give_back = where.run(where.database())
            self.settings = make_settings(where.folder, database_url=self.url, log_batch_seconds=3600)
            self.app: Starlette | None = None
            self.lifespan: Any = None
            where.run(self.start())
            self.token = where.run(self.organizer())
            self.slug, self.pid = where.run(self.publish())
            self.codes: list[str] = []
            self.waiting: set[str] = set()  # accepted, not counted yet
            self.counted: set[str] = set()  # in the count
            self.leaving: set[str] = set()  # counted, withdrawn: out of the count with the next batch
            self.ever_counted: set[str] = set()
            self.methods: dict[str, str] = {}  # receipt -> how it signed
            self.addresses = itertools.count()

        async def start(self) -> None:
            self.app, self.lifespan = await start_app(self.settings)
            self.mailbox = Mailbox()
            self.app.state.sender.transport = self.mailbox

        async def stop(self) -> None:
            if self.lifespan is not None:
                await self.lifespan.__aexit__(None, None, None)
                self.app = self.lifespan = None

        @property
        def db(self) -> Database:
            assert self.app is not None
            return self.app.state.db  # type: ignore[no-any-return]

        async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("203.0.113.7", 51000))  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
                return await client.request(method, path, **kwargs)

        async def organizer(self) -> str:
            assert await accounts.create_organizer(self.db, email="log@example.org", password="x" * 20, admin=True)
            token = await accounts.create_token_for(self.db, email="log@example.org", name="tests")
            assert token
            return token

        async def publish(self) -> tuple[str, str]:
            fields = {**PETITION, "verification": ["email", "code"], "allowed_domains": ["example.com"]}
            draft = (await self.call("POST", "/api/v1/petitions", json=fields, headers=bearer(self.token))).json()
            published = await self.call("POST", f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(self.token))
            assert published.status_code == 200, published.text
            return str(draft["slug"]), str(draft["id"])

        def teardown(self) -> None:
            where.run(self.stop())
            where.run(self.give_back())

        # -- rules -----------------------------------------------------------------

        @rule(count=st.integers(min_value=1, max_value=4))
        def make_codes(self, count: int) -> None:
            answer = where.run(
                self.call(
                    "POST", f"/api/v1/petitions/{self.slug}/codes", json={"count": count}, headers=bearer(self.token)
                )
            )
            assert answer.status_code == 201, answer.text
            self.codes += answer.json()["codes"]

        @initialize()
        def print_the_first_codes(self) -> None:
            self.make_codes(CODES_AT_FIRST)

        @precondition(lambda self: self.codes)
        @rule(signers=st.integers(min_value=1, max_value=3))
        def sign(self, signers: int) -> None:
            for code in self.codes[-signers:]:
                path = f"/api/v1/petitions/{self.slug}/signatures"
                answer = where.run(self.call("POST", path, json={"code": code}))
                assert answer.status_code == 201, answer.text
                self.waiting.add(answer.json()["receipt"])
                self.methods[answer.json()["receipt"]] = "code"
            del self.codes[-signers:]

        @rule()
        def sign_by_email(self) -> None:
            receipt = where.run(self.sign_with_an_emailed_code(f"signer{next(self.addresses)}@example.com"))
            self.waiting.add(receipt)
            self.methods[receipt] = "email"

        async def sign_with_an_emailed_code(self, address: str) -> str:
            path = f"/api/v1/petitions/{self.slug}/signatures"
            attempt = (await self.call("POST", path, json={"email": address})).json()["attempt"]
            assert self.app is not None
            await self.app.state.sender.drain()
            [message] = [message for message in self.mailbox.messages if message["to"] == address]
            found = CODE.search(message["body"])
            assert found is not None
            answer = await self.call("POST", f"{path}/verify", json={"attempt": attempt, "code": found.group(1)})
            assert answer.status_code == 201, answer.text
            return str(answer.json()["receipt"])

        @precondition(lambda self: self.waiting)
        @rule(data=st.data())
        def withdraw_a_waiting_signature(self, data: st.DataObject) -> None:
            receipt = data.draw(st.sampled_from(sorted(self.waiting)))
            self.withdraw(receipt)
            self.waiting.discard(receipt)

        @precondition(lambda self: self.counted - self.leaving)
        @rule(data=st.data())
        def withdraw_a_counted_signature(self, data: st.DataObject) -> None:
            receipt = data.draw(st.sampled_from(sorted(self.counted - self.leaving)))
            self.withdraw(receipt)
            self.leaving.add(receipt)

        def withdraw(self, receipt: str) -> None:
            path = f"/api/v1/petitions/{self.slug}/signatures/withdraw"
            answer = where.run(self.call("POST", path, json={"receipt": receipt}))
            assert answer.status_code == 200, answer.text

        @rule()
        def close_the_batch(self) -> None:
            where.run(close_batch(self.db, self.settings, self.pid))
            self.counted = (self.counted | self.waiting) - self.leaving
            self.ever_counted |= self.waiting
            self.waiting, self.leaving = set(), set()

        @rule()
        def restart(self) -> None:
            where.run(self.stop())
            where.run(self.start())

        # -- invariants --------------------------------------------------------------

        @invariant()
        def the_count_is_the_models_and_the_log_is_whole(self) -> None:
            head = where.run(
                self.db.fetch_one("SELECT signature_count, log_size FROM petitions WHERE id = :p", {"p": self.pid})
            )
            assert head is not None and head["signature_count"] == len(self.counted)
            expected = f"ok {self.slug} size={head['log_size']} count={head['signature_count']}"
            assert where.run(self.verdicts()) == [expected]

        async def verdicts(self) -> list[str]:
            return [verdict.line async for verdict in log_check.check(self.db, self.settings, self.slug)]

        @invariant()
        def the_latest_checkpoint_verifies_and_the_entries_make_its_root(self) -> None:
            where.run(self.check_proofs())

        async def check_proofs(self) -> None:
            db, pid = self.db, self.pid
            keys = log_check.verifier_keys(self.settings)
            note = await db.fetch_val("SELECT log_checkpoint FROM petitions WHERE id = :p", {"p": pid})
            _, size, root = log_check.checkpoint_of(note, keys)
            rows = await db.fetch_all("SELECT data FROM log_entries WHERE petition_id = :p ORDER BY idx", {"p": pid})
            assert len(rows) == size
            assert merkle.root([merkle.leaf_hash(bytes(row["data"])) for row in rows]) == root
            reader = tlog.LogReader(db)
            for receipt in sorted(self.ever_counted):
                commit = tlog.commitment(receipt)
                index = await tlog.find(db, pid, commit)
                assert index is not None, "a counted signature has its entry"
                proof = await reader.inclusion_proof(pid, index, size)
                leaf = merkle.leaf_hash(tlog.signature_entry(self.methods[receipt], commit))
                merkle.verify_inclusion(leaf, index, size, proof, root)
            stored = await db.fetch_all(
                "SELECT size, note FROM log_checkpoints WHERE petition_id = :p ORDER BY size", {"p": pid}
            )
            heads = [log_check.checkpoint_of(row["note"], keys)[1:] for row in stored]
            for (first, first_root), (second, second_root) in itertools.combinations(heads, 2):
                if first == 0:  # the empty tree (the checkpoint at publishing) is a prefix of any
                    assert first_root == merkle.EMPTY_ROOT
                    continue
                proof = await reader.consistency_proof(pid, first, second)
                merkle.verify_consistency(first, second, proof, first_root, second_root)

    return Log


def test_the_count_always_equals_the_log_whatever_is_signed_withdrawn_batched_or_restarted(
    dialect: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    where = Where(dialect, tmp_path, tmp_path_factory.getbasetemp())
    try:
        run_state_machine_as_test(
            log_machine(where),
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        where.close()
