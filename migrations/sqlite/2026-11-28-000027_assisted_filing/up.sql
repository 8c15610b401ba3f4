-- Assisted online filing (issue #17): a clerk files online on behalf of a
-- citizen at the desk, through the citizen's account and with the
-- citizen's confirmation. The dossier is online and the citizen's; this
-- says which clerk helped, so that reports count assisted filings apart.
ALTER TABLE dossiers ADD COLUMN assisted_by CHAR(36) REFERENCES users (id);
CREATE INDEX dossiers_assisted_by_idx ON dossiers (assisted_by);
