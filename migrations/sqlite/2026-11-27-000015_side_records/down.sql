-- Payments backfilled by the up migration stay: they are the dossiers'
-- payments, and a second up skips them.
DROP INDEX payments_recorded_at_idx;
DROP TABLE rating_criteria;
DROP TABLE ratings;
DROP TABLE apologies;
DROP TABLE hand_overs;
DROP TABLE supplement_items;
DROP TABLE supplement_requests;
