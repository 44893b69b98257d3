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

# -- organizers ----------------------------------------------------------------

COUNT_ORGANIZERS = "SELECT COUNT(*) AS n FROM organizers"
INSERT_ORGANIZER = """
INSERT INTO organizers (id, email, password_hash, is_admin, is_active, created_at)
VALUES (:id, :email, :password_hash, :is_admin, 1, :created_at)
ON CONFLICT (email) DO NOTHING
RETURNING id
"""
ORGANIZER_COLUMNS = "id, email, password_hash, is_admin, is_active, totp_secret, totp_last_step, created_at"
SELECT_ORGANIZER_BY_EMAIL = f"SELECT {ORGANIZER_COLUMNS} FROM organizers WHERE email = :email"
SELECT_ORGANIZER_BY_ID = f"SELECT {ORGANIZER_COLUMNS} FROM organizers WHERE id = :id"
SELECT_ORGANIZERS = f"SELECT {ORGANIZER_COLUMNS} FROM organizers ORDER BY email"
UPDATE_ORGANIZER_PASSWORD = "UPDATE organizers SET password_hash = :password_hash WHERE id = :id"
UPDATE_ORGANIZER_TOTP = "UPDATE organizers SET totp_secret = :totp_secret, totp_last_step = :step WHERE id = :id"
# Compare-and-set: of two requests with the same code, only one moves the step forward.
USE_TOTP_STEP = """
UPDATE organizers SET totp_last_step = :step WHERE id = :id AND totp_last_step < :step RETURNING id
"""
DEACTIVATE_ORGANIZER = "UPDATE organizers SET is_active = 0 WHERE id = :id AND is_active = 1 RETURNING id"

# -- organizer sessions --------------------------------------------------------

INSERT_SESSION = """
INSERT INTO organizer_sessions (token_hash, organizer_id, needs_second_factor, created_at, last_seen_at)
VALUES (:token_hash, :organizer_id, :needs_second_factor, :now, :now)
"""
SELECT_SESSION = f"""
SELECT s.token_hash, s.needs_second_factor, s.created_at AS session_created_at, s.last_seen_at,
       {", ".join("o." + column for column in ORGANIZER_COLUMNS.split(", "))}
FROM organizer_sessions s JOIN organizers o ON o.id = s.organizer_id
WHERE s.token_hash = :token_hash
"""
TOUCH_SESSION = "UPDATE organizer_sessions SET last_seen_at = :now WHERE token_hash = :token_hash"
DELETE_SESSION = "DELETE FROM organizer_sessions WHERE token_hash = :token_hash"
DELETE_ORGANIZER_SESSIONS = "DELETE FROM organizer_sessions WHERE organizer_id = :organizer_id"
DELETE_EXPIRED_SESSIONS = (
    "DELETE FROM organizer_sessions WHERE last_seen_at < :idle_before OR created_at < :created_before"
)

# -- API tokens ----------------------------------------------------------------

INSERT_API_TOKEN = """
INSERT INTO api_tokens (id, token_hash, organizer_id, name, created_at)
VALUES (:id, :token_hash, :organizer_id, :name, :created_at)
"""
SELECT_API_TOKEN = f"""
SELECT t.id AS token_id, t.last_used_day, {", ".join("o." + column for column in ORGANIZER_COLUMNS.split(", "))}
FROM api_tokens t JOIN organizers o ON o.id = t.organizer_id
WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL
"""
SELECT_API_TOKENS = """
SELECT id, name, created_at, last_used_day, revoked_at FROM api_tokens
WHERE organizer_id = :organizer_id ORDER BY created_at DESC, id
"""
MARK_API_TOKEN_USED = "UPDATE api_tokens SET last_used_day = :day WHERE id = :id"
REVOKE_API_TOKEN = """
UPDATE api_tokens SET revoked_at = :now
WHERE id = :id AND organizer_id = :organizer_id AND revoked_at IS NULL
RETURNING name
"""
REVOKE_ORGANIZER_API_TOKENS = (
    "UPDATE api_tokens SET revoked_at = :now WHERE organizer_id = :organizer_id AND revoked_at IS NULL"
)

# -- single-use links (setup, invitation, password reset) ----------------------

INSERT_LINK = """
INSERT INTO organizer_links (token_hash, kind, organizer_id, email, make_admin, created_by, expires_at)
VALUES (:token_hash, :kind, :organizer_id, :email, :make_admin, :created_by, :expires_at)
"""
USE_LINK = """
UPDATE organizer_links SET used_at = :now
WHERE token_hash = :token_hash AND kind = :kind AND used_at IS NULL AND expires_at > :now
RETURNING organizer_id, email, make_admin, created_by
"""
SELECT_LINK = """
SELECT kind, organizer_id, email, make_admin, expires_at, used_at FROM organizer_links
WHERE token_hash = :token_hash AND kind = :kind
"""
EXPIRE_UNUSED_LINKS = "UPDATE organizer_links SET expires_at = 0 WHERE kind = :kind AND used_at IS NULL"

# -- recovery codes ------------------------------------------------------------

INSERT_RECOVERY_CODE = "INSERT INTO recovery_codes (code_hash, organizer_id) VALUES (:code_hash, :organizer_id)"
USE_RECOVERY_CODE = """
DELETE FROM recovery_codes WHERE code_hash = :code_hash AND organizer_id = :organizer_id RETURNING code_hash
"""
DELETE_RECOVERY_CODES = "DELETE FROM recovery_codes WHERE organizer_id = :organizer_id"
COUNT_RECOVERY_CODES = "SELECT COUNT(*) AS n FROM recovery_codes WHERE organizer_id = :organizer_id"

# -- audit trail ---------------------------------------------------------------

INSERT_AUDIT = """
INSERT INTO audit_log (id, organizer_id, action, detail, at_micros, petition_id, public_event, public_ref)
VALUES (:id, :organizer_id, :action, :detail, :at_micros, :petition_id, :public_event, :public_ref)
"""
SELECT_AUDIT = """
SELECT a.action, a.detail, a.at_micros, o.email FROM audit_log a LEFT JOIN organizers o ON o.id = a.organizer_id
ORDER BY a.at_micros DESC, a.id LIMIT :limit
"""
SELECT_PETITION_AUDIT = """
SELECT a.action, a.detail, a.at_micros, o.email FROM audit_log a LEFT JOIN organizers o ON o.id = a.organizer_id
WHERE a.petition_id = :petition_id
ORDER BY a.at_micros DESC, a.id LIMIT :limit
"""
# A petition's public events (timeline.events): with the round a round event is about, when that
# round is still there and not a draft (a draft round never shows; a deleted one shows no question).
SELECT_PUBLIC_AUDIT_EVENTS = """
SELECT a.public_event, a.public_ref, a.at_micros, r.question AS round_question
FROM audit_log a LEFT JOIN rounds r ON r.id = a.public_ref AND a.public_event IN ('round_opened', 'round_closed')
    AND r.petition_id = a.petition_id AND r.state <> 'draft'
WHERE a.petition_id = :petition_id AND a.public_event IS NOT NULL
ORDER BY a.at_micros, a.id
"""
# A public event moves its petition's version (and the cache version): cached answers show it.
BUMP_PETITION_VERSION = "UPDATE petitions SET version = version + 1 WHERE id = :id"

