ALTER TABLE dossiers DROP COLUMN accepted_at;
