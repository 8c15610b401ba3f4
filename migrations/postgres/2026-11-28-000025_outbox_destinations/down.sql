DELETE FROM users WHERE id = '00000000-0000-4000-8000-00000000d1c0';
DROP INDEX dossiers_portal_code_idx;
ALTER TABLE dossiers DROP COLUMN portal_code;
DROP INDEX webhook_subscriptions_destination_idx;
ALTER TABLE webhook_subscriptions DROP COLUMN destination;
