DROP TABLE idempotency_keys;
DROP TABLE dossier_counters;
DROP TABLE dossier_events;
DROP TABLE dossiers;
DROP TABLE procedures;
