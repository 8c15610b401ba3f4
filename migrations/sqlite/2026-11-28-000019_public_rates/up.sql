-- The per-address rates of the public endpoints (the dossier look-up and the
-- deadline preview) are counted in throttle_counters too (issue #12, R5), so
-- k servers on one database allow the rate once, not k times. For these two
-- kinds a row is a leaky bucket: `count` is the requests still in the
-- bucket, `last_at` when it last leaked. SQLite cannot change a CHECK in
-- place: the table is rebuilt.
DROP INDEX throttle_counters_last_at_idx;
ALTER TABLE throttle_counters RENAME TO throttle_counters_before;
CREATE TABLE throttle_counters (
    kind TEXT NOT NULL CHECK (kind IN ('pair', 'address', 'account', 'known', 'registration', 'code', 'lookup', 'preview')),
    key TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    first_at TIMESTAMP NOT NULL,
    last_at TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP,
    PRIMARY KEY (kind, key)
);
INSERT INTO throttle_counters (kind, key, count, first_at, last_at, blocked_until)
    SELECT kind, key, count, first_at, last_at, blocked_until FROM throttle_counters_before;
DROP TABLE throttle_counters_before;
CREATE INDEX throttle_counters_last_at_idx ON throttle_counters (last_at);
