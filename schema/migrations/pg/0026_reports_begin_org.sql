-- As on SQLite (schema/migrations/sqlite/0026): the exports' index keyed
-- by (begin_ts, organization_name), so that a new report goes to the
-- right edge of its begin time and organisation instead of a random leaf
-- (report-ids are random).  PostgreSQL sorts the reports of one begin
-- time and organisation for the exports (an incremental sort).

DROP INDEX reports_begin;
CREATE INDEX reports_begin ON reports(begin_ts, organization_name);
