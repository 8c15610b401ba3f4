DELETE FROM throttle_counters WHERE kind IN ('lookup', 'preview');
ALTER TABLE throttle_counters DROP CONSTRAINT throttle_counters_kind_check;
ALTER TABLE throttle_counters ADD CONSTRAINT throttle_counters_kind_check
    CHECK (kind IN ('pair', 'address', 'account', 'known', 'registration', 'code'));