# -- instance settings ---------------------------------------------------------

SELECT_INSTANCE_SETTING = "SELECT value FROM instance_settings WHERE name = :name"
UPSERT_INSTANCE_SETTING = """
INSERT INTO instance_settings (name, value) VALUES (:name, :value)
ON CONFLICT (name) DO UPDATE SET value = excluded.value
"""

# -- petitions -----------------------------------------------------------------

PETITION_COLUMNS = (
    "id, slug, state, title, summary, body, target, goal, closes_at, allowed_domains, verification, "
    "show_names, reasons_enabled, timeline_floor, retention_days, signature_count, count_email, count_code, "
    "created_by, created_at, opened_at, closed_at, text_changed_at, version, time_zone, language, "
    "log_origin, log_size, log_checkpoint, log_carried_over, log_carried_withdrawn, codes_issued, purged_at, "
    "sensitive_words, reason_count"
)
# Only a published petition has its slug: drafts may share one, and are addressed by id.
SELECT_PETITION_BY_ID_OR_SLUG = f"""
SELECT {PETITION_COLUMNS} FROM petitions WHERE id = :key OR (slug = :key AND state <> 'draft') LIMIT 1
"""
# Is a slug free for this petition? Taken means by a published petition, or by the organizer's own.
SELECT_SLUG_TAKEN = """
SELECT p.id FROM petitions p
WHERE p.slug = :slug AND p.id <> :id AND (p.state <> 'draft' OR EXISTS (
    SELECT 1 FROM petition_organizers o WHERE o.petition_id = p.id AND o.organizer_id = :organizer_id))
LIMIT 1
"""
SELECT_PUBLISHED_SLUG_TAKEN = """
SELECT id FROM petitions WHERE slug = :slug AND id <> :id AND state <> 'draft' LIMIT 1
"""
SELECT_PETITION_BY_ID = f"SELECT {PETITION_COLUMNS} FROM petitions WHERE id = :id"
INSERT_PETITION = """
INSERT INTO petitions (id, slug, state, title, summary, body, target, goal, closes_at, allowed_domains,
    verification, show_names, reasons_enabled, timeline_floor, time_zone, language, retention_days, created_by,
    created_at, sensitive_words)
VALUES (:id, :slug, 'draft', :title, :summary, :body, :target, :goal, :closes_at, :allowed_domains,
    :verification, :show_names, :reasons_enabled, :timeline_floor, :time_zone, :language, :retention_days,
    :created_by, :created_at, :sensitive_words)
"""
INSERT_PETITION_ORGANIZER = """
INSERT INTO petition_organizers (petition_id, organizer_id) VALUES (:petition_id, :organizer_id)
ON CONFLICT (petition_id, organizer_id) DO NOTHING
"""
DELETE_PETITION_ORGANIZER = """
DELETE FROM petition_organizers WHERE petition_id = :petition_id AND organizer_id = :organizer_id
"""
SELECT_PETITION_ORGANIZER = """
SELECT organizer_id FROM petition_organizers WHERE petition_id = :petition_id AND organizer_id = :organizer_id
"""
SELECT_PETITION_ORGANIZER_EMAILS = """
SELECT o.id, o.email FROM petition_organizers p JOIN organizers o ON o.id = p.organizer_id
WHERE p.petition_id = :petition_id ORDER BY o.email
"""


def update_petition(assignments: str) -> str:
    """An UPDATE of the named columns (`title = :title, ...`), built from model field names only."""
    return f"UPDATE petitions SET {assignments}, version = version + 1 WHERE id = :id"


