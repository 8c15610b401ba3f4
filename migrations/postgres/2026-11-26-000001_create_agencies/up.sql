-- The agency tree (PRODUCT.md §4). `path` is the materialized path of ids from
-- the root ("/<root id>/<child id>/"), so a subtree is one indexed prefix scan.
CREATE TABLE agencies (
    id UUID NOT NULL PRIMARY KEY,
    identifier TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent_id UUID REFERENCES agencies (id),
    path TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX agencies_identifier_key ON agencies (identifier);
CREATE INDEX agencies_parent_id_idx ON agencies (parent_id);
CREATE INDEX agencies_path_idx ON agencies (path text_pattern_ops);
