-- reports_begin, the exports' index, keyed by (begin_ts,
-- organization_name) instead of (begin_ts, organization_name, report_id,
-- copy), and no longer UNIQUE (the reports' own UNIQUE (organization_name,
-- report_id, copy) keeps the copies apart, as it did).
--
-- Keyed by the report-id, each stored report went to a random leaf of the
-- index (report-ids are random: UUIDs, tick counts), so each commit of
-- `serve` logged about one 4 kB page of it a report: 13.6 of the 51 pages
-- of a commit of ~10 POSTs (docs/PERFORMANCE.md, "Stop 24: serve").  Now
-- a report goes to the right edge of its (begin time, organisation): the
-- row id orders the entries of one, and new reports have the highest.
--
-- What it costs the readers (docs/PERFORMANCE.md, "Stop 25: serve, the
-- committer"): the exports (schema/export_rows.c) still read the reports
-- in begin order from the index; SQLite sorts the reports of one begin
-- time and organisation by report-id and copy before it returns them ('USE
-- TEMP B-TREE FOR RIGHT PART OF ORDER BY'; tests/unit/test_export.c).
-- The row order is that of the ORDER BY, unchanged.  The dashboard's
-- reports of one organisation (schema/view.c) read this index backwards
-- and filter the organisation from it, as before (covering, no table row
-- read for the reports of other senders).  (begin_ts) alone would write
-- even fewer pages but read a table row for every report passed over
-- there: 1.5-4 times the CPU for a rare sender.

DROP INDEX reports_begin;
CREATE INDEX reports_begin ON reports(begin_ts, organization_name);
