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

# --- results ------------------------------------------------------------------------------------

# --- purge --------------------------------------------------------------------------------------
