-- Side records that reports count or constraints guard get tables of their
-- own (issue #11, item 3): supplement requests with their items, hand-overs,
-- apologies, ratings with their criteria, and payments (the table of
-- 000009). The dossier's `details` keeps the aggregate's copy, which the
-- domain reads; `motcua_persistence::records` writes these rows from it in
-- the same transaction, and reports read their columns instead of JSON.
-- A record of which a dossier may have several is its `nth` of its kind
-- (from 1), its place among the records of that kind in `details`.

CREATE TABLE supplement_requests (
    dossier_id CHAR(36) NOT NULL REFERENCES dossiers (id),
    nth INTEGER NOT NULL CHECK (nth > 0),
    requested_at TIMESTAMP NOT NULL,
    requested_by CHAR(36) REFERENCES users (id),
    reason TEXT NOT NULL,
    PRIMARY KEY (dossier_id, nth)
);
CREATE INDEX supplement_requests_requested_by_idx ON supplement_requests (requested_by);

-- A document to add or correct (Form 02), in the request's order.
CREATE TABLE supplement_items (
    dossier_id CHAR(36) NOT NULL,
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
    dossier_id CHAR(36) NOT NULL REFERENCES dossiers (id),
    nth INTEGER NOT NULL CHECK (nth > 0),
    handed_at TIMESTAMP NOT NULL,
    handed_by CHAR(36) REFERENCES users (id),
    to_step TEXT,
    to_agency_id TEXT,
    to_user_id TEXT,
    note TEXT,
    PRIMARY KEY (dossier_id, nth)
);
CREATE INDEX hand_overs_handed_by_idx ON hand_overs (handed_by);

-- The apology for lateness (Form 04): once per dossier.
CREATE TABLE apologies (
    dossier_id CHAR(36) NOT NULL PRIMARY KEY REFERENCES dossiers (id),
    apologised_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    new_appointment_at TIMESTAMP NOT NULL
);

-- The citizen's rating: once per dossier, overall and per criterion.
CREATE TABLE ratings (
    dossier_id CHAR(36) NOT NULL PRIMARY KEY REFERENCES dossiers (id),
    rated_at TIMESTAMP NOT NULL,
    overall TEXT NOT NULL CHECK (overall IN ('very_satisfied', 'satisfied', 'dissatisfied')),
    comment TEXT
);
-- The dissatisfied ones, for the indicators.
CREATE INDEX ratings_overall_idx ON ratings (overall, dossier_id);

CREATE TABLE rating_criteria (
    dossier_id CHAR(36) NOT NULL REFERENCES ratings (dossier_id),
    criterion TEXT NOT NULL,
    value TEXT NOT NULL CHECK (value IN ('very_satisfied', 'satisfied', 'dissatisfied')),
    PRIMARY KEY (dossier_id, criterion)
);

-- Payments of a period, all and online, for the indicators (covering).
CREATE INDEX payments_recorded_at_idx ON payments (recorded_at, dossier_id, method);

-- Rows for the records already in `details`. Instants in JSON are RFC 3339
-- (`2026-09-04T01:30:00Z`); columns hold `2026-09-04 01:30:00`.
CREATE TEMPORARY TABLE side_records AS
SELECT d.id AS dossier_id, d.receiving_agency_id, e.value AS record,
       replace(replace(json_extract(e.value, '$.at'), 'T', ' '), 'Z', '') AS at,
       ROW_NUMBER() OVER (
           PARTITION BY d.id, json_extract(e.value, '$.kind') ORDER BY CAST(e.key AS INTEGER)
       ) AS nth
FROM dossiers d, json_each(d.details, '$.records') e;

INSERT INTO supplement_requests (dossier_id, nth, requested_at, requested_by, reason)
SELECT dossier_id, nth, at, json_extract(record, '$.by'),
       COALESCE(json_extract(record, '$.reason'), '')
FROM side_records WHERE json_extract(record, '$.kind') = 'supplement_request';

-- Releases before the aggregate listed bare requirement codes (`["CM"]`):
-- each is an item named by its code.
INSERT INTO supplement_items (dossier_id, nth, position, requirement_code, name, problem)
SELECT s.dossier_id, s.nth, CAST(i.key AS INTEGER) + 1,
       CASE i.type WHEN 'text' THEN i.value ELSE json_extract(i.value, '$.requirement_code') END,
       CASE i.type WHEN 'text' THEN i.value ELSE COALESCE(json_extract(i.value, '$.name'), '') END,
       CASE i.type WHEN 'text' THEN '' ELSE COALESCE(json_extract(i.value, '$.problem'), '') END
FROM side_records s, json_each(s.record, '$.items') i
WHERE json_extract(s.record, '$.kind') = 'supplement_request';

INSERT INTO hand_overs (dossier_id, nth, handed_at, handed_by, to_step, to_agency_id, to_user_id, note)
SELECT dossier_id, nth, at, json_extract(record, '$.by'),
       json_extract(record, '$.to_step'), json_extract(record, '$.to_agency_id'),
       json_extract(record, '$.to_user_id'), json_extract(record, '$.note')
FROM side_records WHERE json_extract(record, '$.kind') = 'handover';

-- Payments the API recorded are in the table already. Releases before the
-- aggregate let `gen-data` draw references that repeat within a scope; a
-- repeat keeps its reference with the dossier's id after it.
WITH paid AS (
    SELECT s.dossier_id, s.record, s.at,
           CASE WHEN json_extract(s.record, '$.method') = 'online'
                  OR json_extract(s.record, '$.role') = 'payment_gateway'
                THEN 'gateway' ELSE s.receiving_agency_id END AS scope,
           json_extract(s.record, '$.reference') AS reference,
           json_extract(s.record, '$.reference') || ' (' || s.dossier_id || ')' AS marked
    FROM side_records s
    WHERE json_extract(s.record, '$.kind') = 'payment'
      AND NOT EXISTS (
          SELECT 1 FROM payments p
          WHERE p.dossier_id = s.dossier_id
            AND p.reference IN (json_extract(s.record, '$.reference'),
                                json_extract(s.record, '$.reference') || ' (' || s.dossier_id || ')'))
),
numbered AS (
    SELECT paid.*,
           ROW_NUMBER() OVER (PARTITION BY scope, reference ORDER BY at, dossier_id) AS repeat,
           EXISTS (SELECT 1 FROM payments p WHERE p.scope = paid.scope AND p.reference = paid.reference) AS taken
    FROM paid
)
INSERT INTO payments (id, dossier_id, scope, reference, amount, method, recorded_by, recorded_at)
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
             || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2)
             || '-' || hex(randomblob(6))),
       dossier_id, scope,
       CASE WHEN repeat = 1 AND NOT taken THEN reference ELSE marked END,
       json_extract(record, '$.amount'),
       COALESCE(json_extract(record, '$.method'), CASE scope WHEN 'gateway' THEN 'online' ELSE 'cash' END),
       json_extract(record, '$.by'), at
FROM numbered;

INSERT INTO apologies (dossier_id, apologised_at, reason, new_appointment_at)
SELECT id, replace(replace(json_extract(details, '$.apology.at'), 'T', ' '), 'Z', ''),
       COALESCE(json_extract(details, '$.apology.reason'), ''),
       replace(replace(json_extract(details, '$.apology.new_appointment_at'), 'T', ' '), 'Z', '')
FROM dossiers WHERE json_type(details, '$.apology') = 'object';

INSERT INTO ratings (dossier_id, rated_at, overall, comment)
SELECT id, replace(replace(json_extract(details, '$.rating.at'), 'T', ' '), 'Z', ''),
       json_extract(details, '$.rating.overall'), json_extract(details, '$.rating.comment')
FROM dossiers WHERE json_type(details, '$.rating') = 'object';

INSERT INTO rating_criteria (dossier_id, criterion, value)
SELECT d.id, c.key, c.value
FROM dossiers d, json_each(d.details, '$.rating.criteria') c;

DROP TABLE side_records;
