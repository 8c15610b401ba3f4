-- Reports read these indexes instead of the wide rows.
-- Form 06 and the indicators count the dossiers that finished in a period
-- from the index on finished_at alone (a covering index: SQLite then never
-- reads the rows).
DROP INDEX dossiers_finished_at_idx;
CREATE INDEX dossiers_finished_at_idx ON dossiers
    (finished_at, receiving_agency_id, procedure_id, channel, state, outcome, accepted_at,
     result_delivery, id);
-- Which dossiers had an apology, without reading the events.
DROP INDEX dossier_events_action_idx;
CREATE INDEX dossier_events_action_dossier_idx ON dossier_events (action, dossier_id);
