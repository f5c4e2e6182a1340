-- raw_inputs.one_report and the partial digest prefix index, as in
-- schema/migrations/sqlite/0023 (the column's meaning is there).
-- PostgreSQL keeps its unique constraint on the digest: several writers
-- may store at once there, and the constraint makes two of them storing
-- the same input wait for each other and store it once; the store looks
-- a row up by its whole digest (that constraint's index) after a
-- conflict.  The prefix index, partial as on SQLite, is no longer read
-- here; it stays for the same schema on both (tests/integration/
-- test_migrate_db.py) and costs only the inputs that are not one report.

ALTER TABLE raw_inputs ADD COLUMN one_report BIGINT NOT NULL DEFAULT 0
	CHECK (one_report = 0 OR one_report = 1);
DROP INDEX raw_inputs_sha256_prefix;
CREATE INDEX raw_inputs_sha256_prefix ON raw_inputs (substr(sha256, 1, 8))
	WHERE one_report = 0;
