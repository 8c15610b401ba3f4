-- Interconnected procedure groups (issue #15; Decree 63/2024/NĐ-CP): the
-- procedures a citizen files once, each becoming a dossier of its own at
-- the agency that decides it. `procedures` is the JSON array of the
-- members' procedure codes, in the order their dossiers are opened.
CREATE TABLE procedure_groups (
    code TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    basis TEXT NOT NULL,
    procedures TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- One filing of a group: its dossiers carry its id. The group's name is
-- kept as it was when filed.
CREATE TABLE dossier_groups (
    id UUID NOT NULL PRIMARY KEY,
    group_code TEXT NOT NULL REFERENCES procedure_groups (code),
    group_name TEXT NOT NULL,
    receiving_agency_id UUID NOT NULL REFERENCES agencies (id),
    owner_id UUID REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX dossier_groups_group_code_idx ON dossier_groups (group_code);
CREATE INDEX dossier_groups_receiving_agency_id_idx ON dossier_groups (receiving_agency_id);
CREATE INDEX dossier_groups_owner_id_idx ON dossier_groups (owner_id);

ALTER TABLE dossiers ADD COLUMN group_id UUID REFERENCES dossier_groups (id);
CREATE INDEX dossiers_group_id_idx ON dossiers (group_id);