COUNT_PETITION_VERSIONS = "SELECT COUNT(*) AS n FROM petition_versions WHERE petition_id = :petition_id"
INSERT_PETITION_VERSION = """
INSERT INTO petition_versions (petition_id, number, title, summary, body, target, replaced_at)
VALUES (:petition_id, :number, :title, :summary, :body, :target, :replaced_at)
"""
MARK_TEXT_CHANGED = "UPDATE petitions SET text_changed_at = :now WHERE id = :id"
PUBLISH_PETITION = """
UPDATE petitions SET state = 'open', opened_at = :now, closes_at = COALESCE(closes_at, :longest), version = version + 1
WHERE id = :id AND state = 'draft'
RETURNING id
"""
# A retention period changes only while not purged, and once published only to a shorter one
# (checked here too, so two organizers shortening at once never end with a longer one).
SET_RETENTION = """
UPDATE petitions SET retention_days = :retention_days, version = version + 1
WHERE id = :id AND purged_at IS NULL AND (state = 'draft' OR retention_days >= :retention_days)
RETURNING id
"""
# Sensitive words (a JSON array) change at any time until the petition is purged.
SET_SENSITIVE_WORDS = """
UPDATE petitions SET sensitive_words = :words, version = version + 1
WHERE id = :id AND purged_at IS NULL
RETURNING id
"""
# Open petitions published before every petition had a deadline: the longest one, not before now.
SET_MISSING_DEADLINES = """
UPDATE petitions SET version = version + 1, closes_at = CASE
    WHEN opened_at + :longest_seconds > :now THEN opened_at + :longest_seconds ELSE :now END
WHERE state = 'open' AND closes_at IS NULL
RETURNING id
"""
CLOSE_PETITION = """
UPDATE petitions SET state = 'closed', closed_at = :now, version = version + 1
WHERE id = :id AND state = 'open'
RETURNING id, slug
"""
# A petition is open at :now while it is published and before its deadline, whether or not the
# housekeeping job has stamped it closed yet (petitions.is_open says the same in Python).
# A purged petition is never open, whatever `:now` a write read before it waited its turn: once its
# dedupe tags are gone it could not refuse a second signature, and its log takes nothing more.
OPEN_AT_NOW = "state = 'open' AND (closes_at IS NULL OR closes_at > :now) AND purged_at IS NULL"
CLOSED_AT_NOW = "(state = 'closed' OR (state = 'open' AND closes_at <= :now) OR purged_at IS NOT NULL)"
CLOSE_DUE_PETITIONS = """
UPDATE petitions SET state = 'closed', closed_at = closes_at, version = version + 1
WHERE state = 'open' AND closes_at IS NOT NULL AND closes_at <= :now
RETURNING id, slug
"""
# Newest first; the cursor is the (opened_at, id) of the last row of the previous page.
SELECT_PUBLIC_PETITIONS = f"""
SELECT {PETITION_COLUMNS} FROM petitions
WHERE state IN ('open', 'closed')
  AND (:state = '' OR (:state = 'open' AND {OPEN_AT_NOW}) OR (:state = 'closed' AND {CLOSED_AT_NOW}))
  AND (opened_at < :before_at OR (opened_at = :before_at AND id < :before_id))
ORDER BY opened_at DESC, id DESC
LIMIT :limit
"""
SELECT_ORGANIZER_PETITIONS = f"""
SELECT {", ".join("p." + column for column in PETITION_COLUMNS.split(", "))}
FROM petitions p JOIN petition_organizers o ON o.petition_id = p.id
WHERE o.organizer_id = :organizer_id
ORDER BY p.created_at DESC, p.id
"""
SELECT_CACHE_VERSION = "SELECT version FROM cache_version WHERE id = 1"
# The next moment a page could change without a write: an open petition's deadline.
SELECT_NEXT_DEADLINE = "SELECT MIN(closes_at) FROM petitions WHERE state = 'open' AND closes_at > :now"
BUMP_CACHE_VERSION = "UPDATE cache_version SET version = version + 1 WHERE id = 1"
SELECT_OPEN_PETITIONS = f"""
SELECT {PETITION_COLUMNS} FROM petitions WHERE {OPEN_AT_NOW} ORDER BY opened_at DESC, id LIMIT :limit
"""
SELECT_RECENTLY_CLOSED_PETITIONS = f"""
SELECT {PETITION_COLUMNS} FROM petitions
WHERE {CLOSED_AT_NOW} AND COALESCE(closed_at, closes_at) >= :since
ORDER BY COALESCE(closed_at, closes_at) DESC, id LIMIT :limit
"""

# -- printed signing codes -----------------------------------------------------

INSERT_CODE_BATCH = """
INSERT INTO code_batches (id, petition_id, label, size, created_by, created_at, plaintext)
VALUES (:id, :petition_id, :label, :size, :created_by, :created_at, :plaintext)
"""


def insert_signing_codes(count: int) -> str:
    """One INSERT of `count` codes, with parameters :h0 ... and :batch_id."""
    rows = ", ".join(f"(:h{i}, :batch_id, 0)" for i in range(count))
    return f"INSERT INTO signing_codes (code_hash, batch_id, state) VALUES {rows}"


SELECT_CODE_BATCHES = """
SELECT b.id, b.label, b.size, b.created_at, b.downloaded_at, b.revoked_at, b.plaintext IS NOT NULL AS downloadable,
       b.used
FROM code_batches b WHERE b.petition_id = :petition_id
ORDER BY b.created_at DESC, b.id
"""
# One batch as the codes list shows it (the API's answer to revoking it).
SELECT_CODE_BATCH = """
SELECT id, label, size, used, revoked_at, plaintext IS NOT NULL AS downloadable
FROM code_batches WHERE id = :id AND petition_id = :petition_id
"""
# The one download: read the plaintext, then forget it; only the request whose UPDATE
# returns a row may hand it out (RETURNING gives the new value, so it cannot do both).
SELECT_CODE_BATCH_PLAINTEXT = """
SELECT plaintext, label FROM code_batches
WHERE id = :id AND petition_id = :petition_id AND plaintext IS NOT NULL
"""
FORGET_CODE_BATCH_PLAINTEXT = """
UPDATE code_batches SET plaintext = NULL, downloaded_at = :now
WHERE id = :id AND petition_id = :petition_id AND plaintext IS NOT NULL
RETURNING id
"""
REVOKE_CODE_BATCH = """
UPDATE code_batches SET revoked_at = :now, plaintext = NULL
WHERE id = :id AND petition_id = :petition_id AND revoked_at IS NULL
RETURNING id
"""

# -- signatures (see migrations/0006 and 0012 for why these tables cannot be joined) ----

