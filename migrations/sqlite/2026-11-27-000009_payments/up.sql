-- Payments recorded on a dossier: one row per payment. A reference is
-- recorded once in its scope: the gateway's transaction ids once in the whole
-- database (issue #10: a replayed callback must not pay a second dossier),
-- a desk's receipt numbers once per receiving agency (each keeps its own
-- receipt books, and a desk number must not block a gateway payment).
CREATE TABLE payments (
    id CHAR(36) NOT NULL PRIMARY KEY,
    dossier_id CHAR(36) NOT NULL REFERENCES dossiers (id),
    scope TEXT NOT NULL,
    reference TEXT NOT NULL,
    amount BIGINT NOT NULL,
    method TEXT NOT NULL,
    recorded_by CHAR(36) REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL
);

CREATE UNIQUE INDEX payments_reference_key ON payments (scope, reference);
CREATE INDEX payments_dossier_id_idx ON payments (dossier_id);

-- Signed gateway callbacks that were refused (wrong amount, nothing
-- requested), kept for the desk to follow up with the citizen and the bank.
CREATE TABLE rejected_payments (
    id CHAR(36) NOT NULL PRIMARY KEY,
    dossier_id CHAR(36) NOT NULL REFERENCES dossiers (id),
    reference TEXT NOT NULL,
    amount BIGINT NOT NULL,
    expected_amount BIGINT,
    reason TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);

-- A callback the gateway repeats is kept once.
CREATE UNIQUE INDEX rejected_payments_dossier_reference_key ON rejected_payments (dossier_id, reference);
