-- Form 06 counts a dossier at the agency that resolves it (issue #15): every
-- dossier names its resolving agency (those stored before: the receiving
-- agency, which resolved them), and the covering index Form 06 reads carries
-- it beside the receiving agency.
UPDATE dossiers SET resolving_agency_id = receiving_agency_id WHERE resolving_agency_id IS NULL;
DROP INDEX dossiers_finished_at_idx;
CREATE INDEX dossiers_finished_at_idx ON dossiers
    (finished_at, receiving_agency_id, resolving_agency_id, procedure_id, channel, state, outcome,
     accepted_at, result_delivery, id);
