-- Staff reads of personal data (issue #11, item 5; docs/security.md, "The
-- access log"): who read which dossier (or which of its forms), when, in
-- which role and from which request. Off the dossier row and its hash chain,
-- so a read is one small insert that cannot conflict with another read or
-- with a change of the dossier.
CREATE TABLE access_log (
    id CHAR(36) NOT NULL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor_id CHAR(36) NOT NULL REFERENCES users (id),
    -- The role the read was made in (the first of the account's roles that
    -- reads dossiers).
    actor_role TEXT NOT NULL
        CHECK (actor_role IN ('clerk', 'officer', 'leader', 'auditor', 'admin')),
    dossier_id CHAR(36) NOT NULL REFERENCES dossiers (id),
    -- The dossier's receiving agency when it was read: auditors see the
    -- entries of their subtree.
    agency_id CHAR(36) NOT NULL REFERENCES agencies (id),
    -- What was read: the dossier itself, or one of its printed forms.
    resource TEXT NOT NULL
        CHECK (resource IN ('dossier', 'receipt', 'supplement_request', 'refusal', 'apology',
                            'stop_notice', 'control_slip')),
    -- The request's id (x-request-id, also in the server's log line); NULL
    -- for the reads copied from the histories below, which kept none.
    request_id TEXT
);

-- The auditor's questions: a subtree over a period (agency, time), who read
-- a dossier, what an account read, which request it was; paging is by
-- (at, id). Each foreign key leads an index.
CREATE INDEX access_log_at_idx ON access_log (at, id);
CREATE INDEX access_log_agency_id_idx ON access_log (agency_id, at, id);
CREATE INDEX access_log_dossier_id_idx ON access_log (dossier_id, at, id);
CREATE INDEX access_log_actor_id_idx ON access_log (actor_id, at, id);
CREATE INDEX access_log_request_id_idx ON access_log (request_id);

-- Append-only: the application never changes or removes an entry, and the
-- database refuses to (a guard against mistakes and casual edits; whoever
-- holds the file can still drop the triggers).
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'access_log is append-only: UPDATE refused');
END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'access_log is append-only: DELETE refused');
END;

-- Reads recorded before this migration stay in the histories: removing
-- events from a chain would break it (every later hash covers them). They
-- are copied here, keeping the event's id, so the log is complete.
INSERT INTO access_log (id, at, actor_id, actor_role, dossier_id, agency_id, resource, request_id)
SELECT e.id, e.at, e.actor_id, e.actor_role, e.dossier_id, d.receiving_agency_id, 'dossier', NULL
  FROM dossier_events e
  JOIN dossiers d ON d.id = e.dossier_id
 WHERE e.action = 'read_personal_data';
