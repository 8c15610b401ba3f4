-- Reports select dossiers by when they finished (Form 06 counts a period's
-- closed dossiers; the open ones at its end are the unfinished), and find
-- apologies among the events.
CREATE INDEX dossiers_finished_at_idx ON dossiers (finished_at);
CREATE INDEX dossier_events_action_idx ON dossier_events (action);
