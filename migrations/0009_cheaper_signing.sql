-- Spending a code changed its state, and state was in the batch index: every signature
-- moved an index entry from one random page to another, two more pages to write at each
-- commit. Now the batch index holds the batch only, which spending never changes, and
-- each batch counts its used codes itself (one row, the same page for a whole commit).
DROP INDEX signing_codes_by_batch;
CREATE INDEX signing_codes_by_batch ON signing_codes (batch_id);
ALTER TABLE code_batches ADD COLUMN used BIGINT NOT NULL DEFAULT 0;
UPDATE code_batches SET used = (
    SELECT COUNT(*) FROM signing_codes
    WHERE signing_codes.batch_id = code_batches.id AND signing_codes.state = 'used'
);

-- The batcher looks for signatures not yet counted and withdrawals not yet taken off. The
-- index it used kept every signature for good, so closing a batch moved each entry from the
-- "pending" part to the "counted" part (two random pages per signature); this index holds the
-- pending ones only, which closing a batch deletes from it.
DROP INDEX signatures_to_count;
CREATE INDEX signatures_pending ON signatures (petition_id) WHERE counted = 0 OR withdrawn = 1;
