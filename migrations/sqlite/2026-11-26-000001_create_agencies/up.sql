-- The agency tree (PRODUCT.md §4). `path` is the materialized path of ids from
-- the root ("/<root id>/<child id>/"), so a subtree is one indexed prefix scan.
-- UUIDs are CHAR(36) text; timestamps are UTC text written by diesel.
CREATE TABLE agencies (
    id CHAR(36) NOT NULL PRIMARY KEY,
    identifier TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent_id CHAR(36) REFERENCES agencies (id),
    path TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE UNIQUE INDEX agencies_identifier_key ON agencies (identifier);
CREATE INDEX agencies_parent_id_idx ON agencies (parent_id);
CREATE INDEX agencies_path_idx ON agencies (path);
