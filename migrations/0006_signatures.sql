-- Signatures and what signers chose to leave, stored so that no two of these tables can be
-- joined: separate tables, no keys in common, no foreign keys between them, keys that are
-- hashes of the signer's receipt under different labels, no insertion order (WITHOUT ROWID),
-- and no time finer than an hour.

-- An accepted signature, found again only through SHA-256("sig/v1" | receipt).
-- counted: 1 once a closed batch counted it. withdrawn: 0 no, 1 asked (to count), 2 counted.
CREATE TABLE signatures (
    receipt_hash TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    method TEXT NOT NULL,
    counted SMALLINT NOT NULL DEFAULT 0,
    withdrawn SMALLINT NOT NULL DEFAULT 0,
    accepted_hour BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX signatures_to_count ON signatures (petition_id, counted, withdrawn);

-- Names and reasons wait here, encrypted, until the batch that counts their signature closes;
-- the batcher then writes them to their own tables in shuffled order and deletes these rows.
CREATE TABLE pending_details (
    id TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    sealed TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX pending_details_by_petition ON pending_details (petition_id);

-- A name a signer chose to show, keyed by SHA-256("name/v1" | receipt).
CREATE TABLE signer_names (
    name_key TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX signer_names_by_petition ON signer_names (petition_id);

-- A reason a signer gave, keyed by SHA-256("reason/v1" | receipt); hidden until moderated.
CREATE TABLE signer_reasons (
    reason_key TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX signer_reasons_by_petition ON signer_reasons (petition_id);

-- Counts per petition and hour, as each closed batch adds to them (for the timeline).
CREATE TABLE hourly_counts (
    petition_id TEXT NOT NULL,
    hour BIGINT NOT NULL,
    signed BIGINT NOT NULL DEFAULT 0,
    withdrawn BIGINT NOT NULL DEFAULT 0,
    invalidated BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (petition_id, hour)
);
