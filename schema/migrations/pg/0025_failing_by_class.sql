-- As on SQLite (schema/migrations/sqlite/0025): PostgreSQL's B-tree has
-- the same right edge per percent.  bigint * numeric is numeric: the
-- class is exact whatever the counts.

DROP INDEX rollup_domain_day_failing;
CREATE INDEX rollup_domain_day_failing ON rollup_domain_day (
	(CASE WHEN successful > failed * 99.0 THEN 0
	WHEN successful > failed * 49.0 THEN 1
	WHEN successful > failed * 24.0 THEN 2
	WHEN successful > failed * 11.5 THEN 3
	WHEN successful > failed * 5.25 THEN 4
	WHEN successful > failed * 2.125 THEN 5
	WHEN successful > failed * 0.5625 THEN 6 ELSE 7 END), day)
WHERE failed > 0 AND successful <= failed * 199.0;
