-- A petition's time zone (an IANA name): its day buckets, "as of" day and shown dates follow it.
-- Petitions made before it keep counting by the UTC day, as they always did.
ALTER TABLE petitions ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
UPDATE cache_version SET version = version + 1 WHERE id = 1;