# Spends a code of an unrevoked batch of a petition that is open right now (checked here,
# inside the write, since the caller's copy of the petition may be a second old). State 0 is
# unused, 1 used: one byte changed in place.
USE_SIGNING_CODE = f"""
UPDATE signing_codes SET state = 1
WHERE code_hash = :code_hash AND state = 0
  AND EXISTS (
    SELECT 1 FROM code_batches
    WHERE id = signing_codes.batch_id AND petition_id = :petition_id AND revoked_at IS NULL
  )
  AND EXISTS (SELECT 1 FROM petitions WHERE id = :petition_id AND {OPEN_AT_NOW})
RETURNING batch_id
"""
# PostgreSQL: the key of a petition's purge lock (see INSERT_PENDING_POSTGRES).
PURGE_LOCK_KEY = "hashtextextended('petition-purge/' || :petition_id, 0)"
SELECT_BATCH_OF_CODE = "SELECT batch_id FROM signing_codes WHERE code_hash = :code_hash AND state = 0"
# PostgreSQL: spend the code and add the signature's pending entry in one statement (one round trip
# of the writer instead of two), only when the code is still unused and of the batch read before.
SPEND_CODE_AND_WAIT_POSTGRES = f"""
WITH used AS (
    UPDATE signing_codes SET state = 1
    WHERE code_hash = :code_hash AND batch_id = :batch_id AND state = 0
      AND EXISTS (
        SELECT 1 FROM code_batches
        WHERE id = signing_codes.batch_id AND petition_id = :petition_id AND revoked_at IS NULL
      )
      AND EXISTS (SELECT 1 FROM petitions WHERE id = :petition_id AND {OPEN_AT_NOW})
      AND pg_try_advisory_xact_lock_shared({PURGE_LOCK_KEY})
    RETURNING batch_id
)
INSERT INTO pending_signatures (pending_key, petition_id, kind, sealed)
SELECT :pending_key, :petition_id, 0, :sealed FROM used
RETURNING pending_key
"""
# A pending entry; details given again (a changed updates address) replace the ones waiting.
INSERT_PENDING = """
INSERT INTO pending_signatures (pending_key, petition_id, kind, sealed)
VALUES (:pending_key, :petition_id, :kind, :sealed)
ON CONFLICT (pending_key) DO UPDATE SET kind = excluded.kind, sealed = excluded.sealed
"""
# PostgreSQL: each write that adds a pending entry holds its petition's purge lock, shared, until it
# commits; a purge takes the lock exclusively first, so it waits for such writes still in flight
# (another process's, accepted just before the close) and then sees their entries. While a purge
# holds it, the entry is refused (the petition is closed by then).
INSERT_PENDING_POSTGRES = f"""
INSERT INTO pending_signatures (pending_key, petition_id, kind, sealed)
SELECT :pending_key, :petition_id, :kind, :sealed WHERE pg_try_advisory_xact_lock_shared({PURGE_LOCK_KEY})
ON CONFLICT (pending_key) DO UPDATE SET kind = excluded.kind, sealed = excluded.sealed
RETURNING pending_key
"""
TAKE_PURGE_LOCK_POSTGRES = f"SELECT pg_advisory_xact_lock({PURGE_LOCK_KEY})"
SELECT_PENDING_OF_KIND = "SELECT pending_key, petition_id, kind, sealed FROM pending_signatures WHERE kind = :kind"
# One waiting entry, any: whether ENCRYPTION_KEY opens what waits (checked before serving).
SELECT_ANY_PENDING = "SELECT pending_key, petition_id, kind, sealed FROM pending_signatures LIMIT 1"
SELECT_PENDING_KIND = "SELECT kind FROM pending_signatures WHERE pending_key = :pending_key"
DELETE_PENDING = "DELETE FROM pending_signatures WHERE pending_key = :pending_key RETURNING petition_id"
INSERT_PENDING_DEDUPE = """
INSERT INTO pending_dedupe (pending_tag, petition_id) VALUES (:pending_tag, :petition_id)
ON CONFLICT (pending_tag) DO NOTHING RETURNING pending_tag
"""
DELETE_PENDING_DEDUPE = "DELETE FROM pending_dedupe WHERE pending_tag = :pending_tag"
# A signature waiting (kind 0 or 1 of its pending entry) or counted (its permanent row), read in
# one statement so that a batch closing between two reads cannot hide it.
SELECT_SIGNATURE_STATUS = """
SELECT 0 AS counted, kind AS withdrawn, NULL AS method FROM pending_signatures
WHERE pending_key = :pending_key AND petition_id = :petition_id AND kind IN (0, 1)
UNION ALL
SELECT 1, withdrawn, method FROM signatures WHERE receipt_hash = :receipt_hash AND petition_id = :petition_id
"""
# Withdrawing, only while the petition is open (checked inside the write, like signing): a waiting
# signature's entry changes kind in place; a counted signature's row changes one byte in place.
WITHDRAW_PENDING_SIGNATURE = f"""
UPDATE pending_signatures SET kind = 1
WHERE pending_key = :pending_key AND petition_id = :petition_id AND kind = 0
  AND EXISTS (SELECT 1 FROM petitions WHERE id = :petition_id AND {OPEN_AT_NOW})
RETURNING pending_key, petition_id, kind, sealed
"""
RESEAL_PENDING = "UPDATE pending_signatures SET sealed = :sealed WHERE pending_key = :pending_key"
WITHDRAW_SIGNATURE = f"""
UPDATE signatures SET withdrawn = 1
WHERE receipt_hash = :receipt_hash AND petition_id = :petition_id AND withdrawn = 0
  AND EXISTS (SELECT 1 FROM petitions WHERE id = :petition_id AND {OPEN_AT_NOW})
RETURNING method
"""
DELETE_SIGNER_NAME = "DELETE FROM signer_names WHERE name_key = :key RETURNING name_key"
# What it returns moves the petition's reason_count when the reason was approved.
DELETE_SIGNER_REASON = "DELETE FROM signer_reasons WHERE reason_key = :key RETURNING petition_id, status"
# Hiding a shown name. A waiting signature's entry is sealed again in place, only if it is still
# the entry that was read: a batch that took it meanwhile wrote the name to signer_names instead.
SELECT_WAITING_SIGNATURE = """
SELECT pending_key, petition_id, kind, sealed FROM pending_signatures
WHERE pending_key = :pending_key AND petition_id = :petition_id AND kind = 0
"""
RESEAL_WAITING_SIGNATURE = """
UPDATE pending_signatures SET sealed = :sealed
WHERE pending_key = :pending_key AND kind = 0 AND sealed = :read
RETURNING pending_key
"""
SELECT_SIGNER_NAME_SHOWN = "SELECT 1 AS shown FROM signer_names WHERE name_key = :key AND petition_id = :petition_id"
DELETE_PETITION_SIGNER_NAME = """
DELETE FROM signer_names WHERE name_key = :key AND petition_id = :petition_id RETURNING name_key
"""
SELECT_SIGNER_NAMES = (
    "SELECT name, role FROM signer_names WHERE petition_id = :petition_id ORDER BY name_key LIMIT :limit"
)

# -- closing a batch -------------------------------------------------------------

