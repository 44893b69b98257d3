-- A petition's sensitive words: team names, project codenames, office locations its organizers
-- list, so reasons that contain one are flagged before anyone approves them. A JSON array of
-- strings; organizer-only, never shown to the public.
ALTER TABLE petitions ADD COLUMN sensitive_words TEXT NOT NULL DEFAULT '[]';
