-- Text compares and sorts byte for byte on PostgreSQL, as it does on
-- SQLite (BINARY): every TEXT column gets COLLATE "C".
--
-- A database's default collation is chosen when it is created (initdb's
-- or CREATE DATABASE's locale: often en_US.UTF-8), and a locale orders
-- "Other Sender" after "other-sender" or "b.example" before "B.example"
-- depending on rules that SQLite does not have.  With "C" every ORDER BY,
-- GROUP BY, min() and max() on text gives the order SQLite gives, so a
-- database copied with migrate-db lists, exports and reports the same
-- bytes (tests/integration/test_migrate_db.py, pg mode, on a database
-- created with an ICU locale), and lower() folds ASCII only, as SQLite's.
-- Columns added later must say COLLATE "C" (that test checks every one).
--
-- Only the collation changes: the tables are not rewritten, their indexes
-- on text are rebuilt.  The view on the quarantine depends on its
-- columns' types, so it is made again, as 0006 made it.

DROP VIEW quarantine;

DO $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT k.table_name, k.column_name
		FROM information_schema.columns k
		JOIN information_schema.tables t
			ON t.table_schema = k.table_schema
			AND t.table_name = k.table_name
		WHERE k.table_schema = current_schema()
			AND t.table_type = 'BASE TABLE'
			AND k.data_type = 'text'
			AND k.collation_name IS DISTINCT FROM 'C'
		ORDER BY k.table_name, k.ordinal_position
	LOOP
		EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE text '
			'COLLATE "C"', c.table_name, c.column_name);
	END LOOP;
END;
$$;

CREATE VIEW quarantine AS
SELECT p.id, i.sha256, p.part, i.bytes, i.size, p.source_kind, p.source,
	p.message_id, p.report_domain, p.report_submitter, p.filename,
	p.reason, p.received_at, p.last_seen_at, p.seen_count, p.input
FROM quarantine_parts p JOIN quarantine_inputs i ON i.id = p.input;
