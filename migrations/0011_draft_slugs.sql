-- A slug is reserved only once its petition is published: a draft's slug may be anything the
-- organizer likes, even a slug another organizer's draft has, so drafts cannot be discovered by
-- trying slugs. Drafts are addressed by their id until they are published.
-- SQLite cannot drop a column's UNIQUE: the table is rebuilt, its rows copied back while foreign
-- keys are checked at commit (by then every referenced petition is back).
-- only sqlite:
PRAGMA defer_foreign_keys = ON;
CREATE TABLE petitions_copy AS SELECT * FROM petitions;
DROP TABLE petitions;
CREATE TABLE petitions (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    state TEXT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    body TEXT NOT NULL,
    target TEXT NOT NULL,
    goal BIGINT NOT NULL,
    closes_at BIGINT,
    allowed_domains TEXT NOT NULL,
    verification TEXT NOT NULL,
    show_names SMALLINT NOT NULL,
    reasons_enabled SMALLINT NOT NULL,
    timeline_floor TEXT NOT NULL,
    retention_days BIGINT NOT NULL,
    signature_count BIGINT NOT NULL DEFAULT 0,
    count_email BIGINT NOT NULL DEFAULT 0,
    count_code BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL REFERENCES organizers (id),
    created_at BIGINT NOT NULL,
    opened_at BIGINT,
    closed_at BIGINT,
    text_changed_at BIGINT,
    version BIGINT NOT NULL DEFAULT 1
);
INSERT INTO petitions (id, slug, state, title, summary, body, target, goal, closes_at, allowed_domains,
    verification, show_names, reasons_enabled, timeline_floor, retention_days, signature_count, count_email,
    count_code, created_by, created_at, opened_at, closed_at, text_changed_at, version)
SELECT id, slug, state, title, summary, body, target, goal, closes_at, allowed_domains,
    verification, show_names, reasons_enabled, timeline_floor, retention_days, signature_count, count_email,
    count_code, created_by, created_at, opened_at, closed_at, text_changed_at, version
FROM petitions_copy;
DROP TABLE petitions_copy;
CREATE INDEX petitions_by_state ON petitions (state, opened_at);
-- only postgresql:
ALTER TABLE petitions DROP CONSTRAINT petitions_slug_key;
-- every database:
CREATE UNIQUE INDEX petitions_by_published_slug ON petitions (slug) WHERE state <> 'draft';
