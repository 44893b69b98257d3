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

# --- purge --------------------------------------------------------------------------------------
