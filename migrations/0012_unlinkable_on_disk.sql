-- Unlinkable on disk, not only in the schema. SQLite writes each new cell of a page below the
-- ones before it, and the WAL keeps every commit's pages, so rows written when a signature was
-- accepted kept the order (and, beside the mail log, the time) of signing. From here on:
-- accepting a signature writes one sealed pending entry and spends its code in place; closing a
-- batch writes every permanent row of its signatures, each table in the order of its own key,
-- and deletes the pending entries. This migration counts what was waiting under the old rule,
-- then rebuilds each signer table in the order of its key (rows keep their keys).

-- What waited under the old rule is counted now, as a batch closing now would have counted it.
UPDATE petitions SET
    signature_count = signature_count
        + (SELECT COUNT(*) FROM signatures s WHERE s.petition_id = petitions.id AND s.counted = 0)
        - (SELECT COUNT(*) FROM signatures s WHERE s.petition_id = petitions.id AND s.withdrawn = 1),
    count_email = count_email
        + (SELECT COUNT(*) FROM signatures s WHERE s.petition_id = petitions.id AND s.counted = 0 AND s.method = 'email')
        - (SELECT COUNT(*) FROM signatures s WHERE s.petition_id = petitions.id AND s.withdrawn = 1 AND s.method = 'email'),
    count_code = count_code
        + (SELECT COUNT(*) FROM signatures s WHERE s.petition_id = petitions.id AND s.counted = 0 AND s.method = 'code')
        - (SELECT COUNT(*) FROM signatures s WHERE s.petition_id = petitions.id AND s.withdrawn = 1 AND s.method = 'code'),
    version = version + 1
WHERE EXISTS (SELECT 1 FROM signatures s WHERE s.petition_id = petitions.id AND (s.counted = 0 OR s.withdrawn = 1));
CREATE TABLE counted_now (petition_id TEXT PRIMARY KEY, signed BIGINT NOT NULL, withdrawn BIGINT NOT NULL);
INSERT INTO counted_now (petition_id, signed, withdrawn)
SELECT petition_id, SUM(CASE WHEN counted = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN withdrawn = 1 THEN 1 ELSE 0 END)
FROM signatures WHERE counted = 0 OR withdrawn = 1 GROUP BY petition_id;
-- only sqlite:
INSERT INTO hourly_counts (petition_id, hour, signed, withdrawn)
SELECT petition_id, CAST(strftime('%s', 'now') AS INTEGER) / 3600 * 3600, signed, withdrawn FROM counted_now WHERE true
ON CONFLICT (petition_id, hour) DO UPDATE
SET signed = hourly_counts.signed + excluded.signed, withdrawn = hourly_counts.withdrawn + excluded.withdrawn;
-- only postgresql:
INSERT INTO hourly_counts (petition_id, hour, signed, withdrawn)
SELECT petition_id, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) / 3600 * 3600, signed, withdrawn FROM counted_now
ON CONFLICT (petition_id, hour) DO UPDATE
SET signed = hourly_counts.signed + excluded.signed, withdrawn = hourly_counts.withdrawn + excluded.withdrawn;
-- every database:
DROP TABLE counted_now;
UPDATE cache_version SET version = version + 1 WHERE id = 1;

