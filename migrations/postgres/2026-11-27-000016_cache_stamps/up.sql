-- Stamps of what servers cache (issue #12): a server keeps composed working
-- calendars and procedure versions in memory, and before using them reads
-- these counters (one small query). A change to calendars or procedures
-- bumps its counter in the same transaction, so every server, this one or
-- another on the same database, sees the change on its next request.
CREATE TABLE cache_stamps (
    name TEXT NOT NULL PRIMARY KEY CHECK (name IN ('calendars', 'procedures')),
    stamp BIGINT NOT NULL
);
INSERT INTO cache_stamps (name, stamp) VALUES ('calendars', 0), ('procedures', 0);
