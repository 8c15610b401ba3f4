-- Procedure versions (PRODUCT.md §5). A dossier points at the version it was
-- received under; later versions never change it. The details the law fixes
-- per version (time limit, supplement mode, fees, documents, deliveries,
-- steps) are kept as one JSON document, validated by the domain on the way in.
CREATE TABLE procedures (
    id CHAR(36) NOT NULL PRIMARY KEY,
    code TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    field_code TEXT NOT NULL,
    field_name TEXT NOT NULL,
    agency_level TEXT NOT NULL,
    online_kind TEXT NOT NULL,
    effective_from DATE NOT NULL,
    effective_to DATE,
    definition TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE UNIQUE INDEX procedures_code_version_key ON procedures (code, version);

-- Dossiers. `clock_events` is the legal clock's ledger (JSON); `due_at` is
-- the legal due time it gives, kept current for lists and reports.
CREATE TABLE dossiers (
    id CHAR(36) NOT NULL PRIMARY KEY,
    code TEXT NOT NULL,
    receiving_agency_id CHAR(36) NOT NULL REFERENCES agencies (id),
    procedure_id CHAR(36) NOT NULL REFERENCES procedures (id),
    owner_id CHAR(36) REFERENCES users (id),
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_phone TEXT NOT NULL,
    details TEXT NOT NULL,
    result_delivery TEXT NOT NULL,
    submitted_at TIMESTAMP,
    ack_due_at TIMESTAMP,
    acknowledged_at TIMESTAMP,
    received_at TIMESTAMP,
    due_at TIMESTAMP,
    clock_events TEXT NOT NULL,
    finished_at TIMESTAMP,
    outcome TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE UNIQUE INDEX dossiers_code_key ON dossiers (code);
CREATE INDEX dossiers_receiving_agency_id_idx ON dossiers (receiving_agency_id, state);
CREATE INDEX dossiers_owner_id_idx ON dossiers (owner_id);
CREATE INDEX dossiers_procedure_id_idx ON dossiers (procedure_id);

-- The append-only, hash-chained history of each dossier.
CREATE TABLE dossier_events (
    id CHAR(36) NOT NULL PRIMARY KEY,
    dossier_id CHAR(36) NOT NULL REFERENCES dossiers (id),
    seq INTEGER NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id CHAR(36),
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    state_before TEXT,
    state_after TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE UNIQUE INDEX dossier_events_dossier_seq_key ON dossier_events (dossier_id, seq);

-- The last dossier number given per receiving agency per (Vietnam) day.
CREATE TABLE dossier_counters (
    agency_id CHAR(36) NOT NULL REFERENCES agencies (id),
    day DATE NOT NULL,
    last_number INTEGER NOT NULL,
    PRIMARY KEY (agency_id, day)
);

-- Idempotency of online filings: the first response to a key, per owner.
CREATE TABLE idempotency_keys (
    owner_id CHAR(36) NOT NULL REFERENCES users (id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    dossier_id CHAR(36) NOT NULL REFERENCES dossiers (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (owner_id, key)
);
