"""Every SQL statement the service runs, with `:named` parameters.

Written in the SQL that SQLite (3.35+) and PostgreSQL both accept: times are
whole seconds since the epoch in BIGINT columns, keys are random or hashed
text (never auto-increment, which would record insertion order), and a write
learns what it did through RETURNING, since drivers disagree on row counts.
"""

# -- schema migrations (the migrator's own bookkeeping table) -----------------

CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)
"""
SELECT_APPLIED_MIGRATIONS = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
INSERT_MIGRATION = """
INSERT INTO schema_migrations (version, name, checksum, applied_at)
VALUES (:version, :name, :checksum, :applied_at)
"""
SELECT_SCHEMA_VERSION = "SELECT MAX(version) AS version FROM schema_migrations"

# -- leases: jobs that must run in one process at a time ----------------------

INSERT_LEASE_IF_MISSING = """
INSERT INTO leases (name, holder, expires_at) VALUES (:name, '', 0)
ON CONFLICT (name) DO NOTHING
"""
TAKE_LEASE = """
UPDATE leases SET holder = :holder, expires_at = :expires_at
WHERE name = :name AND (holder = :holder OR expires_at <= :now)
RETURNING name
"""
RELEASE_LEASE = """
UPDATE leases SET holder = '', expires_at = 0
WHERE name = :name AND holder = :holder
"""
