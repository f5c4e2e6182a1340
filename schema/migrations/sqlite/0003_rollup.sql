-- Daily rollups for trends, alerts and summaries, derived from reports and
-- policies by report/trend.c (trpt_trend_refresh) and never written by
-- anything else.  They hold the counts after the double-count guard: within
-- one report a policy domain's sessions are counted once (Microsoft lists
-- the same sessions under a tlsa and an sts policy of one domain).
-- rollup_state.last_report is the highest reports.id already rolled up;
-- deleting a report marks the rollups dirty and the next refresh rebuilds.

CREATE TABLE rollup_state (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	last_report INTEGER NOT NULL,
	dirty INTEGER NOT NULL
) STRICT;
INSERT INTO rollup_state (id, last_report, dirty) VALUES (1, 0, 0);

CREATE TRIGGER rollup_report_deleted AFTER DELETE ON reports
BEGIN
	UPDATE rollup_state SET dirty = 1 WHERE id = 1;
END;

-- Per UTC day (reports.day), reporting organisation and policy domain.
CREATE TABLE rollup_daily (
	domain TEXT NOT NULL,
	day INTEGER NOT NULL,
	org TEXT NOT NULL,
	successful INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	reports INTEGER NOT NULL,
	PRIMARY KEY (domain, day, org)
) STRICT, WITHOUT ROWID;
CREATE INDEX rollup_daily_day ON rollup_daily(day);

-- The same per ISO week: week = (day + 3) / 7 counts Mondays from
-- 1970-01-05, so a week's first day is week * 7 - 3.
CREATE TABLE rollup_weekly (
	domain TEXT NOT NULL,
	week INTEGER NOT NULL,
	org TEXT NOT NULL,
	successful INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	PRIMARY KEY (domain, week, org)
) STRICT, WITHOUT ROWID;

CREATE TABLE rollup_domain_week (
	domain TEXT NOT NULL,
	week INTEGER NOT NULL,
	successful INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	PRIMARY KEY (domain, week)
) STRICT, WITHOUT ROWID;

-- The same summed over domains, and over organisations.
CREATE TABLE rollup_org_day (
	org TEXT NOT NULL,
	day INTEGER NOT NULL,
	successful INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	PRIMARY KEY (org, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE rollup_domain_day (
	domain TEXT NOT NULL,
	day INTEGER NOT NULL,
	successful INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	PRIMARY KEY (domain, day)
) STRICT, WITHOUT ROWID;

-- Failed sessions by failure detail (the indexes carry failed so that they
-- cover the alert queries).  Failed sessions a report counted
-- without details are kept under result_type '' (no details).
CREATE TABLE rollup_failures (
	day INTEGER NOT NULL,
	org TEXT NOT NULL,
	domain TEXT NOT NULL,
	result_type TEXT NOT NULL,
	mx TEXT NOT NULL,
	ip TEXT NOT NULL,
	failed INTEGER NOT NULL,
	PRIMARY KEY (day, org, domain, result_type, mx, ip)
) STRICT, WITHOUT ROWID;
CREATE INDEX rollup_failures_domain ON rollup_failures(domain, result_type, day, failed);
CREATE INDEX rollup_failures_org ON rollup_failures(org, day, failed);

-- Sessions under an MTA-STS policy in testing mode that saw failures.
CREATE TABLE rollup_testing (
	day INTEGER NOT NULL,
	org TEXT NOT NULL,
	domain TEXT NOT NULL,
	successful INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	PRIMARY KEY (domain, day, org)
) STRICT, WITHOUT ROWID;
