"""What a copy of the SQLite data folder reveals, read from its raw bytes (DESIGN.md rule 11).

An attacker holding a copy of the database file and its WAL, taken at any moment, without the
secrets, reads cell offsets in pages (SQLite writes each new cell below the ones before it, so
a cell's place records when it came) and every commit the WAL still holds. This test signs 32
times with both methods, with names, reasons, updates addresses and withdrawals, copies the
folder between commits (holding the writer, so no copy races a write), and shows with the raw
reader in `tests/sqlite_pages.py` that:

- in every signer table, the cells one batch wrote lie in the order of their keys;
- no WAL commit adds a lone signature beside a name, reason, contact, tag or spent code, and
  permanent signer rows are added only by batches of at least LOG_BATCH_MIN;
- no time finer than an hour about a signer is in the main file, and its free pages and
  freeblocks hold nothing but zeros;
- once idle for LOG_BATCH_SECONDS the WAL is empty, and withdrawn names and reasons, and names
  their signers hid, are in no file.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition.batcher import Batcher, close_batch
from petition.database import Database
from petition.feedback.join_batches import close_join_batch
from petition.settings import Settings

from .conftest import SmtpSink, make_settings, smtp_settings
from .feedback.factories import add_participant, make_round
from .feedback.test_joins import round_codes
from .sqlite_order import physical_order_follows_keys
from .sqlite_pages import Cell, Image, images_at_each_commit, read_btree_page, record_integers, row_cells, schema_roots
from .sqlite_space import FreeKind, free_regions, page_map
from .test_email_signing import ask, codes_for, verify
from .test_petitions import bearer, create

pytestmark = pytest.mark.usefixtures("organizer")

BATCH_MIN = 5
# The permanent tables a batch writes, and their indexes whose key begins with the petition then
# the table's key (so their order within a petition is the table's key order too).
SIGNER_TREES = (
    "signatures",
    "email_dedupe",
    "email_dedupe_by_petition",
    "signer_names",
    "signer_names_by_petition",
    "signer_reasons",
    "signer_reasons_by_petition",
    "signer_reasons_by_public_id",
    "signer_reasons_by_order",
    "contacts",
    "contacts_by_petition",
)
SIGNER_TABLES = (
    "signatures",
    "email_dedupe",
    "signer_names",
    "signer_reasons",
    "contacts",
    # A feedback round's participants and round dedupe tags, written by join batches.
    "round_participants",
    "round_dedupe",
)
# What a join batch writes, and the indexes whose key begins with the round then the table's key.
JOIN_TREES = ("round_participants", "round_participants_by_round", "round_dedupe", "round_dedupe_by_round")
# A reason's indexes by its public id and by its order key: both random, so the batch writes their
# cells in the order of the reason's storage key (the last column of each index record), and
# their layout may tell that random order, nothing more.
BY_TABLE_KEY = ("signer_reasons_by_public_id", "signer_reasons_by_order")
# Where a time about a signer could be: none of these may hold one finer than an hour.
TIMED_TABLES = (
    *SIGNER_TABLES,
    "signing_codes",
    "pending_signatures",
    "hourly_counts",
    "log_entries",
    "log_tiles",
    "log_checkpoints",
)
EPOCH_RANGE = range(10**9, 4 * 10**9)
# A round's tables about its participants: no time at all, not even an hour.
UNTIMED_ROUND_TREES = (
    "round_votes",
    "round_votes_by_round",
    "round_fresh_voters",
    "round_fresh_voters_by_round",
    "round_statements",
    "round_statements_by_round",
)
SENTINEL_NAME = "Zygmunt Withdrawnname"
SENTINEL_REASON = "qz-withdrawn-reason"
HIDDEN_SENTINEL_NAME = "Xaverine Hiddenlater"


@dataclass(frozen=True)
class Copy:
    """The data folder's database files at one moment, as an attacker would copy them."""

    label: str
    main: bytes
    wal: bytes
    files: dict[str, bytes]

    def image(self, *, with_wal: bool = True) -> Image:
        return Image.from_bytes(self.main, self.wal if with_wal and self.wal else None)


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpSink) -> Settings:
    """SQLite only, in a data folder of its own: the bytes on disk are what is tested (the shared
    `app` and `client` fixtures take these settings)."""
    data = tmp_path / "data"
    data.mkdir()
    return make_settings(
        data,
        database_url=f"sqlite:///{data / 'petition.db'}",
        log_batch_min=BATCH_MIN,
        outbox_retry_seconds=1,
        **smtp_settings(smtp),
    )


