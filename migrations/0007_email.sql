-- Signing with a work-email code, updates to a confirmed address, and the mail outbox.
-- No address is stored in the clear: an address is either an HMAC under the pepper
-- (dedupe tags, daily counters) or encrypted with ENCRYPTION_KEY, bound to its row.

-- Every email waits here until an SMTP server accepted it, then its row is deleted.
-- sealed: AES-GCM of {"to", "subject", "body"}, bound to the row's id. due_at: when to try
-- next; a sender claims a message by moving due_at past its claim, so several processes never
-- send one message twice while the sender is alive. Not sent by expires_at: dropped (a code or
-- a link past its validity is of no use).
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX outbox_due ON outbox (due_at);

-- A signer who asked for a code at a work address and has not typed it yet: found through
-- SHA-256("attempt/v1" | attempt id). sealed: the address and the signing form's fields.
-- code_hash: HMAC(pepper, "email-code/v1" | attempt_hash | code). The one row about a signer
-- with a time finer than an hour (its code's expiry); deleted when used, exhausted or expired.
CREATE TABLE sign_attempts (
    attempt_hash TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    sealed TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sign_attempts_by_expiry ON sign_attempts (expires_at);

-- Code emails sent per address, petition and day (MAX_CODE_EMAILS_PER_DAY), keyed by
-- HMAC(pepper, "sends/v1" | petition_id | canonical address | day); deleted the next day.
CREATE TABLE code_email_counts (
    count_key TEXT PRIMARY KEY,
    day BIGINT NOT NULL,
    sent INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX code_email_counts_by_day ON code_email_counts (day);

-- One row per address that signed a petition: tag = HMAC(pepper, "dedupe/v1" | petition_id |
-- canonical address). withdraw_key = SHA-256("wd/v1" | receipt), so withdrawing deletes the
-- row (and the address may sign again) without the row naming its signature.
CREATE TABLE email_dedupe (
    tag TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    withdraw_key TEXT NOT NULL UNIQUE
) WITHOUT ROWID;
CREATE INDEX email_dedupe_by_petition ON email_dedupe (petition_id);

-- An updates address waiting for its own code: keyed by SHA-256("confirm/v1" | receipt);
-- deleted when confirmed, exhausted or expired.
CREATE TABLE contact_confirmations (
    confirm_key TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    sealed TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX contact_confirmations_by_expiry ON contact_confirmations (expires_at);

-- A confirmed address for updates, encrypted and bound to its key, SHA-256("contact/v1" |
-- receipt); written by the batcher in shuffled order, deleted on withdrawal or unsubscribe.
CREATE TABLE contacts (
    contact_key TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    sealed TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX contacts_by_petition ON contacts (petition_id);
