-- Quarantine without amplification (issue 9 item 1).  A rejected input's
-- bytes are kept once, in quarantine_inputs; each rejected part of it is a
-- row of quarantine_parts that refers to them.  Before, every bad part of a
-- mail stored the whole mail again (62 bad parts: 62 copies).
--
-- The view `quarantine` keeps the old shape (one row per rejected part with
-- its bytes) for readers; writers use the two tables (schema/store.c).
-- The bytes go when the last part referring to them goes.

CREATE TABLE quarantine_inputs (
	id INTEGER PRIMARY KEY,
	sha256 TEXT NOT NULL UNIQUE,
	bytes BLOB NOT NULL,
	size INTEGER NOT NULL
) STRICT;

CREATE TABLE quarantine_parts (
	id INTEGER PRIMARY KEY,
	input INTEGER NOT NULL REFERENCES quarantine_inputs(id),
	part INTEGER NOT NULL,           -- 0: the input, N: MIME part N
	source_kind TEXT NOT NULL,
	source TEXT NOT NULL,
	message_id TEXT,
	report_domain TEXT,
	report_submitter TEXT,
	filename TEXT,
	reason TEXT NOT NULL,
	received_at INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	seen_count INTEGER NOT NULL DEFAULT 1,
	UNIQUE (input, part)
) STRICT;

INSERT INTO quarantine_inputs (sha256, bytes, size)
SELECT sha256, bytes, size FROM quarantine GROUP BY sha256;

INSERT INTO quarantine_parts (id, input, part, source_kind, source,
	message_id, report_domain, report_submitter, filename, reason,
	received_at, last_seen_at, seen_count)
SELECT q.id, i.id, q.part, q.source_kind, q.source, q.message_id,
	q.report_domain, q.report_submitter, q.filename, q.reason,
	q.received_at, q.last_seen_at, q.seen_count
FROM quarantine q JOIN quarantine_inputs i ON i.sha256 = q.sha256;

DROP TABLE quarantine;

CREATE VIEW quarantine AS
SELECT p.id, i.sha256, p.part, i.bytes, i.size, p.source_kind, p.source,
	p.message_id, p.report_domain, p.report_submitter, p.filename,
	p.reason, p.received_at, p.last_seen_at, p.seen_count, p.input
FROM quarantine_parts p JOIN quarantine_inputs i ON i.id = p.input;

CREATE TRIGGER quarantine_input_unused AFTER DELETE ON quarantine_parts
WHEN NOT EXISTS (SELECT 1 FROM quarantine_parts WHERE input = OLD.input)
BEGIN
	DELETE FROM quarantine_inputs WHERE id = OLD.input;
END;
