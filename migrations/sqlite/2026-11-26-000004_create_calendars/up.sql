-- Working calendars by year. `scope` is `national` for the national calendar
-- (loaded from the shipped data file at start-up when absent) or an agency id
-- for that agency's own overrides; an agency's calendar is the national one,
-- then each ancestor's overrides, then its own.
CREATE TABLE calendar_years (
    scope TEXT NOT NULL,
    year INTEGER NOT NULL,
    weekly TEXT,
    days TEXT NOT NULL,
    confidence TEXT,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, year)
);
