-- One-click unsubscribe from update emails. unsubscribe_hash: SHA-256 (hex) of the token in the
-- contact's unsubscribe link, written when its first update email is made (NULL until then).
-- The token itself is never stored: it is derived from the contact key under a key held outside
-- the database, so every update email to the contact carries the same link. Unique: a link finds
-- one contact. (ADD COLUMN works on SQLite's WITHOUT ROWID tables as on any other.)
ALTER TABLE contacts ADD COLUMN unsubscribe_hash TEXT;
CREATE UNIQUE INDEX contacts_by_unsubscribe_hash ON contacts (unsubscribe_hash);
