-- Signatures are kept in the order (petition, counted, withdrawn, receipt hash): the key
-- itself is how the batcher finds what waits (counted = 0, or withdrawn = 1), so no second
-- index is needed. Each signature used to write two random pages (its row and its entry in
-- the index of waiting signatures); now it writes one, in the small part of the table that
-- waits. Closing a batch moves the rows it counts to the counted part. The receipt hash
-- still decides the order within each part, so the order says nothing about time.
CREATE TABLE signatures_by_state (
    petition_id TEXT NOT NULL,
    counted SMALLINT NOT NULL DEFAULT 0,
    withdrawn SMALLINT NOT NULL DEFAULT 0,
    receipt_hash TEXT NOT NULL,
    method TEXT NOT NULL,
    accepted_hour BIGINT NOT NULL,
    PRIMARY KEY (petition_id, counted, withdrawn, receipt_hash)
) WITHOUT ROWID;
INSERT INTO signatures_by_state (petition_id, counted, withdrawn, receipt_hash, method, accepted_hour)
SELECT petition_id, counted, withdrawn, receipt_hash, method, accepted_hour FROM signatures;
DROP TABLE signatures;
ALTER TABLE signatures_by_state RENAME TO signatures;
