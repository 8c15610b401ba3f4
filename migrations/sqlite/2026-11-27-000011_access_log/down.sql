-- Drops the access log and every read recorded in it since the migration
-- (the reads recorded before it are still in the histories).
DROP TABLE access_log;
