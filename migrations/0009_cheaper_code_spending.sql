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
