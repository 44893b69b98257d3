"""The SQL of feedback rounds, in one place: `:named` parameters, SQL that SQLite and PostgreSQL both accept.

Sections follow the modules that use them: rounds, codes, joins, votes and statements, results, purge.
"""

from __future__ import annotations

# --- rounds -------------------------------------------------------------------------------------

ROUND_COLUMNS = """id, petition_id, question, description, state, allow_statements, moderate_statements, results,
closes_at, created_by, created_at, opened_at, closed_at, participant_count"""
SELECT_ROUND = f"SELECT {ROUND_COLUMNS} FROM rounds WHERE id = :id"

SELECT_PARTICIPANT_BY_TOKEN = "SELECT participant_key, round_id FROM round_participants WHERE token_hash = :token_hash"

# --- codes --------------------------------------------------------------------------------------

# --- joins --------------------------------------------------------------------------------------

# --- votes and statements -----------------------------------------------------------------------

# --- results ------------------------------------------------------------------------------------

# Rounds whose results are due: open or closed, with at least :min_voters participants who voted since the
# last computation, and no results yet or results computed at :due or before.
SELECT_ROUNDS_DUE = """
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
DELETE_FRESH_VOTER = "DELETE FROM round_fresh_voters WHERE participant_key = :participant_key AND round_id = :round_id"
SELECT_ROUND_RESULTS = "SELECT computed_at, participants, body FROM round_results WHERE round_id = :round_id"
SELECT_APPROVED_STATEMENT_TEXTS = (
    "SELECT id, text FROM round_statements WHERE round_id = :round_id AND status = 'approved'"
)

# --- purge --------------------------------------------------------------------------------------