async def copy_folder(db: Database, settings: Settings, label: str) -> Copy:
    """Copy every file of the data folder while the writer waits between commits."""
    async with db.between_commits():
        files = {path.name: path.read_bytes() for path in Path(settings.data_dir).iterdir() if path.is_file()}
    return Copy(label, files["petition.db"], files.get("petition.db-wal", b""), files)


def key_of(tree: str, cell: Cell) -> object:
    if tree in BY_TABLE_KEY:
        return cell.record[-1]
    return cell.record[0] if tree in SIGNER_TABLES or tree in ("signing_codes", "round_codes") else tuple(cell.record)


def rows(image: Image, roots: dict[str, int], tree: str) -> dict[object, Cell]:
    return {key_of(tree, cell): cell for cell in row_cells(image, roots[tree])}


def check_batch_order(previous: Image, before: Image, after: Image, trees: tuple[str, ...] = SIGNER_TREES) -> int:
    """Assert the cells written since the `previous` batch lie, in each page, in the order of their
    keys, as the batch writing them between `before` and `after` laid them; how many pages were
    checked.

    Cells SQLite put into a freeblock that was there just `before` the batch are left out (a
    fitting freeblock is filled first, wherever it lies), and so is a tree in which the batch
    moved cells that were there already (balancing may slide cells: tests/sqlite_order.py).
    """
    roots = schema_roots(after)
    checked = 0
    earlier_map, later_map = page_map(before, roots), page_map(after, roots)
    for tree in trees:
        old = rows(before, roots, tree)
        new = rows(after, roots, tree)
        moved = any((cell.page, cell.offset) != (new[key].page, new[key].offset) for key, cell in old.items())
        if moved or set(earlier_map.pages_of(tree)) != set(later_map.pages_of(tree)):
            continue
        since = rows(previous, roots, tree)
        by_page: dict[int, list[tuple[int, object]]] = {}
        for key, cell in new.items():
            if key not in since:
                by_page.setdefault(cell.page, []).append((cell.offset, key))
        for page, cells in by_page.items():
            free = read_btree_page(before, page).freeblocks if page in earlier_map.pages_of(tree) else ()
            assert physical_order_follows_keys(cells, previous_freeblocks=free), (
                f"{tree}: the cells written since the last batch into page {page} are not in key order"
            )
            checked += len(cells) >= 2
    return checked


def check_wal_commits(copy: Copy) -> Counter[str]:
    """Assert no commit in the copy's WAL pairs one signature with one other signer row; what the commits added."""
    images = images_at_each_commit(copy.main, copy.wal)
    roots = schema_roots(images[-1])
    added_in_all: Counter[str] = Counter()
    for number, (earlier, later) in enumerate(itertools.pairwise(images), start=1):
        added: Counter[str] = Counter()
        for table in SIGNER_TABLES:
            old = rows(earlier, roots, table)
            added[table] = sum(1 for key in rows(later, roots, table) if key not in old)
        old_codes = rows(earlier, roots, "signing_codes")
        spent = sum(
            1
            for key, cell in rows(later, roots, "signing_codes").items()
            if key in old_codes and old_codes[key].record != cell.record
        )
        where = f"{copy.label}, WAL commit {number}"
        # The log's signature entries come only with their batch, never more than it counted.
        old_log = rows(earlier, roots, "log_entries")
        logged = sum(
            1
            for key, cell in rows(later, roots, "log_entries").items()
            if key not in old_log and cell.record[2][:1] == b"\x01"
        )
        assert logged <= added["signatures"], f"{where}: log entries of signatures written without their batch"
        added["log signatures"] = logged
        assert added["signatures"] == 0 or added["signatures"] >= BATCH_MIN, f"{where}: a batch below the minimum"
        others = [table for table in SIGNER_TABLES[1:] if added[table]]
        assert not others or added["signatures"], f"{where}: {others} written without a batch"
        assert not (added["signatures"] == 1 and ({added[t] for t in others} & {1} or spent == 1)), (
            f"{where}: pairs a single signature with a single row of another table"
        )
        assert not (spent and added["signatures"]), f"{where}: a code spent in the commit that writes signatures"
        added_in_all.update(added)
    return added_in_all


