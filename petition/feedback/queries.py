"""The SQL of feedback rounds, in one place: `:named` parameters, SQL that SQLite and PostgreSQL both accept.

Sections follow the modules that use them: rounds, codes, joins, votes and statements, results, organizer
pages, purge.
"""

from __future__ import annotations

# --- rounds -------------------------------------------------------------------------------------

ROUND_COLUMNS = """id, petition_id, question, description, state, allow_statements, moderate_statements, results,
closes_at, created_by, created_at, opened_at, closed_at, participant_count"""
SELECT_ROUND = f"SELECT {ROUND_COLUMNS} FROM rounds WHERE id = :id"
SELECT_ROUND_PETITION = "SELECT petition_id FROM rounds WHERE id = :id"

SELECT_PARTICIPANT_BY_TOKEN = "SELECT participant_key, round_id FROM round_participants WHERE token_hash = :token_hash"

# A round's row with its statements' counts (the round_statements_by_round index answers both).
ROUND_VIEW_COLUMNS = f"""{ROUND_COLUMNS},
(SELECT COUNT(*) FROM round_statements s WHERE s.round_id = rounds.id AND s.status = 'approved') AS approved,
(SELECT COUNT(*) FROM round_statements s WHERE s.round_id = rounds.id AND s.status = 'waiting') AS waiting"""
SELECT_ROUND_VIEW = f"SELECT {ROUND_VIEW_COLUMNS} FROM rounds WHERE id = :id"
# A petition's rounds, newest first; `:drafts` 0 leaves its drafts out (the public's list).
SELECT_PETITION_ROUNDS = f"""
SELECT {ROUND_VIEW_COLUMNS} FROM rounds
WHERE petition_id = :petition_id AND (:drafts = 1 OR state <> 'draft')
ORDER BY created_at DESC, id
"""
INSERT_ROUND = """
INSERT INTO rounds (id, petition_id, question, description, state, allow_statements, moderate_statements, results,
                    closes_at, created_by, created_at)
VALUES (:id, :petition_id, :question, :description, 'draft', :allow_statements, :moderate_statements, :results,
        :closes_at, :created_by, :created_at)
"""
INSERT_SEED_STATEMENT = """
INSERT INTO round_statements (id, round_id, text, status, seed, votes) VALUES (:id, :round_id, :text, 'approved', 1, 0)
"""
# A draft's seed list is replaced whole; nothing else of a draft has votes or participants' statements.
DELETE_SEED_STATEMENTS = "DELETE FROM round_statements WHERE round_id = :round_id AND seed = 1"


def update_round(assignments: str) -> str:
    """Change a draft round's fields (`name = :name, ...`, from RoundUpdate's own names); returns its id."""
    return f"UPDATE rounds SET {assignments} WHERE id = :id AND state = 'draft' RETURNING id"


# Checked in the write: the petition must be open right now (as petitions' OPEN_AT_NOW), and the
# round still a draft with something to vote on (an approved statement, or participants' own).
OPEN_ROUND = """
UPDATE rounds SET state = 'open', opened_at = :now
WHERE id = :id AND state = 'draft'
  AND (closes_at IS NULL OR closes_at > :now)
  AND (allow_statements = 1 OR EXISTS (
      SELECT 1 FROM round_statements s WHERE s.round_id = rounds.id AND s.status = 'approved'))
  AND EXISTS (
      SELECT 1 FROM petitions p WHERE p.id = rounds.petition_id
        AND p.state = 'open' AND (p.closes_at IS NULL OR p.closes_at > :now) AND p.purged_at IS NULL)
RETURNING id
"""
CLOSE_ROUND = """
UPDATE rounds SET state = 'closed', closed_at = :closed_at WHERE id = :id AND state = 'open' RETURNING id
"""
# Open rounds that no longer take anything: their close time passed, or their petition is not open.
SELECT_ROUNDS_DUE = """
SELECT r.id, r.petition_id, r.closes_at, r.opened_at, p.state AS petition_state, p.closes_at AS petition_closes_at,
       p.closed_at AS petition_closed_at, p.purged_at AS petition_purged_at
FROM rounds r JOIN petitions p ON p.id = r.petition_id
WHERE r.state = 'open'
  AND ((r.closes_at IS NOT NULL AND r.closes_at <= :now)
       OR NOT (p.state = 'open' AND (p.closes_at IS NULL OR p.closes_at > :now) AND p.purged_at IS NULL))
ORDER BY r.id
"""

# --- codes --------------------------------------------------------------------------------------

