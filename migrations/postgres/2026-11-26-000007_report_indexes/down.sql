DROP INDEX dossier_events_action_idx;
DROP INDEX dossiers_finished_at_idx;
