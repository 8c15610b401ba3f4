-- Every foreign key leads an index (issue #11, item 3; the test
-- `every_foreign_key_leads_an_index` names any that does not): without one,
-- each delete or key change of a referenced row, and each join from it,
-- scans the referencing table. These two were the only ones missing.
CREATE INDEX idempotency_keys_dossier_id_idx ON idempotency_keys (dossier_id);
CREATE INDEX payments_recorded_by_idx ON payments (recorded_by);