INSERT_ROUND_CODE_BATCH = """
INSERT INTO round_code_batches (id, round_id, label, size, created_by, created_at, plaintext)
VALUES (:id, :round_id, :label, :size, :created_by, :created_at, :plaintext)
"""


def insert_round_codes(count: int) -> str:
    """One INSERT of `count` round codes, with parameters :h0 ... and :batch_id."""
    rows = ", ".join(f"(:h{i}, :batch_id, 0)" for i in range(count))
    return f"INSERT INTO round_codes (code_hash, batch_id, state) VALUES {rows}"


SELECT_ROUND_CODE_BATCHES = """
SELECT id, label, size, used, created_at, downloaded_at, revoked_at, plaintext IS NOT NULL AS downloadable
FROM round_code_batches WHERE round_id = :round_id
ORDER BY created_at DESC, id
"""
SELECT_ROUND_CODE_BATCH = """
SELECT id, label, size, used, created_at, downloaded_at, revoked_at, plaintext IS NOT NULL AS downloadable
FROM round_code_batches WHERE id = :id AND round_id = :round_id
"""
# The one download, as for petitions' codes: read, then forget; only the UPDATE that returns a row hands it out.
SELECT_ROUND_CODE_BATCH_PLAINTEXT = """
SELECT plaintext, label FROM round_code_batches WHERE id = :id AND round_id = :round_id AND plaintext IS NOT NULL
"""
FORGET_ROUND_CODE_BATCH_PLAINTEXT = """
UPDATE round_code_batches SET plaintext = NULL, downloaded_at = :now
WHERE id = :id AND round_id = :round_id AND plaintext IS NOT NULL
RETURNING id
"""
# Spending a round code checks its batch is not revoked (the joins' batch), so its codes' rows stay.
REVOKE_ROUND_CODE_BATCH = """
UPDATE round_code_batches SET revoked_at = :now, plaintext = NULL
WHERE id = :id AND round_id = :round_id AND revoked_at IS NULL
RETURNING id
"""

SELECT_PETITION_ROUNDS_WITH_PENDING_JOINS = """
SELECT DISTINCT j.round_id FROM pending_joins j JOIN rounds r ON r.id = j.round_id WHERE r.petition_id = :petition_id
ORDER BY j.round_id
"""

# --- joins --------------------------------------------------------------------------------------

# A participant token's holder, counted (round_participants) or waiting for its batch (its sealed
# pending entry), read in one statement so that a batch committing between two reads cannot hide it.
SELECT_PARTICIPANT_OR_WAITING = """
SELECT participant_key, round_id, NULL AS sealed FROM round_participants WHERE token_hash = :token_hash
UNION ALL
SELECT NULL, round_id, sealed FROM pending_joins WHERE pending_key = :pending_key
"""
# The round takes joins now: open, before its close time, and its petition open (see rounds.is_accepting).
SELECT_ACCEPTING_ROUND = """
SELECT r.id FROM rounds r JOIN petitions p ON p.id = r.petition_id
WHERE r.id = :round_id AND r.state = 'open' AND (r.closes_at IS NULL OR r.closes_at > :now)
  AND p.state = 'open' AND (p.closes_at IS NULL OR p.closes_at > :now) AND p.purged_at IS NULL
"""
# A printed round code that may join this round: of a batch of this round, not revoked. Its state
# is read, never changed, by the commit that accepts a join (the join batch spends it).
SELECT_ROUND_CODE = """
SELECT c.batch_id, c.state FROM round_codes c JOIN round_code_batches b ON b.id = c.batch_id
WHERE c.code_hash = :code_hash AND b.round_id = :round_id AND b.revoked_at IS NULL
"""
SELECT_ROUND_CODE_STATE = "SELECT state FROM round_codes WHERE code_hash = :code_hash"
SELECT_ROUND_DEDUPE = "SELECT tag FROM round_dedupe WHERE tag = :tag"
# Held at once by the commit that accepts a join: a second join with the same address or code
# finds it taken (on PostgreSQL, after waiting for the holder's commit), in any process.
INSERT_JOIN_CLAIM = """
INSERT INTO join_claims (claim, round_id) VALUES (:claim, :round_id) ON CONFLICT (claim) DO NOTHING RETURNING claim
"""
DELETE_JOIN_CLAIM = "DELETE FROM join_claims WHERE claim = :claim"
INSERT_PENDING_JOIN = """
INSERT INTO pending_joins (pending_key, round_id, sealed) VALUES (:pending_key, :round_id, :sealed)
"""
SELECT_PENDING_JOIN = "SELECT pending_key, round_id, sealed FROM pending_joins WHERE pending_key = :pending_key"
# A waiting join's token replaced: its entry moves to the new token's key, sealed again (in place).
MOVE_PENDING_JOIN = """
UPDATE pending_joins SET pending_key = :new_key, sealed = :sealed WHERE pending_key = :old_key RETURNING round_id
"""
REPLACE_PARTICIPANT_TOKEN = """
UPDATE round_participants SET token_hash = :new_hash
WHERE token_hash = :old_hash AND round_id = :round_id RETURNING participant_key
"""
INSERT_JOIN_ATTEMPT = """
INSERT INTO join_attempts (attempt_hash, round_id, sealed, code_hash, expires_at)
VALUES (:attempt_hash, :round_id, :sealed, :code_hash, :expires_at)
"""
SELECT_JOIN_ATTEMPT = """
SELECT round_id, sealed, code_hash, tries, expires_at FROM join_attempts WHERE attempt_hash = :attempt_hash
"""
RENEW_JOIN_ATTEMPT = """
UPDATE join_attempts SET code_hash = :code_hash, tries = 0, expires_at = :expires_at
WHERE attempt_hash = :attempt_hash RETURNING round_id
"""
# A wrong code: one try more, counted inside the write, so concurrent guesses cannot share a try.
COUNT_JOIN_ATTEMPT_TRY = "UPDATE join_attempts SET tries = tries + 1 WHERE attempt_hash = :attempt_hash RETURNING tries"
DELETE_JOIN_ATTEMPT = "DELETE FROM join_attempts WHERE attempt_hash = :attempt_hash"
DELETE_EXPIRED_JOIN_ATTEMPTS = "DELETE FROM join_attempts WHERE expires_at <= :now"

