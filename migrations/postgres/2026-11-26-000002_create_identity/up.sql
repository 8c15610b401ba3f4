-- Accounts: staff (login name, agency, roles) and citizens (login = personal ID).
CREATE TABLE users (
    id UUID NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('staff', 'citizen')),
    username TEXT NOT NULL,
    full_name TEXT NOT NULL,
    agency_id UUID REFERENCES agencies (id),
    -- Comma-separated roles: clerk, officer, leader, auditor, admin (staff); citizen.
    roles TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    date_of_birth DATE,
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CHECK ((kind = 'staff') = (agency_id IS NOT NULL))
);

CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE INDEX users_agency_id_idx ON users (agency_id);

-- Refresh tokens, stored only as SHA-256 hashes. A family is one login's chain
-- of rotations; presenting a rotated token revokes the whole family.
CREATE TABLE refresh_tokens (
    id UUID NOT NULL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id),
    family_id UUID NOT NULL,
    token_hash TEXT NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

CREATE UNIQUE INDEX refresh_tokens_token_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
