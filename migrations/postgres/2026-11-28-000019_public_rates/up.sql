-- The per-address rates of the public endpoints (the dossier look-up and the
-- deadline preview) are counted in throttle_counters too (issue #12, R5), so
-- k servers on one database allow the rate once, not k times. For these two
-- kinds a row is a leaky bucket: `count` is the requests still in the
-- bucket, `last_at` when it last leaked.
ALTER TABLE throttle_counters DROP CONSTRAINT throttle_counters_kind_check;
ALTER TABLE throttle_counters ADD CONSTRAINT throttle_counters_kind_check
    CHECK (kind IN ('pair', 'address', 'account', 'known', 'registration', 'code', 'lookup', 'preview'));
