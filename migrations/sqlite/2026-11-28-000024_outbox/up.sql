-- The transactional outbox (issue #16): whatever must hear of a dossier's
-- event gets a message in the same transaction as the event, and a
-- dispatcher delivers it afterwards, at least once, carrying the event's id.

-- Webhooks registered by administrators: where to post, the secret the
-- deliveries are signed with, and the event kinds (JSON array of actions;
-- ["*"]: every event).
CREATE TABLE webhook_subscriptions (
    id CHAR(36) NOT NULL PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    kinds TEXT NOT NULL,
    created_by CHAR(36) REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_subscriptions_created_by_idx ON webhook_subscriptions (created_by);

-- One message per destination per event. `seq` is the event's place in its
-- dossier's history: a dossier's messages to one destination go out in
-- that order. `state`: pending, delivered or parked (after too many
-- failures; replayed by an administrator).
CREATE TABLE outbox (
    id CHAR(36) NOT NULL PRIMARY KEY,
    event_id CHAR(36) NOT NULL REFERENCES dossier_events (id),
    dossier_id CHAR(36) NOT NULL REFERENCES dossiers (id),
    seq INTEGER NOT NULL,
    subscription_id CHAR(36) REFERENCES webhook_subscriptions (id),
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX outbox_due_idx ON outbox (state, next_attempt_at);
CREATE INDEX outbox_event_id_idx ON outbox (event_id);
CREATE INDEX outbox_dossier_id_idx ON outbox (dossier_id, subscription_id, seq);
CREATE INDEX outbox_subscription_id_idx ON outbox (subscription_id);

-- Every delivery attempt, in order.
CREATE TABLE outbox_attempts (
    message_id CHAR(36) NOT NULL REFERENCES outbox (id),
    n INTEGER NOT NULL,
    at TIMESTAMP NOT NULL,
    delivered BOOLEAN NOT NULL,
    status INTEGER,
    error TEXT,
    PRIMARY KEY (message_id, n)
);
