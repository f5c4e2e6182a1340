-- rollup_weekly's sessions per (policy domain, week, organisation), one
-- row each, become rollup_weeks: one row per (domain, organisation, block
-- of 32 weeks) holding the block's weeks packed (schema/weeks.h: the
-- format and the trpt_weeks_* functions, which the collector registers on
-- each connection).  Issue 15 item 4: trends by organisation and domain
-- over a year of 1,000 domains x 10 senders read 10,000 rows instead of
-- 530,000; SQLite's cost there is per row returned.  A week has a cell
-- exactly where rollup_weekly had a row.  Written by the store's commit
-- (schema/rollup.c), as rollup_weekly was.

CREATE TABLE rollup_weeks (
	domain TEXT NOT NULL,
	org TEXT NOT NULL,
	block INTEGER NOT NULL, -- week >> 5
	cells BLOB NOT NULL,
	PRIMARY KEY (domain, org, block)
) STRICT, WITHOUT ROWID;

INSERT INTO rollup_weeks (domain, org, block, cells)
SELECT domain, org, week >> 5,
	trpt_weeks_agg(trpt_weeks_cell(week & 31, successful, failed))
FROM rollup_weekly GROUP BY domain, org, week >> 5;

DROP TABLE rollup_weekly;
