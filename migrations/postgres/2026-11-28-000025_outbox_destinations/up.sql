-- The outbox's other destinations (issue #16). Besides administrators'
-- webhooks, a subscription may be the national portal's status sync, the
-- applicant's e-mail or SMS notices, or a NATS JetStream broker: at most
-- one row each, kept by the server from its configuration, so that
-- `enqueue` fans every event out to all of them the same way.
ALTER TABLE webhook_subscriptions ADD COLUMN destination TEXT NOT NULL DEFAULT 'webhook';
CREATE UNIQUE INDEX webhook_subscriptions_destination_idx
    ON webhook_subscriptions (destination) WHERE destination <> 'webhook';

-- A dossier filed on the national portal carries the portal's code: a
-- second delivery of the same filing finds it instead of opening another.
ALTER TABLE dossiers ADD COLUMN portal_code TEXT;
CREATE UNIQUE INDEX dossiers_portal_code_idx ON dossiers (portal_code);

-- The account the national portal's filings and their files belong to (a
-- citizen account, as an online filing's owner is): it
-- cannot sign in (inactive, no password), and its name is one no account
-- can be given.
INSERT INTO users (id, kind, username, full_name, agency_id, roles, phone, email,
                   date_of_birth, password_hash, active, created_at, updated_at)
VALUES ('00000000-0000-4000-8000-00000000d1c0', 'citizen', 'system:national-portal',
        'Cổng Dịch vụ công quốc gia', NULL, 'citizen', NULL, NULL, NULL, '!', FALSE,
        TIMESTAMPTZ '2026-11-28 00:00:00+00', TIMESTAMPTZ '2026-11-28 00:00:00+00');
