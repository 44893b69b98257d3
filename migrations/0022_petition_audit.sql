-- The audit trail by petition, for its organizers' dashboard and its public record.
-- petition_id: the petition the action was on (NULL for an account's own actions). No foreign key:
-- the entries about a deleted draft stay, as the rest of the trail does.
-- public_event: the timeline event kind (codes_revoked, round_opened, round_closed) when the action
-- changes what signers and the public see and no column of the petition already records it, else
-- NULL; public_ref: what it was about (a round's id), or NULL. Organizers' times, never a signer's.
ALTER TABLE audit_log ADD COLUMN petition_id TEXT;
ALTER TABLE audit_log ADD COLUMN public_event TEXT;
ALTER TABLE audit_log ADD COLUMN public_ref TEXT;
CREATE INDEX audit_log_by_petition ON audit_log (petition_id, at_micros);
