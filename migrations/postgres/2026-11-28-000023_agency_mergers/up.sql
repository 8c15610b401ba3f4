-- Agency mergers (issue #15): the 2025 reorganisation merged provinces and
-- communes. A merged agency moves under the agency it was merged into (its
-- path changes, so that agency's staff and reports reach its dossiers,
-- which keep their codes and history) and receives nothing new.
ALTER TABLE agencies ADD COLUMN merged_into_id UUID REFERENCES agencies (id);
ALTER TABLE agencies ADD COLUMN merged_at TIMESTAMPTZ;
CREATE INDEX agencies_merged_into_id_idx ON agencies (merged_into_id);
