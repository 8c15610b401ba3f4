-- Closed sets are closed in the database too (issue #11, item 3): a
-- dossier's state, channel, result delivery and outcome, its events' states
-- and a payment's method take only the values the domain names
-- (`State`, `Channel`, `Delivery`, `Outcome`, `PaymentMethod`); a write of
-- anything else is refused. The test `the_database_refuses_values_outside_the_closed_sets`
-- writes each column raw.
ALTER TABLE dossiers ADD CONSTRAINT dossiers_state_check CHECK (state IN ('submitted', 'intake_supplement', 'refused', 'accepted', 'in_processing', 'supplement_requested', 'awaiting_payment', 'withdrawn', 'stopped', 'result_ready', 'returned'));
ALTER TABLE dossiers ADD CONSTRAINT dossiers_channel_check CHECK (channel IN ('direct', 'postal', 'online'));
ALTER TABLE dossiers ADD CONSTRAINT dossiers_result_delivery_check CHECK (result_delivery IN ('desk', 'post', 'online'));
ALTER TABLE dossiers ADD CONSTRAINT dossiers_outcome_check CHECK (outcome IS NULL OR outcome IN ('early', 'on_time', 'late'));
ALTER TABLE dossier_events ADD CONSTRAINT dossier_events_state_after_check CHECK (state_after IN ('submitted', 'intake_supplement', 'refused', 'accepted', 'in_processing', 'supplement_requested', 'awaiting_payment', 'withdrawn', 'stopped', 'result_ready', 'returned'));
ALTER TABLE dossier_events ADD CONSTRAINT dossier_events_state_before_check CHECK (state_before IS NULL OR state_before IN ('submitted', 'intake_supplement', 'refused', 'accepted', 'in_processing', 'supplement_requested', 'awaiting_payment', 'withdrawn', 'stopped', 'result_ready', 'returned'));
ALTER TABLE payments ADD CONSTRAINT payments_method_check CHECK (method IN ('cash', 'transfer', 'online'));
