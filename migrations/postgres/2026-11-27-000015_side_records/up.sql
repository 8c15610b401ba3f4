-- Side records that reports count or constraints guard get tables of their
-- own (issue #11, item 3): supplement requests with their items, hand-overs,
-- apologies, ratings with their criteria, and payments (the table of
-- 000009). The dossier's `details` keeps the aggregate's copy, which the
-- domain reads; `motcua_persistence::records` writes these rows from it in
-- the same transaction, and reports read their columns instead of JSON.
-- A record of which a dossier may have several is its `nth` of its kind
-- (from 1), its place among the records of that kind in `details`.

CREATE TABLE supplement_requests (
    dossier_id UUID NOT NULL REFERENCES dossiers (id),
    nth INTEGER NOT NULL CHECK (nth > 0),
    requested_at TIMESTAMPTZ NOT NULL,
    requested_by UUID REFERENCES users (id),
    reason TEXT NOT NULL,
    PRIMARY KEY (dossier_id, nth)
);
CREATE INDEX supplement_requests_requested_by_idx ON supplement_requests (requested_by);

-- A document to add or correct (Form 02), in the request's order.
CREATE TABLE supplement_items (
    dossier_id UUID NOT NULL,
    nth INTEGER NOT NULL,
    position INTEGER NOT NULL CHECK (position > 0),
    requirement_code TEXT,
    name TEXT NOT NULL,
    problem TEXT NOT NULL,
    PRIMARY KEY (dossier_id, nth, position),
    FOREIGN KEY (dossier_id, nth) REFERENCES supplement_requests (dossier_id, nth)
);

-- A hand-over between steps or units (a row of the control slip). The
-- receiving unit and person are kept as given: hand-overs do not yet move
-- a dossier between agencies.
CREATE TABLE hand_overs (
    dossier_id UUID NOT NULL REFERENCES dossiers (id),
    nth INTEGER NOT NULL CHECK (nth > 0),
    handed_at TIMESTAMPTZ NOT NULL,
    handed_by UUID REFERENCES users (id),
    to_step TEXT,
    to_agency_id TEXT,
    to_user_id TEXT,
    note TEXT,
    PRIMARY KEY (dossier_id, nth)
);
CREATE INDEX hand_overs_handed_by_idx ON hand_overs (handed_by);

-- The apology for lateness (Form 04): once per dossier.
CREATE TABLE apologies (
    dossier_id UUID NOT NULL PRIMARY KEY REFERENCES dossiers (id),
    apologised_at TIMESTAMPTZ NOT NULL,
    reason TEXT NOT NULL,
    new_appointment_at TIMESTAMPTZ NOT NULL
);

-- The citizen's rating: once per dossier, overall and per criterion.
CREATE TABLE ratings (
    dossier_id UUID NOT NULL PRIMARY KEY REFERENCES dossiers (id),
    rated_at TIMESTAMPTZ NOT NULL,
    overall TEXT NOT NULL CHECK (overall IN ('very_satisfied', 'satisfied', 'dissatisfied')),
    comment TEXT
);
-- The dissatisfied ones, for the indicators.
CREATE INDEX ratings_overall_idx ON ratings (overall, dossier_id);

CREATE TABLE rating_criteria (
    dossier_id UUID NOT NULL REFERENCES ratings (dossier_id),
    criterion TEXT NOT NULL,
    value TEXT NOT NULL CHECK (value IN ('very_satisfied', 'satisfied', 'dissatisfied')),
    PRIMARY KEY (dossier_id, criterion)
);

-- Payments of a period, all and online, for the indicators.
CREATE INDEX payments_recorded_at_idx ON payments (recorded_at) INCLUDE (dossier_id, method);

-- The reports read the tables now, not the events' JSON.
DROP INDEX dossier_events_payments_idx;
DROP INDEX dossier_events_online_payments_idx;
DROP INDEX dossier_events_dissatisfied_idx;

-- Rows for the records already in `details`.
CREATE TEMPORARY TABLE side_records AS
SELECT d.id AS dossier_id, d.receiving_agency_id, r.record,
       ROW_NUMBER() OVER (PARTITION BY d.id, r.record ->> 'kind' ORDER BY r.ord) AS nth
FROM dossiers d,
     jsonb_array_elements(COALESCE(d.details::jsonb -> 'records', '[]'::jsonb)) WITH ORDINALITY AS r(record, ord);

INSERT INTO supplement_requests (dossier_id, nth, requested_at, requested_by, reason)
SELECT dossier_id, nth, (record ->> 'at')::timestamptz, (record ->> 'by')::uuid,
       COALESCE(record ->> 'reason', '')
FROM side_records WHERE record ->> 'kind' = 'supplement_request';

-- Releases before the aggregate listed bare requirement codes (`["CM"]`):
-- each is an item named by its code.
INSERT INTO supplement_items (dossier_id, nth, position, requirement_code, name, problem)
SELECT s.dossier_id, s.nth, i.position,
       CASE jsonb_typeof(i.item) WHEN 'string' THEN i.item #>> '{}' ELSE i.item ->> 'requirement_code' END,
       CASE jsonb_typeof(i.item) WHEN 'string' THEN i.item #>> '{}' ELSE COALESCE(i.item ->> 'name', '') END,
       CASE jsonb_typeof(i.item) WHEN 'string' THEN '' ELSE COALESCE(i.item ->> 'problem', '') END
FROM side_records s,
     jsonb_array_elements(COALESCE(s.record -> 'items', '[]'::jsonb)) WITH ORDINALITY AS i(item, position)
WHERE s.record ->> 'kind' = 'supplement_request';

INSERT INTO hand_overs (dossier_id, nth, handed_at, handed_by, to_step, to_agency_id, to_user_id, note)
SELECT dossier_id, nth, (record ->> 'at')::timestamptz, (record ->> 'by')::uuid,
       record ->> 'to_step', record ->> 'to_agency_id', record ->> 'to_user_id', record ->> 'note'
FROM side_records WHERE record ->> 'kind' = 'handover';

-- Payments the API recorded are in the table already. Releases before the
-- aggregate let `gen-data` draw references that repeat within a scope; a
-- repeat keeps its reference with the dossier's id after it.
WITH paid AS (
    SELECT s.dossier_id, s.record,
           CASE WHEN s.record ->> 'method' = 'online' OR s.record ->> 'role' = 'payment_gateway'
                THEN 'gateway' ELSE s.receiving_agency_id::text END AS scope,
           s.record ->> 'reference' AS reference,
           s.record ->> 'reference' || ' (' || s.dossier_id || ')' AS marked
    FROM side_records s
    WHERE s.record ->> 'kind' = 'payment'
      AND NOT EXISTS (
          SELECT 1 FROM payments p
          WHERE p.dossier_id = s.dossier_id
            AND p.reference IN (s.record ->> 'reference',
                                s.record ->> 'reference' || ' (' || s.dossier_id || ')'))
),
numbered AS (
    SELECT paid.*,
           ROW_NUMBER() OVER (PARTITION BY scope, reference ORDER BY record ->> 'at', dossier_id) AS repeat,
           EXISTS (SELECT 1 FROM payments p WHERE p.scope = paid.scope AND p.reference = paid.reference) AS taken
    FROM paid
)
INSERT INTO payments (id, dossier_id, scope, reference, amount, method, recorded_by, recorded_at)
SELECT gen_random_uuid(), dossier_id, scope,
       CASE WHEN repeat = 1 AND NOT taken THEN reference ELSE marked END,
       (record ->> 'amount')::bigint,
       COALESCE(record ->> 'method', CASE scope WHEN 'gateway' THEN 'online' ELSE 'cash' END),
       (record ->> 'by')::uuid, (record ->> 'at')::timestamptz
FROM numbered;

INSERT INTO apologies (dossier_id, apologised_at, reason, new_appointment_at)
SELECT id, (details::jsonb #>> '{apology,at}')::timestamptz,
       COALESCE(details::jsonb #>> '{apology,reason}', ''),
       (details::jsonb #>> '{apology,new_appointment_at}')::timestamptz
FROM dossiers WHERE jsonb_typeof(details::jsonb -> 'apology') = 'object';

INSERT INTO ratings (dossier_id, rated_at, overall, comment)
SELECT id, (details::jsonb #>> '{rating,at}')::timestamptz,
       details::jsonb #>> '{rating,overall}', details::jsonb #>> '{rating,comment}'
FROM dossiers WHERE jsonb_typeof(details::jsonb -> 'rating') = 'object';

INSERT INTO rating_criteria (dossier_id, criterion, value)
SELECT d.id, c.key, c.value #>> '{}'
FROM dossiers d, jsonb_each(d.details::jsonb #> '{rating,criteria}') AS c(key, value)
WHERE jsonb_typeof(d.details::jsonb #> '{rating,criteria}') = 'object';

DROP TABLE side_records;
