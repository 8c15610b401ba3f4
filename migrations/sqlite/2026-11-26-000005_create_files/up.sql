-- Uploaded files: content-addressed on disk (`<data dir>/files/<sha256>`),
-- described here, each upload owned by the account that made it.
CREATE TABLE files (
    id CHAR(36) NOT NULL PRIMARY KEY,
    owner_id CHAR(36) NOT NULL REFERENCES users (id),
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    media_type TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE INDEX files_owner_id_idx ON files (owner_id);

-- Which files are attached to which dossier (staff in reach of the dossier may read them).
CREATE TABLE dossier_files (
    dossier_id CHAR(36) NOT NULL REFERENCES dossiers (id),
    file_id CHAR(36) NOT NULL REFERENCES files (id),
    PRIMARY KEY (dossier_id, file_id)
);

CREATE INDEX dossier_files_file_id_idx ON dossier_files (file_id);
