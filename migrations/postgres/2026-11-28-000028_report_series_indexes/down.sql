DROP INDEX dossiers_id_agency_idx;
DROP INDEX dossiers_ack_due_at_idx;
DROP INDEX dossiers_accepted_at_idx;
