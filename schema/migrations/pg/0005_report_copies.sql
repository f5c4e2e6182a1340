-- PostgreSQL spelling of schema/migrations/sqlite/0005_report_copies.sql:
-- conflicting copies (issue 9 item 5), every distinct body received for an
-- (organization, report-id) kept as its own reports row (see the SQLite
-- file for the meaning of copy, conflict, counted and content_sha256).
--
-- PostgreSQL drops a UNIQUE constraint in place, so the table is altered
-- rather than rebuilt: the new columns come last in the table (the code
-- always names its columns), and the foreign keys and the trigger on
-- reports stay as they are.

ALTER TABLE reports
	ADD COLUMN copy BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN conflict BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN counted BIGINT NOT NULL DEFAULT 1,
	ADD COLUMN content_sha256 TEXT;

ALTER TABLE reports DROP CONSTRAINT reports_org_report;
ALTER TABLE reports ADD CONSTRAINT reports_org_report_copy
	UNIQUE (organization_name, report_id, copy);

DROP INDEX reports_begin;
-- Exports read reports in this order without sorting.
CREATE UNIQUE INDEX reports_begin
	ON reports(begin_ts, organization_name, report_id, copy);
-- stats and exports list the conflicts.
CREATE INDEX reports_conflict ON reports(conflict) WHERE conflict = 1;
