-- reports_begin (the export order) becomes a plain index on PostgreSQL.
--
-- The store inserts a report with ON CONFLICT (organization_name,
-- report_id, copy) DO NOTHING.  ON CONFLICT only spares the conflicts of
-- its arbiter: when two collectors insert the same copy at the same
-- moment, both pass the arbiter's check before either has its index
-- entry, and the second then waited on the unique reports_begin (the same
-- columns plus begin_ts) and failed with a unique violation instead of
-- inserting nothing (shown with a slow expression index widening that
-- window: tests/integration/test_pg_concurrency.py).  The arbiter alone
-- keeps the rows unique; the index keeps its columns for the exports.
DROP INDEX reports_begin;
CREATE INDEX reports_begin
	ON reports(begin_ts, organization_name, report_id, copy);
