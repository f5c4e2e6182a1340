-- The CHECKs of the DKIM columns (0007) spelled without an IN list (issue
-- 15): SQLite builds a temporary index of an IN list of more than two
-- values every time an insert checks it (an ephemeral B-tree opened, a
-- page zeroed, closed again: three per stored report, about a sixth of
-- the store's instructions per report, callgrind).  The same checks as
-- comparisons joined by OR (NULL passes both ways) take no table.
--
-- The rows need no change, so the table definitions are edited in place
-- as SQLite documents for a change that leaves the stored content alone
-- (https://sqlite.org/lang_altertable.html, "otheralter"): no copy of the
-- raw inputs, however large the database.  RESET makes this connection
-- read the new definitions; the table created and dropped bumps the
-- schema version so that other connections do too.

PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(replace(sql,
	'CHECK (dkim IN (''pass'', ''fail'', ''none'', ''temperror''))',
	'CHECK (dkim = ''pass'' OR dkim = ''fail'' OR dkim = ''none'''
	|| ' OR dkim = ''temperror'')'),
	'CHECK (dkim_aligned IN (''same'', ''parent'', ''child'', ''no''))',
	'CHECK (dkim_aligned = ''same'' OR dkim_aligned = ''parent'''
	|| ' OR dkim_aligned = ''child'' OR dkim_aligned = ''no'')')
WHERE type = 'table' AND name IN ('raw_inputs', 'reports');
PRAGMA writable_schema = RESET;
CREATE TABLE check_no_in_list_bump (x INTEGER);
DROP TABLE check_no_in_list_bump;
