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
VOTE_CHECK = """
SELECT round_participants.participant_key,
    (SELECT vote FROM round_votes
     WHERE round_votes.participant_key = round_participants.participant_key
       AND round_votes.statement_id = :statement_id) AS previous
FROM round_participants
JOIN rounds ON rounds.id = round_participants.round_id
JOIN petitions ON petitions.id = rounds.petition_id
JOIN round_statements ON round_statements.id = :statement_id AND round_statements.round_id = rounds.id
WHERE round_participants.token_hash = :token_hash AND round_participants.round_id = :round_id
  AND round_statements.status = 'approved'
  AND rounds.state = 'open' AND (rounds.closes_at IS NULL OR rounds.closes_at > :now)
  AND petitions.state = 'open' AND (petitions.closes_at IS NULL OR petitions.closes_at > :now)
  AND petitions.purged_at IS NULL
"""
UPSERT_VOTE = """
INSERT INTO round_votes (participant_key, statement_id, round_id, vote)
VALUES (:participant_key, :statement_id, :round_id, :vote)
ON CONFLICT (participant_key, statement_id) DO UPDATE SET vote = excluded.vote
"""
COUNT_FIRST_VOTE = "UPDATE round_statements SET votes = votes + 1 WHERE id = :statement_id"
ADD_FRESH_VOTER = """
INSERT INTO round_fresh_voters (participant_key, round_id) VALUES (:participant_key, :round_id)
ON CONFLICT (participant_key) DO NOTHING
"""
# PostgreSQL: the whole vote, check included, in one statement (one round trip of the writer, and no
# read before it). `xmax = 0` tells a row the upsert inserted from one it updated, so only a first
# vote is counted, even when two processes race on one participant and statement (the second waits
# on the first's row, then updates it).
VOTE_POSTGRES = f"""
WITH voter AS (
    {VOTE_CHECK.strip()}
), voted AS (
    INSERT INTO round_votes (participant_key, statement_id, round_id, vote)
    SELECT participant_key, :statement_id, :round_id, :vote FROM voter
    ON CONFLICT (participant_key, statement_id) DO UPDATE SET vote = excluded.vote
    RETURNING participant_key, (xmax = 0) AS first
), counted AS (
    UPDATE round_statements SET votes = votes + 1
    WHERE id = :statement_id AND EXISTS (SELECT 1 FROM voted WHERE first)
), fresh AS (
    INSERT INTO round_fresh_voters (participant_key, round_id)
    SELECT participant_key, :round_id FROM voted
    ON CONFLICT (participant_key) DO NOTHING
)
SELECT first FROM voted
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
SET_STATEMENT_STATUS = "UPDATE round_statements SET status = :status WHERE id = :id AND round_id = :round_id"

# --- results ------------------------------------------------------------------------------------

# --- purge --------------------------------------------------------------------------------------
