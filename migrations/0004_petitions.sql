-- Petitions. Lists (allowed_domains, verification) are JSON text; times are seconds since the epoch.
-- version moves whenever anything shown about the petition changes, so caches know when to refresh.
CREATE TABLE petitions (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
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
CREATE INDEX petitions_by_state ON petitions (state, opened_at);

-- Who may change a petition: its creator and the organizers they add.
CREATE TABLE petition_organizers (
    petition_id TEXT NOT NULL REFERENCES petitions (id),
    organizer_id TEXT NOT NULL REFERENCES organizers (id),
    PRIMARY KEY (petition_id, organizer_id)
);
CREATE INDEX petition_organizers_by_organizer ON petition_organizers (organizer_id);

-- Earlier texts of a published petition, kept when its text is edited.
CREATE TABLE petition_versions (
    petition_id TEXT NOT NULL REFERENCES petitions (id),
    number BIGINT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    body TEXT NOT NULL,
    target TEXT NOT NULL,
    replaced_at BIGINT NOT NULL,
    PRIMARY KEY (petition_id, number)
);

-- One number that moves whenever any petition changes: each process polls it to know when
-- its cached public pages are stale.
CREATE TABLE cache_version (
    id SMALLINT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO cache_version (id, version) VALUES (1, 1);
