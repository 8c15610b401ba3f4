-- Form 06 counts the dossiers that finished in a period from the index alone
-- (a covering index: SQLite then never reads the rows), and finds the
-- dossiers with a given action (apologies, payments, ratings) without
-- reading the events themselves.
DROP INDEX dossiers_finished_at_idx;
CREATE INDEX dossiers_finished_at_idx ON dossiers
    (finished_at, receiving_agency_id, procedure_id, channel, state, outcome, accepted_at, id);
DROP INDEX dossier_events_action_idx;
CREATE INDEX dossier_events_action_dossier_idx ON dossier_events (action, dossier_id);
