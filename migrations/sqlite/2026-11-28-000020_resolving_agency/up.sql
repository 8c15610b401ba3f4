-- Receiving and resolving agency (issue #15): the agency that decides a
-- dossier may be another than the one that received it (a provincial
-- department, the commune police, another commune: Decree 118/2025 lets a
-- province accept dossiers regardless of administrative boundary). NULL:
-- the receiving agency resolves it, as every dossier stored before did.
ALTER TABLE dossiers ADD COLUMN resolving_agency_id CHAR(36) REFERENCES agencies (id);
CREATE INDEX dossiers_resolving_agency_id_idx ON dossiers (resolving_agency_id, state);
-- Staff reach the dossiers handed to their agency (hand_overs.to_agency_id).
CREATE INDEX hand_overs_to_agency_id_idx ON hand_overs (to_agency_id);
