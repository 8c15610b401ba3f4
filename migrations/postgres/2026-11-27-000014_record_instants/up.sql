-- Every side record carries its instant (issue #11, item 3: the dossier's
-- records are typed, and a typed record has `at`). Releases before the
-- aggregate let `gen-data` write payment and supplement-request records
-- without one; each such record takes the instant of the event that made
-- it: the k-th record of a kind, the k-th event of its action in the
-- history (or, with no such event, the dossier's last change).
WITH records AS (
    SELECT d.id, e.ord, e.r,
           ROW_NUMBER() OVER (PARTITION BY d.id, e.r ->> 'kind' ORDER BY e.ord) AS nth
    FROM dossiers d,
         jsonb_array_elements(d.details::jsonb -> 'records') WITH ORDINALITY AS e(r, ord)
    WHERE d.details::jsonb -> 'records' @? '$[*] ? (!exists(@.at))'
),
events AS (
    SELECT v.dossier_id, v.action, v.at,
           ROW_NUMBER() OVER (PARTITION BY v.dossier_id, v.action ORDER BY v.seq) AS nth
    FROM dossier_events v
    WHERE v.dossier_id IN (SELECT id FROM records)
),
stamped AS (
    SELECT r.id,
           jsonb_agg(
               CASE WHEN r.r ? 'at' THEN r.r
                    ELSE r.r || jsonb_build_object('at', to_char(
                        COALESCE(v.at, d.updated_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
               END ORDER BY r.ord) AS records
    FROM records r
    JOIN dossiers d ON d.id = r.id
    LEFT JOIN events v ON v.dossier_id = r.id AND v.nth = r.nth AND v.action = CASE r.r ->> 'kind'
        WHEN 'payment' THEN 'record_payment'
        WHEN 'supplement_request' THEN 'request_supplement'
        WHEN 'payment_request' THEN 'request_payment'
        WHEN 'handover' THEN 'hand_over'
        WHEN 'extension' THEN 'extend_verification'
        WHEN 'result' THEN 'complete'
        WHEN 'withdrawal' THEN 'withdraw'
        ELSE r.r ->> 'kind' END
    GROUP BY r.id
)
UPDATE dossiers d
SET details = jsonb_set(d.details::jsonb, '{records}', s.records)::text
FROM stamped s
WHERE d.id = s.id;
