-- rollup_domain_day_failing (migration 0020) keyed by the whole percent
-- failed, then the day: a new day's entry went to the right edge of its
-- percent, and a database of 1,000,000 policy rows has days at nearly
-- every percent from 0 to 100, so a batch of reports wrote the last leaf
-- of each percent it touched (issue 15, stop 23: 918 pages of the log of
-- 5,000 reports, 182 distinct, against 280 and 25 for an empty
-- database).  The same days (at least 0.5% failed), keyed by a class of
-- their failed share that doubles from one class to the next (0.5%, 1%,
-- 2%, 4%, 8%, 16%, 32%, 64% and up), then the day: a batch writes the
-- last leaf of at most 8 classes, and a day's entry moves only when its
-- share crosses a class.  The alerts' query (schema/analysis.c) seeks the
-- class of its threshold and checks the exact share of each day, which
-- reads at most the days from half its threshold up (the chronic small
-- failures below stay unread, as before).  A share below class k's
-- lowest is "successful > failed * c" (share < 1 / (1 + c)), the partial
-- index's own form, tried from the lowest class up, where most failing
-- days are (400,000 upserts of shares mostly under 4%, in memory: 2.9 s,
-- against 3.0-3.1 s with 0020's division and 3.1-3.3 s from the highest
-- class down).  Each c is exact in binary, so the class is the same exact comparison on
-- SQLite (doubles: exact for counts below 2^46) and on PostgreSQL
-- (numeric), with no division and no overflow.

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
