-- Leases: a job that must run in one process at a time (closing a batch of
-- signatures, purging expired data) first takes its lease here. A holder keeps
-- it until expires_at; a crashed holder's lease simply runs out.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
