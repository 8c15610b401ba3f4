-- Every side record carries its instant (issue #11, item 3: the dossier's
-- records are typed, and a typed record has `at`). Releases before the
-- aggregate let `gen-data` write payment and supplement-request records
-- without one; each such record takes the instant of the event that made
-- it: the k-th record of a kind, the k-th event of its action in the
-- history (or, with no such event, the dossier's last change).
WITH records AS (
    SELECT d.id, CAST(e.key AS INTEGER) AS ord, e.value AS r,
           ROW_NUMBER() OVER (
               PARTITION BY d.id, json_extract(e.value, '$.kind') ORDER BY CAST(e.key AS INTEGER)
           ) AS nth
    FROM dossiers d, json_each(d.details, '$.records') e
    WHERE EXISTS (
        SELECT 1 FROM json_each(d.details, '$.records') x
        WHERE json_type(x.value, '$.at') IS NULL
    )
),
events AS (
    SELECT v.dossier_id, v.action, v.at,
           ROW_NUMBER() OVER (PARTITION BY v.dossier_id, v.action ORDER BY v.seq) AS nth
    FROM dossier_events v
    WHERE v.dossier_id IN (SELECT id FROM records)
),
stamped AS (
    SELECT r.id,
           json_group_array(json(
               CASE WHEN json_type(r.r, '$.at') IS NOT NULL THEN r.r
                    ELSE json_set(r.r, '$.at',
                        replace(COALESCE(v.at, d.updated_at), ' ', 'T') || 'Z')
               END) ORDER BY r.ord) AS records
    FROM records r
    JOIN dossiers d ON d.id = r.id
    LEFT JOIN events v ON v.dossier_id = r.id AND v.nth = r.nth AND v.action = CASE json_extract(r.r, '$.kind')
        WHEN 'payment' THEN 'record_payment'
        WHEN 'supplement_request' THEN 'request_supplement'
        WHEN 'payment_request' THEN 'request_payment'
        WHEN 'handover' THEN 'hand_over'
        WHEN 'extension' THEN 'extend_verification'
        WHEN 'result' THEN 'complete'
        WHEN 'withdrawal' THEN 'withdraw'
        ELSE json_extract(r.r, '$.kind') END
    GROUP BY r.id
)
UPDATE dossiers
SET details = json_set(details, '$.records', json((SELECT records FROM stamped WHERE stamped.id = dossiers.id)))
WHERE id IN (SELECT id FROM stamped);
