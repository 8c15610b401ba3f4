-- Reports read these indexes instead of the wide rows.
-- Form 06 and the indicators count the dossiers that finished in a period
-- from the index on finished_at alone (an index-only scan reads ~110 bytes a
-- dossier instead of the whole row).
DROP INDEX dossiers_finished_at_idx;
CREATE INDEX dossiers_finished_at_idx ON dossiers (finished_at)
    INCLUDE (receiving_agency_id, procedure_id, channel, state, outcome, accepted_at,
             result_delivery, id);
-- Which dossiers had an apology, without reading the events.
DROP INDEX dossier_events_action_idx;
CREATE INDEX dossier_events_action_dossier_idx ON dossier_events (action, dossier_id);
-- Payments of a period (all, and those paid online) and the dissatisfied
-- ratings, for the indicators: the conditions on the JSON payload are in the
-- indexes' predicates, so counting never reads the events (a payload itself
-- must not go into an index: a long rating comment would exceed the index
-- row limit and fail the write).
CREATE INDEX dossier_events_payments_idx ON dossier_events (at)
    INCLUDE (dossier_id) WHERE action = 'record_payment';
CREATE INDEX dossier_events_online_payments_idx ON dossier_events (at)
    INCLUDE (dossier_id)
    WHERE action = 'record_payment' AND (payload::json ->> 'method') = 'online';
CREATE INDEX dossier_events_dissatisfied_idx ON dossier_events (dossier_id)
    WHERE action = 'rate' AND (payload::json ->> 'overall') = 'dissatisfied';