# Each petition with entries waiting: its state and deadline (a closed petition's last batch closes
# whatever waits) and how many signatures wait (withdrawals and details ride along).
SELECT_PETITIONS_WITH_PENDING = """
SELECT p.id, p.state, p.closes_at, SUM(CASE WHEN s.kind = 0 THEN 1 ELSE 0 END) AS signatures
FROM pending_signatures s JOIN petitions p ON p.id = s.petition_id
GROUP BY p.id, p.state, p.closes_at
"""
# Take what waits: an entry written meanwhile (another process) waits for the next batch.
TAKE_PENDING = """
DELETE FROM pending_signatures WHERE petition_id = :petition_id RETURNING pending_key, petition_id, kind, sealed
"""
INSERT_SIGNATURE = """
INSERT INTO signatures (receipt_hash, petition_id, method, withdrawn)
VALUES (:receipt_hash, :petition_id, :method, :withdrawn)
"""
SELECT_SIGNATURE_WITHDRAWN = "SELECT withdrawn FROM signatures WHERE receipt_hash = :receipt_hash"
ADD_USED_CODES = "UPDATE code_batches SET used = used + :used WHERE id = :id"
ADD_FLYER_SIGNATURES = "UPDATE flyer_batches SET signatures = signatures + :signatures WHERE id = :id"
ADD_TO_PETITION_COUNT = """
UPDATE petitions SET signature_count = signature_count + :signed - :withdrawn,
    count_email = count_email + :email, count_code = count_code + :code, version = version + 1
WHERE id = :petition_id
"""
ADD_TO_HOURLY_COUNTS = """
INSERT INTO hourly_counts (petition_id, hour, signed, withdrawn) VALUES (:petition_id, :hour, :signed, :withdrawn)
ON CONFLICT (petition_id, hour) DO UPDATE
SET signed = hourly_counts.signed + excluded.signed, withdrawn = hourly_counts.withdrawn + excluded.withdrawn
"""
INSERT_SIGNER_NAME = """
INSERT INTO signer_names (name_key, petition_id, name, role) VALUES (:name_key, :petition_id, :name, :role)
"""
INSERT_SIGNER_REASON = """
INSERT INTO signer_reasons (reason_key, petition_id, reason, status, public_id, order_key)
VALUES (:reason_key, :petition_id, :reason, 'waiting', :public_id, :order_key)
"""
# A changed address replaces the one kept.
INSERT_CONTACT = """
INSERT INTO contacts (contact_key, petition_id, sealed) VALUES (:contact_key, :petition_id, :sealed)
ON CONFLICT (contact_key) DO UPDATE SET sealed = excluded.sealed
"""

# -- the outbox ------------------------------------------------------------------

# update_id: the update an update email carries (NULL for every other message).
INSERT_OUTBOX = """
INSERT INTO outbox (id, sealed, due_at, expires_at, petition_id, update_id)
VALUES (:id, :sealed, :due_at, :expires_at, :petition_id, :update_id)
"""
# Claim due messages (update emails aside: CLAIM_UPDATE_OUTBOX): moving due_at past the claim
# hides them from every other sender.
# The WHERE is checked again on each row as it is updated, so two senders never both claim one.
CLAIM_OUTBOX = """
UPDATE outbox SET due_at = :claimed_until, attempts = attempts + 1
WHERE due_at <= :now AND id IN (
    SELECT id FROM outbox WHERE due_at <= :now AND update_id IS NULL ORDER BY due_at LIMIT :limit
)
RETURNING id, sealed, attempts
"""
# The same on PostgreSQL, where senders in other processes skip rows another is claiming.
CLAIM_OUTBOX_POSTGRES = """
UPDATE outbox SET due_at = :claimed_until, attempts = attempts + 1
WHERE due_at <= :now AND id IN (
    SELECT id FROM outbox WHERE due_at <= :now AND update_id IS NULL ORDER BY due_at LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
RETURNING id, sealed, attempts
"""
# failures: how many times a mail server refused the message or could not be reached (the
# dashboard's "mail failing" alert counts messages past their second retry by it).
RETRY_OUTBOX = "UPDATE outbox SET due_at = :due_at, failures = failures + 1 WHERE id = :id"
DELETE_OUTBOX = "DELETE FROM outbox WHERE id = :id"
DELETE_EXPIRED_OUTBOX = "DELETE FROM outbox WHERE expires_at <= :now"
COUNT_OUTBOX = "SELECT COUNT(*) FROM outbox"

# -- update emails in the outbox (outbox.UpdateSender): one at a time, each recorded at once ------

# The one update email due first, claimed as CLAIM_OUTBOX claims.
CLAIM_UPDATE_OUTBOX = """
UPDATE outbox SET due_at = :claimed_until, attempts = attempts + 1
WHERE due_at <= :now AND id IN (
    SELECT id FROM outbox WHERE due_at <= :now AND update_id IS NOT NULL ORDER BY due_at LIMIT 1
)
RETURNING id, sealed, attempts, update_id, petition_id
"""
CLAIM_UPDATE_OUTBOX_POSTGRES = """
UPDATE outbox SET due_at = :claimed_until, attempts = attempts + 1
WHERE due_at <= :now AND id IN (
    SELECT id FROM outbox WHERE due_at <= :now AND update_id IS NOT NULL ORDER BY due_at LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, sealed, attempts, update_id, petition_id
"""
# Gone already (a purge deleted it): nothing to count.
DELETE_UPDATE_OUTBOX = "DELETE FROM outbox WHERE id = :id RETURNING update_id"
RETRY_UPDATE_OUTBOX = "UPDATE outbox SET due_at = :due_at, failures = failures + 1 WHERE id = :id"
ADD_UPDATE_SENT = "UPDATE petition_updates SET sent = sent + 1 WHERE id = :id"
ADD_UPDATE_DROPPED = "UPDATE petition_updates SET dropped = dropped + 1 WHERE id = :id"
# Before DELETE_EXPIRED_OUTBOX: each update counts its messages that expired unsent.
COUNT_EXPIRED_UPDATE_EMAILS = """
UPDATE petition_updates SET given_up = given_up + (
    SELECT COUNT(*) FROM outbox WHERE outbox.update_id = petition_updates.id AND outbox.expires_at <= :now
)
WHERE id IN (SELECT update_id FROM outbox WHERE update_id IS NOT NULL AND expires_at <= :now)
"""

# -- signing with a work-email code ------------------------------------------------

# One more code email for an address today; the count after it (over the cap: none is sent).
COUNT_CODE_EMAIL = """
INSERT INTO code_email_counts (count_key, day, sent, petition_id) VALUES (:count_key, :day, 1, :petition_id)
ON CONFLICT (count_key) DO UPDATE SET sent = code_email_counts.sent + 1
RETURNING sent
"""
DELETE_OLD_CODE_EMAIL_COUNTS = "DELETE FROM code_email_counts WHERE day < :day"
INSERT_SIGN_ATTEMPT = """
INSERT INTO sign_attempts (attempt_hash, petition_id, sealed, code_hash, expires_at)
VALUES (:attempt_hash, :petition_id, :sealed, :code_hash, :expires_at)
"""
SELECT_SIGN_ATTEMPT = """
SELECT petition_id, sealed, code_hash, tries, expires_at FROM sign_attempts WHERE attempt_hash = :attempt_hash
"""
RENEW_SIGN_ATTEMPT = """
UPDATE sign_attempts SET code_hash = :code_hash, tries = 0, expires_at = :expires_at
WHERE attempt_hash = :attempt_hash RETURNING petition_id
"""
# A wrong code: one try more, counted inside the write, so concurrent guesses cannot share a try.
COUNT_SIGN_ATTEMPT_TRY = """
UPDATE sign_attempts SET tries = tries + 1 WHERE attempt_hash = :attempt_hash RETURNING tries
"""
SELECT_OPEN_PETITION = f"SELECT id FROM petitions WHERE id = :id AND {OPEN_AT_NOW}"
DELETE_SIGN_ATTEMPT = "DELETE FROM sign_attempts WHERE attempt_hash = :attempt_hash RETURNING sealed"
DELETE_EXPIRED_SIGN_ATTEMPTS = "DELETE FROM sign_attempts WHERE expires_at <= :now"
# Written by the batch that counts the signature, in the order of the tags.
INSERT_EMAIL_DEDUPE = """
INSERT INTO email_dedupe (tag, petition_id, withdraw_key) VALUES (:tag, :petition_id, :withdraw_key)
"""
# An address's dedupe/v2 tag (tag0) or any of its dedupe/v1 tags (email_codes.EARLIER_TAGS of them;
# fewer are given by repeating one).
SELECT_ANY_EMAIL_DEDUPE = "SELECT tag FROM email_dedupe WHERE tag IN (:tag0, :tag1, :tag2, :tag3, :tag4) LIMIT 1"
DELETE_EMAIL_DEDUPE = "DELETE FROM email_dedupe WHERE withdraw_key = :withdraw_key"

