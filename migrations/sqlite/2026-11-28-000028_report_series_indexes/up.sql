-- Reports month by month (issue #17) count each month's new dossiers and
-- acknowledgements apart, and read the dossiers open at each month's end:
-- covering indexes on the instants they are counted by, so that a month
-- reads a twelfth of a year's entries instead of the whole table.
CREATE INDEX dossiers_accepted_at_idx ON dossiers
    (accepted_at, receiving_agency_id, resolving_agency_id, procedure_id, channel, assisted_by,
     finished_at, id);
CREATE INDEX dossiers_ack_due_at_idx ON dossiers
    (ack_due_at, receiving_agency_id, acknowledged_at);
-- Payments are counted by their dossier's agency and procedure: read from
-- this index, a month's payments join their dossiers without reading them.
CREATE INDEX dossiers_id_agency_idx ON dossiers (id, receiving_agency_id, procedure_id);
