DROP INDEX dossiers_finished_at_idx;
CREATE INDEX dossiers_finished_at_idx ON dossiers (finished_at)
    INCLUDE (receiving_agency_id, procedure_id, channel, state, outcome, accepted_at,
             result_delivery, id);