# -- updates to a confirmed address ------------------------------------------------

INSERT_CONTACT_CONFIRMATION = """
INSERT INTO contact_confirmations (confirm_key, petition_id, sealed, code_hash, expires_at)
VALUES (:confirm_key, :petition_id, :sealed, :code_hash, :expires_at)
"""
SELECT_CONTACT_CONFIRMATION = """
SELECT petition_id, sealed, code_hash, tries, expires_at FROM contact_confirmations WHERE confirm_key = :confirm_key
"""
COUNT_CONTACT_CONFIRMATION_TRY = """
UPDATE contact_confirmations SET tries = tries + 1 WHERE confirm_key = :confirm_key RETURNING tries
"""
DELETE_CONTACT_CONFIRMATION = "DELETE FROM contact_confirmations WHERE confirm_key = :confirm_key RETURNING sealed"
DELETE_EXPIRED_CONTACT_CONFIRMATIONS = "DELETE FROM contact_confirmations WHERE expires_at <= :now"
SELECT_CONTACT = "SELECT petition_id FROM contacts WHERE contact_key = :contact_key"
DELETE_CONTACT = "DELETE FROM contacts WHERE contact_key = :contact_key RETURNING petition_id"
# The unsubscribe link's token, kept as its hash: written when an update email first needs it
# (and again only if SECRET_KEY changed, which changes the token); each link finds one contact.
SET_CONTACT_UNSUBSCRIBE_HASH = """
UPDATE contacts SET unsubscribe_hash = :unsubscribe_hash
WHERE contact_key = :contact_key AND (unsubscribe_hash IS NULL OR unsubscribe_hash <> :unsubscribe_hash)
"""
SELECT_UNSUBSCRIBE_PETITION = """
SELECT p.title, p.language FROM contacts c JOIN petitions p ON p.id = c.petition_id
WHERE c.unsubscribe_hash = :unsubscribe_hash
"""
DELETE_CONTACT_BY_UNSUBSCRIBE_HASH = """
DELETE FROM contacts WHERE unsubscribe_hash = :unsubscribe_hash RETURNING petition_id
"""

# -- timelines -------------------------------------------------------------------

SELECT_HOURLY_COUNTS = """
SELECT hour, signed, withdrawn, invalidated FROM hourly_counts WHERE petition_id = :petition_id ORDER BY hour
"""
SUM_HOURLY_COUNTS_BEFORE = """
SELECT SUM(signed - withdrawn - invalidated) FROM hourly_counts WHERE petition_id = :petition_id AND hour < :before
"""
SELECT_VERSION_TIMES = "SELECT replaced_at FROM petition_versions WHERE petition_id = :petition_id ORDER BY number"
SELECT_PETITION_VERSIONS = """
SELECT number, title, summary, body, target, replaced_at FROM petition_versions
WHERE petition_id = :petition_id ORDER BY number DESC
"""

# -- flyer batches -----------------------------------------------------------------

INSERT_FLYER_BATCH = """
INSERT INTO flyer_batches
    (id, petition_id, batch_code, label, layout, paper_size, copies, code_batch_id, created_by, created_at)
VALUES
    (:id, :petition_id, :batch_code, :label, :layout, :paper_size, :copies, :code_batch_id, :created_by, :created_at)
"""
SELECT_FLYER_BATCH = "SELECT * FROM flyer_batches WHERE id = :id"
SELECT_FLYER_BATCHES = "SELECT * FROM flyer_batches WHERE petition_id = :petition_id ORDER BY created_at DESC, id"
SELECT_FLYER_BATCH_BY_CODE = """
SELECT f.id, p.slug FROM flyer_batches f JOIN petitions p ON p.id = f.petition_id
WHERE f.batch_code = :batch_code AND p.state IN ('open', 'closed')
"""
SELECT_FLYER_BATCH_OF_CODES = "SELECT id FROM flyer_batches WHERE code_batch_id = :code_batch_id"
ADD_FLYER_SCANS = "UPDATE flyer_batches SET scans = scans + :scans WHERE id = :id"

# -- deleting a draft ----------------------------------------------------------
# A draft never took a signature (only open petitions do), so what hangs off it is what its
# organizers made: team, earlier texts, code batches and their codes, flyer batches. Children
# first: the foreign keys refuse the petition's row while they point at it.

DELETE_DRAFT_SIGNING_CODES = """
DELETE FROM signing_codes WHERE batch_id IN (SELECT id FROM code_batches WHERE petition_id = :petition_id)
"""
DELETE_DRAFT_FLYER_BATCHES = "DELETE FROM flyer_batches WHERE petition_id = :petition_id RETURNING id"
DELETE_DRAFT_CODE_BATCHES = "DELETE FROM code_batches WHERE petition_id = :petition_id"
DELETE_DRAFT_VERSIONS = "DELETE FROM petition_versions WHERE petition_id = :petition_id"
DELETE_DRAFT_ORGANIZERS = "DELETE FROM petition_organizers WHERE petition_id = :petition_id"
# Only while it is still a draft: a publish that won the race keeps its petition (the unit rolls back).
DELETE_DRAFT = "DELETE FROM petitions WHERE id = :id AND state = 'draft' RETURNING id"

# -- transparency log (see tlog.py and migrations/0015) -------------------------------

