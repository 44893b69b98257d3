-- Retention: what could identify a petition's signers is destroyed retention_days after it
-- closes (a purge), and the purge is recorded: purged_at on the petition (NULL: not purged),
-- and a 0x04 entry in its transparency log.
ALTER TABLE petitions ADD COLUMN purged_at BIGINT;

-- A purge deletes the mail still waiting about its petition (codes, confirmations, updates) and
-- the petition's code-email counters, so both learn which petition they are about. NULL: a row
-- written before this migration, or mail about no petition (organizer accounts).
ALTER TABLE outbox ADD COLUMN petition_id TEXT;
CREATE INDEX outbox_by_petition ON outbox (petition_id);
ALTER TABLE code_email_counts ADD COLUMN petition_id TEXT;
CREATE INDEX code_email_counts_by_petition ON code_email_counts (petition_id);

-- A retention period is at most 365 days now; shortening is always allowed (signers were told
-- the longer one, and keeping less than promised breaks no promise).
UPDATE petitions SET retention_days = 365, version = version + 1 WHERE retention_days > 365;
UPDATE cache_version SET version = version + 1 WHERE id = 1;
