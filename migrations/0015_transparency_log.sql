-- Each published petition's transparency log: an append-only RFC 6962 Merkle tree of entries (a
-- signature's commitment and method, a withdrawal, a batch of printed codes, the signatures
-- counted before the log existed), with C2SP signed-note checkpoints and C2SP tlog-tiles.
--
-- The petition row holds its log's head, so the public reads that show it need no other read:
-- log_origin is fixed when the log starts (NULL: not started), log_size and log_checkpoint are
-- the latest signed checkpoint, log_carried_over the signatures counted before the log (entry 0)
-- and log_carried_withdrawn how many of those were withdrawn since; codes_issued is the codes
-- committed in the log by code batch entries.
ALTER TABLE petitions ADD COLUMN log_origin TEXT;
ALTER TABLE petitions ADD COLUMN log_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE petitions ADD COLUMN log_checkpoint TEXT;
ALTER TABLE petitions ADD COLUMN log_carried_over BIGINT NOT NULL DEFAULT 0;
ALTER TABLE petitions ADD COLUMN log_carried_withdrawn BIGINT NOT NULL DEFAULT 0;
ALTER TABLE petitions ADD COLUMN codes_issued BIGINT NOT NULL DEFAULT 0;

-- The entries, by index. A signature entry's commitment (bytes 2..33 of its data) is kept again
-- where an index finds it: a receipt's status and a withdrawal look their entry up by it. The
-- commitment is public (it is in the entry) and names nobody.
-- only sqlite:
CREATE TABLE log_entries (
    petition_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    data BLOB NOT NULL,
    commitment BLOB,
    PRIMARY KEY (petition_id, idx)
) WITHOUT ROWID;
-- Hashes in tiles of 256 (C2SP tlog-tiles): level L, tile N holds the hashes of the tree's nodes
-- at height 8L, N*256 onward; the rightmost tile of a level grows until it is full.
CREATE TABLE log_tiles (
    petition_id TEXT NOT NULL,
    level SMALLINT NOT NULL,
    idx BIGINT NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (petition_id, level, idx)
) WITHOUT ROWID;
-- only postgresql:
CREATE TABLE log_entries (
    petition_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    data BYTEA NOT NULL,
    commitment BYTEA,
    PRIMARY KEY (petition_id, idx)
);
CREATE TABLE log_tiles (
    petition_id TEXT NOT NULL,
    level SMALLINT NOT NULL,
    idx BIGINT NOT NULL,
    hashes BYTEA NOT NULL,
    PRIMARY KEY (petition_id, level, idx)
);
-- every database:
CREATE UNIQUE INDEX log_entries_by_commitment ON log_entries (petition_id, commitment) WHERE commitment IS NOT NULL;
-- Every checkpoint the service signed, so that `check-log` can recompute each one's root.
CREATE TABLE log_checkpoints (
    petition_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (petition_id, size)
) WITHOUT ROWID;
UPDATE cache_version SET version = version + 1 WHERE id = 1;
