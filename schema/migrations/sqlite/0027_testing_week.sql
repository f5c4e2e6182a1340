-- rollup_testing by week (issue 15 item 4): the MTA-STS testing alerts
-- sum each domain's sessions under a policy in testing mode over the
-- window, and rollup_testing holds a row per (domain, day, organisation):
-- a year of 20 domains in testing mode from 10 senders is 64,720 rows,
-- about 30 ms of the alerts' 55 ms (docs/PERFORMANCE.md, stop 25).  By
-- week (week = (day + 3) / 7, as rollup_failures_week), the whole weeks
-- of a year are 52 rows a domain, and only the days at the window's
-- edges are read from rollup_testing.
--
-- A row is there exactly when rollup_testing has a row in the week, and
-- holds the sums of that week's rows (the cells as rollup_testing keeps
-- them: each at most TRPT_MAX_ROLLUP_COUNT; their sum is not capped, so
-- the weeks add up to the days).  The store writes it with rollup_testing
-- (schema/rollup.c); a report taken out, a rebuild or a batch summed the
-- set-based way compute the weeks they touched again from rollup_testing.

CREATE TABLE rollup_testing_week (
	domain TEXT NOT NULL,
	week INTEGER NOT NULL,
	successful INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	PRIMARY KEY (domain, week)
) STRICT, WITHOUT ROWID;

INSERT INTO rollup_testing_week (domain, week, successful, failed)
SELECT domain, (day + 3) / 7, sum(successful), sum(failed)
FROM rollup_testing GROUP BY domain, (day + 3) / 7;
