-- The last TOTP time step an organizer used, so a code cannot be replayed within its window.
ALTER TABLE organizers ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