# Join batches (join_batches.py): what waits per round, taken whole, and each table's rows in its key order.
SELECT_ROUNDS_WITH_PENDING_JOINS = "SELECT round_id, COUNT(*) AS joins FROM pending_joins GROUP BY round_id"
# Take what waits: an entry written meanwhile (another process) waits for the next batch.
TAKE_PENDING_JOINS = "DELETE FROM pending_joins WHERE round_id = :round_id RETURNING pending_key, round_id, sealed"
INSERT_ROUND_PARTICIPANT = """
INSERT INTO round_participants (participant_key, round_id, token_hash) VALUES (:participant_key, :round_id, :token_hash)
"""
INSERT_ROUND_DEDUPE = "INSERT INTO round_dedupe (tag, round_id) VALUES (:tag, :round_id)"
SPEND_ROUND_CODE = "UPDATE round_codes SET state = 1 WHERE code_hash = :code_hash"
ADD_USED_ROUND_CODES = "UPDATE round_code_batches SET used = used + :used WHERE id = :id"
ADD_ROUND_PARTICIPANTS = "UPDATE rounds SET participant_count = participant_count + :joined WHERE id = :id"

# --- votes and statements -----------------------------------------------------------------------

# A round's approved statements (what is voted on and listed), by id: random, so no order of writing.
SELECT_APPROVED_STATEMENTS = """
SELECT id, text FROM round_statements WHERE round_id = :round_id AND status = 'approved' ORDER BY id
"""
# The statements of a round a participant has voted on (whether, never how).
SELECT_VOTED_STATEMENT_IDS = "SELECT statement_id FROM round_votes WHERE participant_key = :participant_key"
# What the round page picks the next statement from: approved statements the participant has not voted on.
SELECT_UNVOTED_STATEMENTS = """
SELECT id, text, votes FROM round_statements
WHERE round_id = :round_id AND status = 'approved'
  AND NOT EXISTS (
    SELECT 1 FROM round_votes WHERE participant_key = :participant_key AND statement_id = round_statements.id
  )
"""
# Inside the vote's write, the whole check at once: the token's participant, when it is one of this
# round's, the round takes votes (open, before its close time, its petition open: rounds.is_accepting)
# and the statement is an approved one of it; with the participant's vote on it so far (NULL: none).
# The voter: a counted participant by their token's hash, or a join still waiting for its batch, whose
# participant key the caller read from its sealed entry (`:waiting_key`; "" and no such `:pending_key`
# when the token is taken to be a counted participant's, as it is first).
VOTE_CHECK = """
SELECT voter.participant_key,
    (SELECT vote FROM round_votes
     WHERE round_votes.participant_key = voter.participant_key
       AND round_votes.statement_id = :statement_id) AS previous
FROM (
    SELECT participant_key FROM round_participants WHERE token_hash = :token_hash AND round_id = :round_id
    UNION ALL
    SELECT CAST(:waiting_key AS TEXT) AS participant_key FROM pending_joins
    WHERE pending_key = :pending_key AND round_id = :round_id
) AS voter
JOIN rounds ON rounds.id = :round_id
JOIN petitions ON petitions.id = rounds.petition_id
JOIN round_statements ON round_statements.id = :statement_id AND round_statements.round_id = rounds.id
WHERE round_statements.status = 'approved'
  AND rounds.state = 'open' AND (rounds.closes_at IS NULL OR rounds.closes_at > :now)
  AND petitions.state = 'open' AND (petitions.closes_at IS NULL OR petitions.closes_at > :now)
  AND petitions.purged_at IS NULL
LIMIT 1
"""
UPSERT_VOTE = """
INSERT INTO round_votes (participant_key, statement_id, round_id, vote)
VALUES (:participant_key, :statement_id, :round_id, :vote)
ON CONFLICT (participant_key, statement_id) DO UPDATE SET vote = excluded.vote
"""
ADD_FRESH_VOTER = """
INSERT INTO round_fresh_voters (participant_key, round_id) VALUES (:participant_key, :round_id)
ON CONFLICT (participant_key) DO NOTHING
"""
# PostgreSQL: the whole vote, check included, in one statement (one round trip of the writer, and no
# read before it); a row when the check passed. A vote the same as the one stored writes nothing and
# does not make its participant fresh (re-sending votes must not count as new voters for results): it is
# left out before the insert, and, should another process change the vote meanwhile, the upsert's WHERE
# (which sees the latest committed vote) leaves it alone. Only a vote written makes its participant fresh.
VOTE_POSTGRES = f"""
WITH voter AS (
    {VOTE_CHECK.strip()}
), voted AS (
    INSERT INTO round_votes (participant_key, statement_id, round_id, vote)
    SELECT participant_key, :statement_id, :round_id, :vote FROM voter WHERE previous IS DISTINCT FROM :vote
    ON CONFLICT (participant_key, statement_id) DO UPDATE SET vote = excluded.vote
    WHERE round_votes.vote <> excluded.vote
    RETURNING participant_key
), fresh AS (
    INSERT INTO round_fresh_voters (participant_key, round_id)
    SELECT participant_key, :round_id FROM voted
    ON CONFLICT (participant_key) DO NOTHING
)
SELECT participant_key FROM voter
"""
INSERT_STATEMENT = """
INSERT INTO round_statements (id, round_id, text, status, seed, votes) VALUES (:id, :round_id, :text, :status, 0, 0)
"""
# The organizers' lists, a page of one status after the id `after` ("" from the start), by id.
SELECT_STATEMENTS_PAGE = """
SELECT id, text, status, seed FROM round_statements
WHERE round_id = :round_id AND status = :status AND id > :after ORDER BY id LIMIT :limit
"""
SELECT_STATEMENT_STATUS = "SELECT status FROM round_statements WHERE id = :id AND round_id = :round_id"
# A statement hidden after its petition's purge is deleted, its votes first (a purge keeps nothing not approved).
DELETE_STATEMENT_VOTES = "DELETE FROM round_votes WHERE statement_id = :id AND round_id = :round_id"
DELETE_STATEMENT = "DELETE FROM round_statements WHERE id = :id AND round_id = :round_id"
SET_STATEMENT_STATUS = "UPDATE round_statements SET status = :status WHERE id = :id AND round_id = :round_id"

