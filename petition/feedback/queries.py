"""The SQL of feedback rounds, in one place: `:named` parameters, SQL that SQLite and PostgreSQL both accept.

Sections follow the modules that use them: rounds, codes, joins, votes and statements, results, purge.
"""

from __future__ import annotations

# --- rounds -------------------------------------------------------------------------------------

ROUND_COLUMNS = """id, petition_id, question, description, state, allow_statements, moderate_statements, results,
closes_at, created_by, created_at, opened_at, closed_at, participant_count"""
SELECT_ROUND = f"SELECT {ROUND_COLUMNS} FROM rounds WHERE id = :id"

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
SELECT r.id, r.closes_at, r.opened_at, p.state AS petition_state, p.closes_at AS petition_closes_at,
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

# --- joins --------------------------------------------------------------------------------------

# --- votes and statements -----------------------------------------------------------------------

# --- results ------------------------------------------------------------------------------------

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
