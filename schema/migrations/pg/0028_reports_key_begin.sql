-- As on SQLite (schema/migrations/sqlite/0028): a report is known by
-- (begin_ts, organization_name, report_id, copy), and that unique key is
-- the exports' index, reports_begin.  New reports, of recent days, go to
-- the newest part of the index instead of a random leaf (report-ids are
-- random), and the exports read the reports in the key's order.  Rows
-- stored before keep their conflict and counted flags.
--
-- A unique index, as on SQLite, not a constraint: ON CONFLICT infers it
-- from its columns all the same, and both schemas name the same indexes
-- (tests/integration/test_migrate_db.py).

ALTER TABLE reports DROP CONSTRAINT reports_org_report_copy;
DROP INDEX reports_begin;
CREATE UNIQUE INDEX reports_begin
	ON reports(begin_ts, organization_name, report_id, copy);
