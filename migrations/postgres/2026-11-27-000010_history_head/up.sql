-- The history that cannot be shortened or rewritten unseen (issue #10,
-- docs/security.md):
-- each dossier records its chain's head, so a deleted last event shows;
ALTER TABLE dossiers ADD COLUMN history_head TEXT NOT NULL DEFAULT '';
ALTER TABLE dossiers ADD COLUMN history_events INTEGER NOT NULL DEFAULT 0;
-- each event names the key its HMAC was computed with ('sha256': an
-- unkeyed hash, as every event written before this migration has);
ALTER TABLE dossier_events ADD COLUMN key_id TEXT NOT NULL DEFAULT 'sha256';

UPDATE dossiers
SET history_events = last.seq, history_head = last.hash
FROM (
    SELECT DISTINCT ON (dossier_id) dossier_id, seq, hash
    FROM dossier_events
    ORDER BY dossier_id, seq DESC
) AS last
WHERE last.dossier_id = dossiers.id;

-- the audit walks a subtree's dossiers by creation, in batches;
CREATE INDEX dossiers_created_at_idx ON dossiers (created_at, id);
-- a day's anchor reads the events of that day.
CREATE INDEX dossier_events_at_idx ON dossier_events (at);
