-- Spending a code changes its state. With state in the batch index, every signature moved
-- an index entry from one place to another (two more random pages to write at each commit);
-- now the batch index holds the batch only, which spending never changes, and a partial
-- index lists the used codes of each batch, for the organizers' counts.
DROP INDEX signing_codes_by_batch;
CREATE INDEX signing_codes_by_batch ON signing_codes (batch_id);
CREATE INDEX signing_codes_used ON signing_codes (batch_id) WHERE state = 'used';
