-- Conflicting copies (issue 9 item 5).  Anyone can send a report under
-- any (organization-name, report-id), so the first copy received must not
-- win silently: every distinct body received for an (organization,
-- report-id) is kept as its own reports row.
--
--   copy            0 for the first body received, 1, 2, ... for each
--                   later body whose content differs from every earlier one
--   conflict        1 on every copy of an (organization, report-id) that has
--                   more than one distinct body; 0 otherwise
--   counted         1 on the one copy that trends, alerts and summaries
--                   count (the first, unless something better decides, such
--                   as a verified signature); 0 on the others
--   content_sha256  SHA-256 of the content (schema/store.c canon_report),
--                   set on every copy stored from now on; NULL on copies
--                   stored before, filled when another copy is compared
--
-- A copy whose content equals a stored one is a duplicate: only that copy's
-- seen_count and last_seen_at move.
--
-- SQLite cannot drop a UNIQUE constraint, so the table is rebuilt (the
-- documented 12-step way; migrations run with foreign keys off).

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
	UNIQUE (organization_name, report_id, copy)
) STRICT;

INSERT INTO reports_new (id, organization_name, report_id, contact_info,
	begin_ts, end_ts, day, raw_id, part, received_at, seen_count,
	last_seen_at, total_successful, total_failed)
SELECT id, organization_name, report_id, contact_info, begin_ts, end_ts,
	day, raw_id, part, received_at, seen_count, last_seen_at,
	total_successful, total_failed
FROM reports;

DROP TABLE reports;
ALTER TABLE reports_new RENAME TO reports;

CREATE INDEX reports_day ON reports(day);
-- Exports read reports in this order without sorting.
CREATE UNIQUE INDEX reports_begin
	ON reports(begin_ts, organization_name, report_id, copy);
-- stats and exports list the conflicts.
CREATE INDEX reports_conflict ON reports(conflict) WHERE conflict = 1;

CREATE TRIGGER rollup_report_deleted AFTER DELETE ON reports
BEGIN
	UPDATE rollup_state SET dirty = 1 WHERE id = 1;
END;
