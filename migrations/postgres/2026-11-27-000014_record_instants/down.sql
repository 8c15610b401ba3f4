-- The instants filled in are right for the records; nothing to undo.
SELECT 1;
