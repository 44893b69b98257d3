-- Printed single-use signing codes, made in batches by a petition's organizers.
-- The plaintext codes exist only until their first download (encrypted meanwhile); after that
-- only keyed hashes remain. Organizers see how many of a batch were used, never which.
CREATE TABLE code_batches (
    id TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL REFERENCES petitions (id),
    label TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_by TEXT NOT NULL REFERENCES organizers (id),
    created_at BIGINT NOT NULL,
    -- The codes, encrypted with ENCRYPTION_KEY, until the one download; then NULL.
    plaintext TEXT,
    downloaded_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX code_batches_by_petition ON code_batches (petition_id);

-- One row per code: HMAC-SHA256(PEPPER, "code/v1" | code), its batch, and whether it is spent.
-- No time, no order (WITHOUT ROWID), nothing that points at a signature.
CREATE TABLE signing_codes (
    code_hash TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    state TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX signing_codes_by_batch ON signing_codes (batch_id, state);
