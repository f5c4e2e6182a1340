-- A report is known by (begin_ts, organization_name, report_id, copy):
-- the unique key starts with the report's begin time, and it is the
-- exports' index as well (reports_begin, the same name as before).
--
-- Why: the key was (organization_name, report_id, copy), and report-ids
-- are random (UUIDs, tick counts), so each new report went to a random
-- leaf of an index as large as the whole history: a page written, read,
-- logged, copied back and synced a report (docs/PERFORMANCE.md, "Stop 29:
-- the reports' key by begin time").  New reports are of recent days: keyed by their
-- begin time first, they go to the newest part of the index, whose leaves
-- the same day's reports share.  The exports' order (begin_ts,
-- organization_name, report_id, copy) is now the key's: no sort, and one
-- index fewer to write.
--
-- What it means: two reports of one sender with the same report-id and
-- different begin times are two reports, not conflicting copies of one.
-- A retried delivery (RFC 8460 section 5.5) is the same report with the
-- same dates, so it is still a duplicate; a sender that reuses its
-- report-ids across days (a counter) no longer loses all but the first
-- day's report to a "conflict".
--
-- SQLite cannot drop a UNIQUE constraint, so the table is rebuilt (the
-- documented 12-step way; migrations run with foreign keys off).  The
-- rows are copied in id order and the index is built once, sorted, after
-- them.

CREATE TABLE reports_new (
	id INTEGER PRIMARY KEY,
	organization_name TEXT NOT NULL,
	report_id TEXT NOT NULL,
	copy INTEGER NOT NULL DEFAULT 0,
	conflict INTEGER NOT NULL DEFAULT 0,
	counted INTEGER NOT NULL DEFAULT 1,
	content_sha256 TEXT,
	contact_info TEXT,
	begin_ts INTEGER NOT NULL,
	end_ts INTEGER NOT NULL,
	day INTEGER NOT NULL,            -- begin_ts / 86400: the UTC day counted
	raw_id INTEGER NOT NULL REFERENCES raw_inputs(id),
	part INTEGER NOT NULL,           -- 0: the input itself, N: MIME part N
	received_at INTEGER NOT NULL,
	seen_count INTEGER NOT NULL DEFAULT 1,  -- 1 + duplicates received
	last_seen_at INTEGER NOT NULL,
	total_successful INTEGER NOT NULL,
	total_failed INTEGER NOT NULL,
	dkim TEXT CHECK (dkim = 'pass' OR dkim = 'fail' OR dkim = 'none' OR
		dkim = 'temperror'),
	dkim_reason TEXT,
	dkim_domain TEXT,
	dkim_selector TEXT,
	dkim_key_service TEXT,
	dkim_aligned TEXT CHECK (dkim_aligned = 'same' OR
		dkim_aligned = 'parent' OR dkim_aligned = 'child' OR
		dkim_aligned = 'no'),
	dkim_accepted INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO reports_new (id, organization_name, report_id, copy, conflict,
	counted, content_sha256, contact_info, begin_ts, end_ts, day, raw_id,
	part, received_at, seen_count, last_seen_at, total_successful,
	total_failed, dkim, dkim_reason, dkim_domain, dkim_selector,
	dkim_key_service, dkim_aligned, dkim_accepted)
SELECT id, organization_name, report_id, copy, conflict, counted,
	content_sha256, contact_info, begin_ts, end_ts, day, raw_id, part,
	received_at, seen_count, last_seen_at, total_successful, total_failed,
	dkim, dkim_reason, dkim_domain, dkim_selector, dkim_key_service,
	dkim_aligned, dkim_accepted
FROM reports ORDER BY id;

DROP TABLE reports;
ALTER TABLE reports_new RENAME TO reports;

-- Rows stored before keep their flags: copies of one (organization,
-- report-id) with different begin times stored before this migration
-- stay marked as conflicting, and the one copy counted stays the one
-- counted (the rollups are unchanged).  The copy numbers keep them apart
-- in the new key as in the old one.
CREATE UNIQUE INDEX reports_begin
	ON reports(begin_ts, organization_name, report_id, copy);
CREATE INDEX reports_conflict ON reports(conflict) WHERE conflict = 1;
