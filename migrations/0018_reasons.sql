-- Moderated reasons. A reason is 'waiting' (not moderated yet: what 'hidden' meant until now),
-- 'approved' (public) or 'hidden' (by an organizer). The purge keeps only approved ones.
UPDATE signer_reasons SET status = 'waiting' WHERE status = 'hidden';

-- public_id: random (128 bits), the only name a reason has outside the database; never its
-- storage key, which anyone holding the receipt can compute. order_key: HMAC of the public id
-- under a key derived from SECRET_KEY, the public order (stable, and saying nothing about when
-- a reason was written or approved). Both are written by the batcher; rows written before this
-- migration get theirs when the service starts (reasons.fill_missing_ids).
ALTER TABLE signer_reasons ADD COLUMN public_id TEXT;
ALTER TABLE signer_reasons ADD COLUMN order_key TEXT;
CREATE UNIQUE INDEX signer_reasons_by_public_id ON signer_reasons (public_id);
CREATE INDEX signer_reasons_by_order ON signer_reasons (petition_id, status, order_key);

-- Approved reasons per petition, moved in the same write as each approval, hiding, withdrawal.
ALTER TABLE petitions ADD COLUMN reason_count BIGINT NOT NULL DEFAULT 0;
UPDATE petitions SET reason_count = (
    SELECT COUNT(*) FROM signer_reasons r WHERE r.petition_id = petitions.id AND r.status = 'approved'
);
UPDATE cache_version SET version = version + 1 WHERE id = 1;