SELECT_PETITION_TO_START_LOG = "SELECT state, slug, signature_count FROM petitions WHERE id = :id"
# Starting the log locks the petition's row: one start, however many processes try.
START_LOG = """
UPDATE petitions SET log_origin = :origin, log_carried_over = :carried_over, log_size = 0
WHERE id = :id AND log_origin IS NULL
RETURNING id
"""
# Every append first locks the petition's row (a no-op update), so appends take turns.
LOCK_LOG_HEAD = """
UPDATE petitions SET log_size = log_size WHERE id = :id
RETURNING log_origin, log_size, log_checkpoint, log_carried_over, log_carried_withdrawn, purged_at
"""
# The head as it is now (a receipt's proof must be for a tree that holds its entry).
SELECT_LOG_HEAD = "SELECT log_size, log_checkpoint FROM petitions WHERE id = :id"
SET_LOG_HEAD = "UPDATE petitions SET log_size = :size, log_checkpoint = :note WHERE id = :id"
ADD_CODES_ISSUED = "UPDATE petitions SET codes_issued = codes_issued + :codes WHERE id = :id"
ADD_CARRIED_WITHDRAWN = """
UPDATE petitions SET log_carried_withdrawn = log_carried_withdrawn + :withdrawn WHERE id = :id
RETURNING log_carried_over, log_carried_withdrawn
"""
SELECT_CODE_BATCH_SIZES = "SELECT size FROM code_batches WHERE petition_id = :petition_id ORDER BY id"
INSERT_LOG_ENTRY = """
INSERT INTO log_entries (petition_id, idx, data, commitment) VALUES (:petition_id, :idx, :data, :commitment)
"""
SELECT_LOG_ENTRIES = """
SELECT idx, data FROM log_entries WHERE petition_id = :petition_id AND idx >= :start AND idx < :end ORDER BY idx
"""
SELECT_LOG_INDEX = "SELECT idx FROM log_entries WHERE petition_id = :petition_id AND commitment = :commitment"
SELECT_LOG_TILE = "SELECT hashes FROM log_tiles WHERE petition_id = :petition_id AND level = :level AND idx = :idx"
SELECT_LOG_TILES = "SELECT level, idx, hashes FROM log_tiles WHERE petition_id = :petition_id ORDER BY level, idx"
UPSERT_LOG_TILE = """
INSERT INTO log_tiles (petition_id, level, idx, hashes) VALUES (:petition_id, :level, :idx, :hashes)
ON CONFLICT (petition_id, level, idx) DO UPDATE SET hashes = excluded.hashes
"""
INSERT_LOG_CHECKPOINT = "INSERT INTO log_checkpoints (petition_id, size, note) VALUES (:petition_id, :size, :note)"
SELECT_LOG_CHECKPOINTS = "SELECT size, note FROM log_checkpoints WHERE petition_id = :petition_id ORDER BY size"
# Published petitions whose log has not started (published before logs existed).
SELECT_PETITIONS_WITHOUT_LOG = "SELECT id FROM petitions WHERE state <> 'draft' AND log_origin IS NULL ORDER BY id"

# -- check-log (log_check.py): a whole log read back in pages of its own keys ------------------

LOG_HEAD_COLUMNS = (
    "id, slug, signature_count, count_email, count_code, "
    "log_origin, log_size, log_checkpoint, log_carried_over, log_carried_withdrawn, codes_issued, purged_at, "
    "sensitive_words"
)
SELECT_LOGS_TO_CHECK = f"SELECT {LOG_HEAD_COLUMNS} FROM petitions WHERE state <> 'draft' ORDER BY slug"
SELECT_LOG_TO_CHECK = f"SELECT {LOG_HEAD_COLUMNS} FROM petitions WHERE slug = :slug AND state <> 'draft'"
SELECT_LOG_ENTRIES_FROM = """
SELECT idx, data, commitment FROM log_entries WHERE petition_id = :petition_id AND idx >= :start
ORDER BY idx LIMIT :limit
"""
SELECT_LOG_CHECKPOINTS_FROM = """
SELECT size, note FROM log_checkpoints WHERE petition_id = :petition_id AND size >= :start ORDER BY size LIMIT :limit
"""
COUNT_LOG_TILES = "SELECT COUNT(*) AS n FROM log_tiles WHERE petition_id = :petition_id"

# -- the retention purge (purge.py) ------------------------------------------------------------

# Closed petitions not purged yet whose retention period is over at :now; an open petition past
# its deadline counts as closed at its deadline (CLOSED_AT_NOW).
SELECT_PETITIONS_TO_PURGE = f"""
SELECT id, slug FROM petitions
WHERE {CLOSED_AT_NOW} AND purged_at IS NULL
  AND COALESCE(closed_at, closes_at) + retention_days * 86400 <= :now
ORDER BY id
"""
# The purge's first statement: it locks the petition's row (so two purges take turns, and the
# second finds it purged) and stamps it, only while it is closed and not purged yet.
MARK_PURGED = f"""
UPDATE petitions SET purged_at = :now, version = version + 1
WHERE id = :id AND purged_at IS NULL AND {CLOSED_AT_NOW}
RETURNING id
"""
SELECT_PURGED_AT = "SELECT purged_at FROM petitions WHERE id = :petition_id"
# PostgreSQL: a write that adds identifying data outside pending_signatures (an updates address
# waiting for its code) holds the petition's purge lock, shared, as INSERT_PENDING_POSTGRES does;
# False while a purge holds it.
HOLD_PURGE_LOCK_POSTGRES = f"SELECT pg_try_advisory_xact_lock_shared({PURGE_LOCK_KEY}) AS held"
COUNT_SIGNATURES_WAITING = """
SELECT COUNT(*) FROM pending_signatures WHERE petition_id = :petition_id AND kind <> 3
"""
# What a purge destroys, each by its petition. Used printed codes go too: their keyed hashes would
# let anyone holding PEPPER test a found tear-off tab.
PURGE_STATEMENTS = (
    "DELETE FROM email_dedupe WHERE petition_id = :petition_id",
    "DELETE FROM contacts WHERE petition_id = :petition_id",
    "DELETE FROM contact_confirmations WHERE petition_id = :petition_id",
    "DELETE FROM sign_attempts WHERE petition_id = :petition_id",
    "DELETE FROM pending_signatures WHERE petition_id = :petition_id",
    "DELETE FROM outbox WHERE petition_id = :petition_id",
    "DELETE FROM code_email_counts WHERE petition_id = :petition_id",
    "DELETE FROM signing_codes WHERE batch_id IN (SELECT id FROM code_batches WHERE petition_id = :petition_id)",
    "UPDATE code_batches SET plaintext = NULL WHERE petition_id = :petition_id AND plaintext IS NOT NULL",
    "DELETE FROM signer_reasons WHERE petition_id = :petition_id AND status <> 'approved'",
)
# PostgreSQL only: the waiting signatures' dedupe tags (on SQLite they live in memory).
PURGE_PENDING_DEDUPE = "DELETE FROM pending_dedupe WHERE petition_id = :petition_id"

