-- Payments backfilled by the up migration stay: they are the dossiers'
-- payments, and a second up skips them.
DROP INDEX payments_recorded_at_idx;
DROP TABLE rating_criteria;
DROP TABLE ratings;
DROP TABLE apologies;
DROP TABLE hand_overs;
DROP TABLE supplement_items;
DROP TABLE supplement_requests;
CREATE INDEX dossier_events_payments_idx ON dossier_events (at)
    INCLUDE (dossier_id) WHERE action = 'record_payment';
CREATE INDEX dossier_events_online_payments_idx ON dossier_events (at)
    INCLUDE (dossier_id)
    WHERE action = 'record_payment' AND (payload::json ->> 'method') = 'online';
CREATE INDEX dossier_events_dissatisfied_idx ON dossier_events (dossier_id)
    WHERE action = 'rate' AND (payload::json ->> 'overall') = 'dissatisfied';
