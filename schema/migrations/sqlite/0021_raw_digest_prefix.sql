-- The raw inputs' digest no longer has a unique index (issue 15).  Its
-- 64 hex digits are random, so each new input went to a random leaf of an
-- index of about 72 bytes an entry: in a database of 500,000 inputs that
-- index had 10,175 pages (40 MiB), far more than the 16 MiB page cache,
-- and it was the largest single cost of storing into a big database
-- (about 11,000 of the 28,400 pages read or written for 5,000 reports).
-- Instead, an index on the first 8 hex digits (32 bits): about 17 bytes
-- an entry, 2,079 pages for the same inputs, which the cache holds.  The
-- store (schema/store.c raw_row) looks up the rows sharing a new input's
-- prefix and compares their full digest: the same input twice is still
-- found, and two digests sharing a prefix (one new input in about 8,600
-- with 500,000 stored) are two rows.  The store's batch holds SQLite's
-- write lock from its first insert, so nobody inserts between the look-up
-- and the insert.  The full digest stays stored, as users see it.
--
-- An index on an expression of the stored digest rather than a column of
-- its own: nothing to fill in for any writer, nothing that can disagree
-- with the digest.
--
-- The unique constraint is part of the table's definition, so the table
-- is rebuilt as https://sqlite.org/lang_altertable.html prescribes (new
-- table, copy, drop, rename; migrate.c runs such a migration with foreign
-- keys off and checks them before the commit).  The copy rewrites every
-- stored input once (the file grows by their size; the old pages are
-- reused by later inserts): for the 428 MiB of 500,000 inputs of the
-- benchmark's database, 7.4 s (5.6 s of CPU, 72 MB of memory; migrate.c
-- keeps secure_delete from zeroing the dropped table's pages).

CREATE TABLE raw_inputs_new (
	id INTEGER PRIMARY KEY,
	sha256 TEXT NOT NULL,
	bytes BLOB NOT NULL,
	size INTEGER NOT NULL,
	source_kind TEXT NOT NULL,
	source TEXT NOT NULL,
	message_id TEXT,
	report_domain TEXT,
	report_submitter TEXT,
	received_at INTEGER NOT NULL,
	dkim TEXT
	CHECK (dkim = 'pass' OR dkim = 'fail' OR dkim = 'none'
		OR dkim = 'temperror'),
	dkim_reason TEXT,
	dkim_domain TEXT,
	dkim_selector TEXT,
	dkim_key_service TEXT,
	client TEXT
) STRICT;

INSERT INTO raw_inputs_new (id, sha256, bytes, size, source_kind, source,
	message_id, report_domain, report_submitter, received_at, dkim,
	dkim_reason, dkim_domain, dkim_selector, dkim_key_service, client)
SELECT id, sha256, bytes, size, source_kind, source, message_id,
	report_domain, report_submitter, received_at, dkim, dkim_reason,
	dkim_domain, dkim_selector, dkim_key_service, client
FROM raw_inputs ORDER BY id;

DROP TABLE raw_inputs;
ALTER TABLE raw_inputs_new RENAME TO raw_inputs;
CREATE INDEX raw_inputs_sha256_prefix ON raw_inputs (substr(sha256, 1, 8));