# -- reasons (reasons.py): moderated, then public in the order of their keyed hash ----------------

# A page of a petition's reasons of one status, by order_key after the cursor's ('' for the first).
SELECT_REASONS = """
SELECT public_id, reason, order_key FROM signer_reasons
WHERE petition_id = :petition_id AND status = :status AND order_key > :after
ORDER BY order_key LIMIT :limit
"""
COUNT_REASONS_BY_STATUS = """
SELECT status, COUNT(*) AS n FROM signer_reasons WHERE petition_id = :petition_id GROUP BY status
"""
SELECT_REASON_STATUS = """
SELECT status FROM signer_reasons WHERE petition_id = :petition_id AND public_id = :public_id
"""
# A moderation moves a row from one status (:was) to another, so what RETURNING gives says
# exactly how the petition's reason_count moves: on PostgreSQL a row changed meanwhile by another
# organizer is checked again against :was, so two moderations at once never count one twice.
CHANGE_REASON_STATUS = """
UPDATE signer_reasons SET status = :status
WHERE petition_id = :petition_id AND public_id = :public_id AND status = :was
RETURNING public_id
"""
# After a purge nothing unapproved is kept: a reason hidden then is deleted.
DELETE_REASON = """
DELETE FROM signer_reasons WHERE petition_id = :petition_id AND public_id = :public_id RETURNING status
"""
ADD_TO_REASON_COUNT = """
UPDATE petitions SET reason_count = reason_count + :approved, version = version + 1 WHERE id = :petition_id
"""
# Rows written before migration 0018: each gets its ids once, whichever process starts first.
SELECT_REASONS_WITHOUT_IDS = "SELECT reason_key FROM signer_reasons WHERE public_id IS NULL ORDER BY reason_key"
SET_REASON_IDS = """
UPDATE signer_reasons SET public_id = :public_id, order_key = :order_key
WHERE reason_key = :reason_key AND public_id IS NULL
RETURNING reason_key
"""

# -- updates organizers post (petition_updates.py) ------------------------------------------------

UPDATE_COLUMNS = (
    "id, petition_id, title, body, posted_at, emailed, recipients, queueing, queued, sent, given_up, dropped"
)
INSERT_PETITION_UPDATE = """
INSERT INTO petition_updates (id, petition_id, title, body, posted_at, emailed, recipients, queueing)
VALUES (:id, :petition_id, :title, :body, :posted_at, :emailed, :recipients, :queueing)
"""
COUNT_CONTACTS = "SELECT COUNT(*) FROM contacts WHERE petition_id = :petition_id"
# Newest first, after the cursor's (posted_at, id); the first page starts after (2**62, "~").
SELECT_PETITION_UPDATES = f"""
SELECT {UPDATE_COLUMNS} FROM petition_updates
WHERE petition_id = :petition_id AND (posted_at < :before_at OR (posted_at = :before_at AND id < :before_id))
ORDER BY posted_at DESC, id DESC LIMIT :limit
"""
SELECT_PETITION_UPDATE = f"SELECT {UPDATE_COLUMNS} FROM petition_updates WHERE id = :id AND petition_id = :petition_id"
# An update's messages waiting for a retry after a mail server refused them or was away.
COUNT_UPDATE_FAILING = "SELECT COUNT(*) FROM outbox WHERE update_id = :update_id AND failures > 0"
SELECT_UPDATES_QUEUEING = "SELECT id FROM petition_updates WHERE queueing = 1 ORDER BY posted_at, id"
# Every chunk of queueing locks the one pace row first (then its update's row), so chunks of any
# process take turns: the cursor each reads is the one the chunk before it wrote.
LOCK_UPDATE_PACE = "UPDATE update_pace SET next_at_ms = next_at_ms WHERE id = 1 RETURNING next_at_ms"
SET_UPDATE_PACE = "UPDATE update_pace SET next_at_ms = :next_at_ms WHERE id = 1"
SELECT_UPDATE_TO_QUEUE = f"""
SELECT {UPDATE_COLUMNS}, queue_after FROM petition_updates WHERE id = :id AND queueing = 1
"""
SELECT_CONTACTS_AFTER = """
SELECT contact_key, sealed FROM contacts WHERE petition_id = :petition_id AND contact_key > :after
ORDER BY contact_key LIMIT :limit
"""
ADVANCE_UPDATE_QUEUE = """
UPDATE petition_updates SET queue_after = :after, queued = queued + :queued WHERE id = :id AND queueing = 1
"""
# Done: what was queued is what it goes to (contacts gone since the post are simply not there).
# The cursor is cleared: a contact key kept would outlive the purge of the contacts.
FINISH_UPDATE_QUEUE = "UPDATE petition_updates SET queueing = 0, recipients = queued, queue_after = '' WHERE id = :id"

# -- the organizers' dashboard (dashboard.py) ------------------------------------------------------

# The hourly counters from :since on (the burst alert's last two hours and the 7 days before them).
SELECT_HOURLY_SIGNED_SINCE = """
SELECT hour, signed FROM hourly_counts WHERE petition_id = :petition_id AND hour >= :since
"""
# Messages of the whole service not sent yet that failed more than :failures times (any petition's
# and organizers' own mail: a mail server that fails, fails for all).
COUNT_OUTBOX_FAILING = "SELECT COUNT(*) FROM outbox WHERE failures > :failures"

# -- the delivery certificate (delivery/certificate.py), read in one snapshot ----------------------

# Shown names in the public page's order (by their random keys: nothing about when each was given),
# a page after the key :after ('' for the first).
SELECT_SIGNER_NAMES_AFTER = """
SELECT name_key, name, role FROM signer_names WHERE petition_id = :petition_id AND name_key > :after
ORDER BY name_key LIMIT :limit
"""
# Each batch of printed codes is one code batch entry of the log (a draft's, once it was published).
COUNT_CODE_BATCHES = "SELECT COUNT(*) FROM code_batches WHERE petition_id = :petition_id"
