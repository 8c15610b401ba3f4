DROP INDEX throttle_counters_last_at_idx;
ALTER TABLE throttle_counters RENAME TO throttle_counters_before;
CREATE TABLE throttle_counters (
    kind TEXT NOT NULL CHECK (kind IN ('pair', 'address', 'account', 'known', 'registration', 'code')),
    key TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    first_at TIMESTAMP NOT NULL,
    last_at TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP,
    PRIMARY KEY (kind, key)
);
INSERT INTO throttle_counters (kind, key, count, first_at, last_at, blocked_until)
    SELECT kind, key, count, first_at, last_at, blocked_until FROM throttle_counters_before WHERE kind NOT IN ('lookup', 'preview');
DROP TABLE throttle_counters_before;
CREATE INDEX throttle_counters_last_at_idx ON throttle_counters (last_at);
