"""The votes workload of bench/run.py: a feedback round made straight in the database, and a wrk script
that votes with its participants' tokens.

The round (on an open petition), its STATEMENTS approved statements and its PARTICIPANTS participants
are written as the round's own code and a join batch would leave them (random ids and keys, token
hashes), through the service's Database class, so SQLite and PostgreSQL are seeded alike. Each
request of the script is one participant's vote (random participant, statement and word): mostly
first votes, some changed ones, as a busy round sees.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATEMENTS = 200
PARTICIPANTS = 2000


def seed_round(database_url: str, slug: str, folder: Path, name: str) -> Path:
    """A round on the petition `slug` with STATEMENTS statements and PARTICIPANTS participants; the path
    of a file whose first line is the round id, then the statement ids, a blank line, then the tokens."""
    sys.path.insert(0, str(ROOT))
    from petition.database import Database, Transaction, now  # the server's own modules, only here
    from petition.feedback import participants
    from petition.tokens import new_id

    round_id = new_id()
    statement_ids = [new_id() for _ in range(STATEMENTS)]
    tokens = [participants.new_token() for _ in range(PARTICIPANTS)]

    async def seed() -> None:
        db = Database(database_url)
        await db.connect()
        try:
            petition = await db.fetch_one("SELECT id FROM petitions WHERE slug = :slug", {"slug": slug})
            organizer = await db.fetch_val("SELECT id FROM organizers ORDER BY id LIMIT 1")
            assert petition is not None and organizer is not None

            async def unit(tx: Transaction) -> None:
                moment = now()
                await tx.execute(
                    "INSERT INTO rounds (id, petition_id, question, description, state, allow_statements, "
                    "moderate_statements, results, closes_at, created_by, created_at, opened_at, closed_at, "
                    "participant_count) VALUES (:id, :petition_id, 'What would be fair?', 'A benchmark round.', "
                    "'open', 1, 1, 'public', NULL, :organizer, :now, :now, NULL, :count)",
                    {"id": round_id, "petition_id": petition["id"], "organizer": organizer, "now": moment, "count": 0},
                )
                await tx.execute_many(
                    "INSERT INTO round_statements (id, round_id, text, status, seed, votes) "
                    "VALUES (:id, :round_id, :text, 'approved', 1, 0)",
                    [
                        {"id": sid, "round_id": round_id, "text": f"Benchmark statement number {number}."}
                        for number, sid in enumerate(sorted(statement_ids))
                    ],
                )
                await tx.execute_many(
                    "INSERT INTO round_participants (participant_key, round_id, token_hash) "
                    "VALUES (:key, :round_id, :hash)",
                    sorted(
                        ({"key": secrets.token_hex(16), "round_id": round_id, "hash": participants.token_hash(token)}
                         for token in tokens),
                        key=lambda row: row["key"],
                    ),
                )  # fmt: skip
                counted = {"count": len(tokens), "id": round_id}
                await tx.execute("UPDATE rounds SET participant_count = :count WHERE id = :id", counted)

            await db.write(unit)
        finally:
            await db.disconnect()

    asyncio.run(seed())
    path = folder / f"{name}-round.txt"
    path.write_text("\n".join([round_id, *statement_ids, "", *tokens]) + "\n")
    return path


def vote_script(folder: Path, name: str, seeded: Path) -> Path:
    """A wrk Lua script: at every request, a random participant votes a random word on a random statement."""
    script = folder / f"{name}.lua"
    script.write_text(
        "local round_id, statements, tokens = nil, {}, {}\n"
        "local list = statements\n"
        f'for line in io.lines("{seeded}") do\n'
        "  if round_id == nil then round_id = line\n"
        '  elseif line == "" then list = tokens\n'
        "  else list[#list + 1] = line end\n"
        "end\n"
        'local words = {"agree", "disagree", "pass"}\n'
        "request = function()\n"
        "  local path = string.format('/api/v1/rounds/%s/statements/%s/vote', round_id,\n"
        "    statements[math.random(#statements)])\n"
        '  local body = string.format(\'{"vote": "%s"}\', words[math.random(3)])\n'
        '  return wrk.format("PUT", path, {["Content-Type"] = "application/json",\n'
        '    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]}, body)\n'
        "end\n"
    )
    return script
