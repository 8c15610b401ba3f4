DROP INDEX agencies_merged_into_id_idx;
ALTER TABLE agencies DROP COLUMN merged_at;
ALTER TABLE agencies DROP COLUMN merged_into_id;
