-- When the desk accepted the dossier: "taken on" in reports counts from here.
ALTER TABLE dossiers ADD COLUMN accepted_at TIMESTAMPTZ;