# --- results ------------------------------------------------------------------------------------

# Rounds whose results are due: open or closed, with at least :min_voters participants who voted since the
# last computation, and no results yet or results computed at :due or before.
SELECT_ROUNDS_WITH_RESULTS_DUE = """
SELECT r.id
FROM rounds r
JOIN round_fresh_voters f ON f.round_id = r.id
LEFT JOIN round_results rr ON rr.round_id = r.id
WHERE r.state IN ('open', 'closed') AND (rr.computed_at IS NULL OR rr.computed_at <= :due)
GROUP BY r.id
HAVING COUNT(*) >= :min_voters
ORDER BY r.id
"""
SELECT_FRESH_VOTERS = "SELECT participant_key FROM round_fresh_voters WHERE round_id = :round_id"
# The round's approved statements, numbered 0..n-1 in the order of their ids (the worker gets the numbers).
SELECT_APPROVED_STATEMENT_IDS = (
    "SELECT id FROM round_statements WHERE round_id = :round_id AND status = 'approved' ORDER BY id"
)
# The votes on the round's approved statements, one row per participant (in the order of their random
# keys) with their votes as cells "statement number * 3 + vote + 1" separated by spaces: a round of 5,000
# participants x 200 statements is 5,000 short rows for the event loop to take, not a million.
_VOTE_CELLS = """
WITH numbered AS (
    SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS n
    FROM round_statements WHERE round_id = :round_id AND status = 'approved'
)
SELECT v.participant_key, {aggregate} AS cells
FROM round_votes v JOIN numbered ON numbered.id = v.statement_id
WHERE v.round_id = :round_id
GROUP BY v.participant_key
ORDER BY v.participant_key
"""
SELECT_VOTE_CELLS = _VOTE_CELLS.format(aggregate="group_concat(numbered.n * 3 + v.vote + 1, ' ')")
SELECT_VOTE_CELLS_POSTGRES = _VOTE_CELLS.format(aggregate="string_agg(CAST(numbered.n * 3 + v.vote + 1 AS TEXT), ' ')")
UPSERT_ROUND_RESULTS = """
INSERT INTO round_results (round_id, computed_at, participants, body)
VALUES (:round_id, :computed_at, :participants, :body)
ON CONFLICT (round_id) DO UPDATE
SET computed_at = excluded.computed_at, participants = excluded.participants, body = excluded.body
"""
# The round page's order (fewest votes first) counts votes as of the last results, set by the write that
# stores them, never by a vote: a live count would show a participant reloading that someone just voted.
SET_STATEMENT_VOTES = "UPDATE round_statements SET votes = :votes WHERE id = :id AND round_id = :round_id"
DELETE_FRESH_VOTER = "DELETE FROM round_fresh_voters WHERE participant_key = :participant_key AND round_id = :round_id"
SELECT_ROUND_RESULTS = "SELECT computed_at, participants, body FROM round_results WHERE round_id = :round_id"
SELECT_APPROVED_STATEMENT_TEXTS = (
    "SELECT id, text FROM round_statements WHERE round_id = :round_id AND status = 'approved'"
)
# --- organizer pages ----------------------------------------------------------------------------

