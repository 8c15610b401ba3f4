-- Closed sets are closed in the database too (issue #11, item 3): a
-- dossier's state, channel, result delivery and outcome, its events' states
-- and a payment's method take only the values the domain names
-- (`State`, `Channel`, `Delivery`, `Outcome`, `PaymentMethod`); a write of
-- anything else is refused. The test `the_database_refuses_values_outside_the_closed_sets`
-- writes each column raw.
-- SQLite cannot add a CHECK constraint to an existing table without
-- rebuilding it: triggers refuse the same writes.
CREATE TRIGGER dossiers_state_check_insert BEFORE INSERT ON dossiers
WHEN NEW.state NOT IN ('submitted', 'intake_supplement', 'refused', 'accepted', 'in_processing', 'supplement_requested', 'awaiting_payment', 'withdrawn', 'stopped', 'result_ready', 'returned')
BEGIN SELECT RAISE(ABORT, 'dossiers_state_check: state outside its closed set'); END;
CREATE TRIGGER dossiers_state_check_update BEFORE UPDATE OF state ON dossiers
WHEN NEW.state NOT IN ('submitted', 'intake_supplement', 'refused', 'accepted', 'in_processing', 'supplement_requested', 'awaiting_payment', 'withdrawn', 'stopped', 'result_ready', 'returned')
BEGIN SELECT RAISE(ABORT, 'dossiers_state_check: state outside its closed set'); END;
CREATE TRIGGER dossiers_channel_check_insert BEFORE INSERT ON dossiers
WHEN NEW.channel NOT IN ('direct', 'postal', 'online')
BEGIN SELECT RAISE(ABORT, 'dossiers_channel_check: channel outside its closed set'); END;
CREATE TRIGGER dossiers_channel_check_update BEFORE UPDATE OF channel ON dossiers
WHEN NEW.channel NOT IN ('direct', 'postal', 'online')
BEGIN SELECT RAISE(ABORT, 'dossiers_channel_check: channel outside its closed set'); END;
CREATE TRIGGER dossiers_result_delivery_check_insert BEFORE INSERT ON dossiers
WHEN NEW.result_delivery NOT IN ('desk', 'post', 'online')
BEGIN SELECT RAISE(ABORT, 'dossiers_result_delivery_check: result_delivery outside its closed set'); END;
CREATE TRIGGER dossiers_result_delivery_check_update BEFORE UPDATE OF result_delivery ON dossiers
WHEN NEW.result_delivery NOT IN ('desk', 'post', 'online')
BEGIN SELECT RAISE(ABORT, 'dossiers_result_delivery_check: result_delivery outside its closed set'); END;
CREATE TRIGGER dossiers_outcome_check_insert BEFORE INSERT ON dossiers
WHEN NEW.outcome IS NOT NULL AND NEW.outcome NOT IN ('early', 'on_time', 'late')
BEGIN SELECT RAISE(ABORT, 'dossiers_outcome_check: outcome outside its closed set'); END;
CREATE TRIGGER dossiers_outcome_check_update BEFORE UPDATE OF outcome ON dossiers
WHEN NEW.outcome IS NOT NULL AND NEW.outcome NOT IN ('early', 'on_time', 'late')
BEGIN SELECT RAISE(ABORT, 'dossiers_outcome_check: outcome outside its closed set'); END;
CREATE TRIGGER dossier_events_state_after_check_insert BEFORE INSERT ON dossier_events
WHEN NEW.state_after NOT IN ('submitted', 'intake_supplement', 'refused', 'accepted', 'in_processing', 'supplement_requested', 'awaiting_payment', 'withdrawn', 'stopped', 'result_ready', 'returned')
BEGIN SELECT RAISE(ABORT, 'dossier_events_state_after_check: state_after outside its closed set'); END;
CREATE TRIGGER dossier_events_state_after_check_update BEFORE UPDATE OF state_after ON dossier_events
WHEN NEW.state_after NOT IN ('submitted', 'intake_supplement', 'refused', 'accepted', 'in_processing', 'supplement_requested', 'awaiting_payment', 'withdrawn', 'stopped', 'result_ready', 'returned')
BEGIN SELECT RAISE(ABORT, 'dossier_events_state_after_check: state_after outside its closed set'); END;
CREATE TRIGGER dossier_events_state_before_check_insert BEFORE INSERT ON dossier_events
WHEN NEW.state_before IS NOT NULL AND NEW.state_before NOT IN ('submitted', 'intake_supplement', 'refused', 'accepted', 'in_processing', 'supplement_requested', 'awaiting_payment', 'withdrawn', 'stopped', 'result_ready', 'returned')
BEGIN SELECT RAISE(ABORT, 'dossier_events_state_before_check: state_before outside its closed set'); END;
CREATE TRIGGER dossier_events_state_before_check_update BEFORE UPDATE OF state_before ON dossier_events
WHEN NEW.state_before IS NOT NULL AND NEW.state_before NOT IN ('submitted', 'intake_supplement', 'refused', 'accepted', 'in_processing', 'supplement_requested', 'awaiting_payment', 'withdrawn', 'stopped', 'result_ready', 'returned')
BEGIN SELECT RAISE(ABORT, 'dossier_events_state_before_check: state_before outside its closed set'); END;
CREATE TRIGGER payments_method_check_insert BEFORE INSERT ON payments
WHEN NEW.method NOT IN ('cash', 'transfer', 'online')
BEGIN SELECT RAISE(ABORT, 'payments_method_check: method outside its closed set'); END;
CREATE TRIGGER payments_method_check_update BEFORE UPDATE OF method ON payments
WHEN NEW.method NOT IN ('cash', 'transfer', 'online')
BEGIN SELECT RAISE(ABORT, 'payments_method_check: method outside its closed set'); END;
