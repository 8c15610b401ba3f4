-- Counts of attempts that limits apply to (issue #12, R5): failed logins per
-- account and address, per address and per account, the addresses an
-- account logged in from, registrations per address, wrong second factors
-- per dossier code. In the database, so every server on it counts the same
-- attempts: two servers no longer allow twice the attempts. A request locks
-- the rows it counts for the rest of its short transaction.
CREATE TABLE throttle_counters (
    kind TEXT NOT NULL CHECK (kind IN ('pair', 'address', 'account', 'known', 'registration', 'code')),
    key TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    first_at TIMESTAMPTZ NOT NULL,
    last_at TIMESTAMPTZ NOT NULL,
    blocked_until TIMESTAMPTZ,
    PRIMARY KEY (kind, key)
);
CREATE INDEX throttle_counters_last_at_idx ON throttle_counters (last_at);