-- A counted signature, found only through SHA-256("sig/v1" | receipt). No time of its own: it is
-- counted in the hour its batch closed. withdrawn: 0, or 1 (changed in place, one byte).
CREATE TABLE signatures_by_key (
    receipt_hash TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    method TEXT NOT NULL,
    withdrawn SMALLINT NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO signatures_by_key (receipt_hash, petition_id, method, withdrawn)
SELECT receipt_hash, petition_id, method, CASE WHEN withdrawn = 0 THEN 0 ELSE 1 END FROM signatures
ORDER BY receipt_hash;
DROP TABLE signatures;
ALTER TABLE signatures_by_key RENAME TO signatures;

-- Everything that waits for a petition's next batch, one sealed entry each (AES-GCM bound to its
-- key), found through SHA-256("pending/v1" | receipt) or ("pending-contact/v1" | receipt).
-- kind: 0 a signature, 1 a signature withdrawn before its batch, 2 the withdrawal of a counted
-- signature, 3 details (an updates address) for a signature. Kinds are small integers so that
-- withdrawing a waiting signature changes its entry in place.
CREATE TABLE pending_signatures (
    pending_key TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    kind SMALLINT NOT NULL,
    sealed TEXT NOT NULL
) WITHOUT ROWID;
-- No second index: it would be one more random page written per signature, and the batcher's
-- scans of what waits (a batch's worth) are cheap without one.
-- Names, reasons and updates addresses that waited under the old rule wait here now (their
-- sealed form names their signature, as details do).
INSERT INTO pending_signatures (pending_key, petition_id, kind, sealed)
SELECT id, petition_id, 3, sealed FROM pending_details ORDER BY id;
DROP TABLE pending_details;

-- One row per printed code; state 0 unused, 1 used (spending changes one byte in place: a text
-- state moved the cell). A revoked batch's codes are refused through their batch.
CREATE TABLE signing_codes_by_key (
    code_hash TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    state SMALLINT NOT NULL
) WITHOUT ROWID;
INSERT INTO signing_codes_by_key (code_hash, batch_id, state)
SELECT code_hash, batch_id, CASE WHEN state = 'used' THEN 1 ELSE 0 END FROM signing_codes ORDER BY code_hash;
DROP TABLE signing_codes;
ALTER TABLE signing_codes_by_key RENAME TO signing_codes;
CREATE INDEX signing_codes_by_batch ON signing_codes (batch_id);

-- The other signer tables, rebuilt in the order of their keys.
CREATE TABLE email_dedupe_by_key (
    tag TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    withdraw_key TEXT NOT NULL UNIQUE
) WITHOUT ROWID;
INSERT INTO email_dedupe_by_key (tag, petition_id, withdraw_key)
SELECT tag, petition_id, withdraw_key FROM email_dedupe ORDER BY tag;
DROP TABLE email_dedupe;
ALTER TABLE email_dedupe_by_key RENAME TO email_dedupe;
CREATE INDEX email_dedupe_by_petition ON email_dedupe (petition_id);

CREATE TABLE signer_names_by_key (
    name_key TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO signer_names_by_key (name_key, petition_id, name, role)
SELECT name_key, petition_id, name, role FROM signer_names ORDER BY name_key;
DROP TABLE signer_names;
ALTER TABLE signer_names_by_key RENAME TO signer_names;
CREATE INDEX signer_names_by_petition ON signer_names (petition_id);

CREATE TABLE signer_reasons_by_key (
    reason_key TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO signer_reasons_by_key (reason_key, petition_id, reason, status)
SELECT reason_key, petition_id, reason, status FROM signer_reasons ORDER BY reason_key;
DROP TABLE signer_reasons;
ALTER TABLE signer_reasons_by_key RENAME TO signer_reasons;
CREATE INDEX signer_reasons_by_petition ON signer_reasons (petition_id);

CREATE TABLE contacts_by_key (
    contact_key TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    sealed TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO contacts_by_key (contact_key, petition_id, sealed)
SELECT contact_key, petition_id, sealed FROM contacts ORDER BY contact_key;
DROP TABLE contacts;
ALTER TABLE contacts_by_key RENAME TO contacts;
CREATE INDEX contacts_by_petition ON contacts (petition_id);

-- only postgresql:
-- With several processes, a second signature with the same address must be refused while the
-- first still waits, in whichever process it came: each waiting signature's dedupe tag, keyed
-- again (HMAC(pepper, "pending-dedupe/v1" | tag)) so that it matches no permanent tag. On SQLite
-- (one process) these live in memory instead, rebuilt from the pending entries at start.
CREATE TABLE pending_dedupe (
    pending_tag TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL
);
