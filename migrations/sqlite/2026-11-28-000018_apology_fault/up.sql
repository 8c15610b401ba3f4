-- Whose fault the lateness an apology answers for is (issue #14): the
-- processing (the agency's leader apologises) or the desk's intake error
-- (the desk apologises). Apologies given before were the processing's.
ALTER TABLE apologies
    ADD COLUMN fault TEXT NOT NULL DEFAULT 'processing' CHECK (fault IN ('processing', 'intake'));
