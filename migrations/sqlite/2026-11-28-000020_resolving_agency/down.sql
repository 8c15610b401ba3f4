DROP INDEX hand_overs_to_agency_id_idx;
DROP INDEX dossiers_resolving_agency_id_idx;
ALTER TABLE dossiers DROP COLUMN resolving_agency_id;
