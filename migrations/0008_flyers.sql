-- Flyer batches: printed flyers of one layout and paper size, with their own short link
-- /f/{batch_code}. A tear-off batch owns a batch of printed signing codes for its tabs.
-- Scans and signatures are plain counters per batch, kept apart from every signature, added
-- to once a day from each process's memory (so no row times a scan or a signature).
CREATE TABLE flyer_batches (
    id TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL REFERENCES petitions (id),
    batch_code TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    layout TEXT NOT NULL,
    paper_size TEXT NOT NULL,
    copies INTEGER NOT NULL,
    code_batch_id TEXT,
    created_by TEXT NOT NULL REFERENCES organizers (id),
    created_at BIGINT NOT NULL,
    scans BIGINT NOT NULL DEFAULT 0,
    signatures BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX flyer_batches_by_petition ON flyer_batches (petition_id);
CREATE INDEX flyer_batches_by_code_batch ON flyer_batches (code_batch_id);
