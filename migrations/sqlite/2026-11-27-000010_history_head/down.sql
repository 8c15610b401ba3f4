DROP INDEX dossier_events_at_idx;
DROP INDEX dossiers_created_at_idx;
ALTER TABLE dossier_events DROP COLUMN key_id;
ALTER TABLE dossiers DROP COLUMN history_events;
ALTER TABLE dossiers DROP COLUMN history_head;
