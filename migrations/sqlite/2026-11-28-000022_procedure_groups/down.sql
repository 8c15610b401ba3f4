DROP INDEX dossiers_group_id_idx;
ALTER TABLE dossiers DROP COLUMN group_id;
DROP TABLE dossier_groups;
DROP TABLE procedure_groups;