def check_times_and_free_space(copy: Copy) -> None:
    """Assert the main file holds no time finer than an hour about a signer, and its free pages are zeros."""
    image = copy.image(with_wal=False)
    roots = schema_roots(image)
    for found in record_integers(image, {table: roots[table] for table in TIMED_TABLES}):
        if found.value in EPOCH_RANGE:
            assert found.value % 3600 == 0, f"{copy.label}: {found.tree} holds a time finer than an hour"
    for region in free_regions(image, roots):
        if region.kind in (FreeKind.FREELIST_LEAF, FreeKind.FREEBLOCK):
            assert region.is_zero, f"{copy.label}: free space on page {region.page} holds bytes"


# Sealed columns whose lengths must not differ between rows of one kind (column index of the
# sealed text, and of what groups rows into kinds): a length that followed a name, a reason or an
# address would pair the row with the one the batch writes.
SEALED = {
    "pending_signatures": (3, lambda record: (record[1], record[2] in (0, 1))),
    "sign_attempts": (2, lambda record: record[1]),
    "contact_confirmations": (2, lambda record: None),
    "contacts": (2, lambda record: None),
    "outbox": (1, lambda record: None),
}


def check_sealed_lengths(copy: Copy) -> int:
    """Assert every sealed row of one kind has one length, in the main file and at every WAL commit;
    how many rows were compared."""
    images = [copy.image(with_wal=False), *images_at_each_commit(copy.main, copy.wal)[1:]]
    compared = 0
    for image in images:
        roots = schema_roots(image)
        for table, (column, kind_of) in SEALED.items():
            lengths: dict[object, set[int]] = {}
            for cell in row_cells(image, roots[table]):
                lengths.setdefault(kind_of(cell.record), set()).add(len(cell.record[column]))
                compared += 1
            for kind, seen in lengths.items():
                assert len(seen) == 1, f"{copy.label}: {table} rows of one kind ({kind}) have lengths {sorted(seen)}"
        for cell in row_cells(image, roots["contact_confirmations"]):
            assert cell.record[5] % 3600 == 900, f"{copy.label}: a confirmation's expiry dates its signature"
    return compared