# A draft's seed statements, for its edit form. Their keys are random, so the order they were typed
# in is not kept: the form lists them in key order, the same each time.
SELECT_SEED_STATEMENTS = """
SELECT text FROM round_statements WHERE round_id = :round_id AND seed = 1 AND status = 'approved' ORDER BY id
"""
# The statements moderation page's tabs: how many of the round's statements have each status.
COUNT_STATEMENTS_BY_STATUS = """
SELECT status, COUNT(*) AS n FROM round_statements WHERE round_id = :round_id GROUP BY status
"""

# --- purge --------------------------------------------------------------------------------------

# The rounds of one petition, for the statements below.
_PETITION_ROUNDS = "SELECT id FROM rounds WHERE petition_id = :petition_id"
# What a petition's purge destroys of its rounds (DESIGN.md rule 10): whatever could tell who joined
# (attempts, pending joins and claims, round dedupe tags, every round code's keyed hash, codes kept
# for download) and every statement not approved, with the votes on it. Participants (random keys)
# and votes on approved statements stay: they are what the aggregate results are computed from.
PURGE_ROUND_STATEMENTS = (
    f"DELETE FROM join_attempts WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM pending_joins WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM join_claims WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM round_dedupe WHERE round_id IN ({_PETITION_ROUNDS})",
    "DELETE FROM round_codes WHERE batch_id IN "
    f"(SELECT id FROM round_code_batches WHERE round_id IN ({_PETITION_ROUNDS}))",
    f"UPDATE round_code_batches SET plaintext = NULL WHERE round_id IN ({_PETITION_ROUNDS}) AND plaintext IS NOT NULL",
    "DELETE FROM round_votes WHERE statement_id IN "
    f"(SELECT id FROM round_statements WHERE round_id IN ({_PETITION_ROUNDS}) AND status <> 'approved')",
    f"DELETE FROM round_statements WHERE round_id IN ({_PETITION_ROUNDS}) AND status <> 'approved'",
)
# Deleting a draft petition deletes its rounds and everything of theirs (children before the rounds).
DELETE_DRAFT_ROUNDS = (
    f"DELETE FROM join_attempts WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM pending_joins WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM join_claims WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM round_dedupe WHERE round_id IN ({_PETITION_ROUNDS})",
    "DELETE FROM round_codes WHERE batch_id IN "
    f"(SELECT id FROM round_code_batches WHERE round_id IN ({_PETITION_ROUNDS}))",
    f"DELETE FROM round_code_batches WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM round_votes WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM round_fresh_voters WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM round_results WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM round_participants WHERE round_id IN ({_PETITION_ROUNDS})",
    f"DELETE FROM round_statements WHERE round_id IN ({_PETITION_ROUNDS})",
    "DELETE FROM rounds WHERE petition_id = :petition_id",
)
