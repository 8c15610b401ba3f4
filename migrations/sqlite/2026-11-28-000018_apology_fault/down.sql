ALTER TABLE apologies DROP COLUMN fault;
