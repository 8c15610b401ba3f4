ALTER TABLE dossiers DROP CONSTRAINT dossiers_state_check;
ALTER TABLE dossiers DROP CONSTRAINT dossiers_channel_check;
ALTER TABLE dossiers DROP CONSTRAINT dossiers_result_delivery_check;
ALTER TABLE dossiers DROP CONSTRAINT dossiers_outcome_check;
ALTER TABLE dossier_events DROP CONSTRAINT dossier_events_state_after_check;
ALTER TABLE dossier_events DROP CONSTRAINT dossier_events_state_before_check;
ALTER TABLE payments DROP CONSTRAINT payments_method_check;
