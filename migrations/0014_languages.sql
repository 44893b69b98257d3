-- A petition's language (a BCP 47 tag in its standard form): `lang` and `dir` on its own words
-- in its pages, and the font faces and base direction of its flyers. Earlier petitions are English.
ALTER TABLE petitions ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
UPDATE cache_version SET version = version + 1 WHERE id = 1;
