DROP INDEX dossiers_assisted_by_idx;
ALTER TABLE dossiers DROP COLUMN assisted_by;
