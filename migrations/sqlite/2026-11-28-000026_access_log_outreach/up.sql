-- The outreach list (issue #17) shows applicants' contacts: each dossier it
-- lists is recorded in the access log as resource 'outreach'. SQLite
-- cannot change a CHECK in place: the table is made anew with its rows,
-- its indexes and its append-only triggers (the old table, renamed, goes
-- with its triggers, which are dropped first so that nothing refuses).
ALTER TABLE access_log RENAME TO access_log_old;
DROP TRIGGER access_log_no_update;
DROP TRIGGER access_log_no_delete;
DROP INDEX access_log_at_idx;
DROP INDEX access_log_agency_id_idx;
DROP INDEX access_log_dossier_id_idx;
DROP INDEX access_log_actor_id_idx;
DROP INDEX access_log_request_id_idx;
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
    -- What was read: the dossier itself, one of its printed forms, or its
    -- line of the outreach list.
    resource TEXT NOT NULL
        CHECK (resource IN ('dossier', 'receipt', 'supplement_request', 'refusal', 'apology',
                            'stop_notice', 'control_slip', 'outreach')),
    -- The request's id (x-request-id, also in the server's log line); NULL
    -- for the reads copied from the histories below, which kept none.
    request_id TEXT
);

INSERT INTO access_log (id, at, actor_id, actor_role, dossier_id, agency_id, resource, request_id)
SELECT id, at, actor_id, actor_role, dossier_id, agency_id, resource, request_id
  FROM access_log_old;
DROP TABLE access_log_old;

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