async def test_a_copy_of_the_data_folder_orders_nothing_finer_than_a_batch_and_pairs_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str, smtp: SmtpSink, settings: Settings
) -> None:
    db: Database = app.state.db
    fields = {"verification": ["email", "code"], "allowed_domains": ["example.com"]}
    draft = (await create(client, token, show_names=True, reasons_enabled=True, **fields)).json()
    assert (await client.post(f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(token))).status_code == 200
    slug, petition_id = draft["slug"], draft["id"]
    made = await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 16}, headers=bearer(token))
    codes = made.json()["codes"]
    api = f"/api/v1/petitions/{slug}/signatures"
    copies: list[Copy] = []
    checked_pages = 0
    receipts: dict[int, str] = {}
    withdrawn_when_waiting, withdrawn_when_counted = {3, 16}, {9, 21}
    sentinels = withdrawn_when_waiting | withdrawn_when_counted
    # Names their signers hide: one still waiting (never written), one counted (its row deleted).
    hidden_when_waiting, hidden_when_counted = {5}, {14}
    hiding = hidden_when_waiting | hidden_when_counted

    async def sign(number: int) -> None:
        sentinel = number in sentinels
        extra: dict[str, object] = {}
        if number % 3 == 0 or sentinel or number in hiding:
            name = f"{SENTINEL_NAME} {number}" if sentinel else f"Colleague {number}"
            extra = {
                "name": f"{HIDDEN_SENTINEL_NAME} {number}" if number in hiding else name,
                "show_name": True,
                "reason": f"{SENTINEL_REASON} {number}" if sentinel else f"Reason number {number}",
            }
        if number % 5 == 1:
            extra["updates"] = f"home{number}@elsewhere.org"
        if number % 2:
            answer = await client.post(api, json={"code": codes[number // 2], **extra})
            assert answer.status_code == 201, answer.text
            receipts[number] = answer.json()["receipt"]
        else:
            address = f"worker{number}@example.com"
            attempt = (await ask(client, slug, address, **extra)).json()["attempt"]
            [code] = await codes_for(app, smtp, address)
            answer = await verify(client, slug, attempt, code)
            assert answer.status_code == 201, answer.text
            receipts[number] = answer.json()["receipt"]
        if "updates" in extra and number % 2:  # some confirm their updates address; its row waits for a batch
            [code] = await codes_for(app, smtp, str(extra["updates"]))
            confirm = await client.post(f"{api}/updates/confirm", json={"receipt": receipts[number], "code": code})
            assert confirm.status_code == 200

    async def withdraw(number: int) -> None:
        answer = await client.post(f"{api}/withdraw", json={"receipt": receipts[number]})
        assert answer.status_code == 200, answer.text

    async def hide_name(number: int) -> None:
        answer = await client.post(f"{api}/hide-name", json={"receipt": receipts[number]})
        assert answer.status_code == 200, answer.text

    previous = await copy_folder(db, settings, "before signing")
    for start in range(0, 32, 8):
        for number in range(start, start + 8):
            await sign(number)
            if number in withdrawn_when_waiting:
                await withdraw(number)
            if number in hidden_when_waiting:
                await hide_name(number)
        for number in withdrawn_when_counted:
            if number < start:
                await withdraw(number)
                withdrawn_when_counted = withdrawn_when_counted - {number}
        for number in hidden_when_counted:
            if number < start:
                await hide_name(number)
                hidden_when_counted = hidden_when_counted - {number}
        copies.append(accepted := await copy_folder(db, settings, f"before batch {start // 8 + 1}"))
        await close_batch(db, settings, petition_id)
        copies.append(written := await copy_folder(db, settings, f"batch {start // 8 + 1}"))
        # Every cell written since the last batch: signing in between must have written none.
        checked_pages += check_batch_order(previous.image(), accepted.image(), written.image())
        assert await db.checkpoint()
        copies.append(previous := await copy_folder(db, settings, f"after batch {start // 8 + 1}"))
    assert checked_pages >= 10, "enough pages were written by batches to judge their order"

    added: Counter[str] = Counter()
    compared = 0
    for copy in copies:
        if copy.label.startswith("batch"):
            added.update(check_wal_commits(copy))
        check_times_and_free_space(copy)
        compared += check_sealed_lengths(copy)
    assert compared >= 100, "enough sealed rows were there to compare"
    # 32 signatures; names and reasons of every third and of the four withdrawn ones (two never
    # written); email signatures' tags, less the one withdrawn after counting was written first.
    assert added["signatures"] == 32 and added["email_dedupe"] == 15 and added["contacts"] >= 2
    assert added["signer_names"] >= 10 and added["signer_reasons"] >= 10
    # Each in the log once (the withdrawn-before-their-batch ones never).
    assert 0 < added["log signatures"] < added["signatures"]

    # Idle for LOG_BATCH_SECONDS: the batcher's round checkpoints whatever happened.
    batcher = Batcher(settings)
    batcher.last_checkpoint = 0.0
    await batcher.run_once(db, clock=float(settings.log_batch_seconds))
    idle = await copy_folder(db, settings, "idle")
    assert idle.wal == b"", "the WAL holds no history once idle"
    check_times_and_free_space(idle)
    for name, data in idle.files.items():
        assert SENTINEL_NAME.encode() not in data, f"a withdrawn name is still in {name}"
        assert SENTINEL_REASON.encode() not in data, f"a withdrawn reason is still in {name}"
        assert HIDDEN_SENTINEL_NAME.encode() not in data, f"a hidden name is still in {name}"

    # The purge: what it deletes leaves zeros behind, and once it is done the WAL is empty again.
    kept = {
        table: len(rows(idle.image(), schema_roots(idle.image()), table)) for table in ("signatures", "signer_names")
    }
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    purged = await copy_folder(db, settings, "purged")
    assert purged.wal == b"", "the purge's WAL is checkpointed away"
    check_times_and_free_space(purged)
    image = purged.image()
    roots = schema_roots(image)
    for table in ("email_dedupe", "contacts", "signer_reasons", "signing_codes", "sign_attempts", "pending_signatures"):
        assert not rows(image, roots, table), f"{table} outlived the purge"
    assert {table: len(rows(image, roots, table)) for table in kept} == kept, "signatures and shown names stay"
    for name, data in purged.files.items():
        assert b"Reason number" not in data, f"an unapproved reason is still in {name}"


def check_join_commits(copy: Copy) -> Counter[str]:
    """Assert no commit in the copy's WAL writes a participant, a round dedupe tag or a spent round
    code but a join batch of at least MIN_CELL_SIZE; what the commits added."""
    images = images_at_each_commit(copy.main, copy.wal)
    roots = schema_roots(images[-1])
    added_in_all: Counter[str] = Counter()
    for number, (earlier, later) in enumerate(itertools.pairwise(images), start=1):
        added: Counter[str] = Counter()
        for table in ("round_participants", "round_dedupe", "pending_joins", "join_claims"):
            old = rows(earlier, roots, table)
            added[table] = sum(1 for key in rows(later, roots, table) if key not in old)
        old_codes = rows(earlier, roots, "round_codes")
        added["spent"] = sum(
            1
            for key, cell in rows(later, roots, "round_codes").items()
            if key in old_codes and old_codes[key].record != cell.record
        )
        where = f"{copy.label}, WAL commit {number}"
        joined = added["round_participants"]
        assert joined == 0 or joined >= BATCH_MIN, f"{where}: participants written below the minimum"
        assert joined or not (added["round_dedupe"] or added["spent"]), f"{where}: a tag or code without its batch"
        assert not (joined and (added["pending_joins"] or added["join_claims"])), f"{where}: a join beside a batch"
        added_in_all.update(added)
    return added_in_all


async def test_a_copy_of_the_data_folder_orders_participants_only_by_join_batch_and_pairs_none(
    app: Starlette, client: httpx.AsyncClient, token: str, smtp: SmtpSink, settings: Settings
) -> None:
    db: Database = app.state.db
    round_id, _ = await make_round(app, client, token)
    printed = await round_codes(app, round_id, 12)
    url = f"/api/v1/rounds/{round_id}/participants"
    copies: list[Copy] = []
    checked_pages = 0
    previous = await copy_folder(db, settings, "before joining")
    for batch in range(3):
        for number in range(8):
            if number % 2:
                answer = await client.post(url, json={"code": printed[batch * 4 + number // 2]})
            else:
                address = f"joiner{batch}-{number}@example.com"
                attempt = (await client.post(url, json={"email": address})).json()["attempt"]
                [code] = await codes_for(app, smtp, address)
                answer = await client.post(f"{url}/verify", json={"attempt": attempt, "code": code})
            assert answer.status_code == 201, answer.text
        copies.append(accepted := await copy_folder(db, settings, f"before join batch {batch + 1}"))
        assert await close_join_batch(db, settings, round_id) == 8
        copies.append(written := await copy_folder(db, settings, f"join batch {batch + 1}"))
        checked_pages += check_batch_order(previous.image(), accepted.image(), written.image(), JOIN_TREES)
        assert await db.checkpoint()
        copies.append(previous := await copy_folder(db, settings, f"after join batch {batch + 1}"))
    assert checked_pages >= 3, "enough pages were written by join batches to judge their order"
    added: Counter[str] = Counter()
    for copy in copies:
        counted = check_join_commits(copy)
        if copy.label.startswith("join batch"):  # its WAL holds every commit since the last checkpoint
            added.update(counted)
        image = copy.image()
        roots = schema_roots(image)
        for table in ("pending_joins", "join_attempts"):  # one sealed length each, whatever the method
            lengths = {len(cell.record[2]) for cell in row_cells(image, roots[table])}
            assert len(lengths) <= 1, f"{copy.label}: {table} rows of different lengths"
        joined_trees = ("round_participants", "round_dedupe", "pending_joins", "join_claims")
        timed = {table: roots[table] for table in joined_trees}
        assert not [found for found in record_integers(image, timed) if found.value in EPOCH_RANGE], copy.label
    assert added["round_participants"] == 24 and added["round_dedupe"] == 12 and added["spent"] == 12
    assert added["pending_joins"] == 24 and added["join_claims"] == 24


async def test_a_copy_of_the_data_folder_holds_no_time_about_a_vote_or_a_statement(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings
) -> None:
    db: Database = app.state.db
    round_id, ids = await make_round(app, client, token, statements=tuple(f"Seed {n}." for n in range(6)))
    url = f"/api/v1/rounds/{round_id}/statements"
    for number in range(6):
        _, held = await add_participant(db, round_id)
        for statement_id, vote in zip(ids, itertools.cycle(("agree", "disagree", "pass")), strict=False):
            answer = await client.put(f"{url}/{statement_id}/vote", json={"vote": vote}, headers=bearer(held))
            assert answer.status_code == 200
        added = await client.post(url, json={"text": f"Added by participant {number}."}, headers=bearer(held))
        assert added.status_code == 201
    for copy in (await copy_folder(db, settings, "votes in the WAL"), await copy_folder(db, settings, "checkpointed")):
        for image in (copy.image(), copy.image(with_wal=False)):
            roots = schema_roots(image)
            for found in record_integers(image, {tree: roots[tree] for tree in UNTIMED_ROUND_TREES}):
                assert found.value not in EPOCH_RANGE, f"{copy.label}: {found.tree} holds a time"
        assert await db.checkpoint()
    image = (await copy_folder(db, settings, "after")).image(with_wal=False)
    assert len(rows(image, schema_roots(image), "round_votes")) == 36, "the votes were read from the file"
