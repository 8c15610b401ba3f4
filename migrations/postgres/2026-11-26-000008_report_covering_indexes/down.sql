DROP INDEX dossier_events_dissatisfied_idx;
DROP INDEX dossier_events_online_payments_idx;
DROP INDEX dossier_events_payments_idx;
DROP INDEX dossier_events_action_dossier_idx;
CREATE INDEX dossier_events_action_idx ON dossier_events (action);
DROP INDEX dossiers_finished_at_idx;
CREATE INDEX dossiers_finished_at_idx ON dossiers (finished_at);
