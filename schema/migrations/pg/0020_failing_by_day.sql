-- As on SQLite (PostgreSQL's B-tree has the same problem).
-- rollup_domain_day_failing (migration 0016) keyed by the failed share
-- put each day's entry at a random place of the index, and moved it each
-- time a report changed the day's counts: a batch of reports wrote one
-- leaf of the index per domain-day it touched (issue 15: 4,283 of the
-- 20,130 pages that 5,000 reports wrote into a database of 1,000,002
-- policy rows, and 2,942 of its 8,298 page reads).  The same days (at
-- least 0.5% failed), keyed by the whole percent failed and then the day:
-- new days land at the right edge of each percent, and a day's entry
-- moves only when its share crosses a whole percent.  The alerts' query
-- (schema/analysis.c) seeks from one percent below its threshold and
-- checks the exact share of each day.  The share is computed in floating
-- point, as before: no overflow whatever the sums.

DROP INDEX rollup_domain_day_failing;
CREATE INDEX rollup_domain_day_failing ON rollup_domain_day (
	(CAST(failed * 100.0 / NULLIF(successful + failed * 1.0, 0)
	AS INTEGER)), day)
WHERE failed > 0 AND successful <= failed * 199.0;
