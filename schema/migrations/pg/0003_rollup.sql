-- PostgreSQL spelling of schema/migrations/sqlite/0003_rollup.sql: daily
-- rollups for trends, alerts and summaries (see the SQLite file for what
-- each holds).  The SQLite trigger that marks the rollups dirty when a
-- report is deleted is a PL/pgSQL trigger here.

CREATE TABLE rollup_state (
	id BIGINT PRIMARY KEY CHECK (id = 1),
	last_report BIGINT NOT NULL,
	dirty BIGINT NOT NULL
);
INSERT INTO rollup_state (id, last_report, dirty) VALUES (1, 0, 0);

CREATE FUNCTION trpt_rollup_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE rollup_state SET dirty = 1 WHERE id = 1;
	RETURN NULL;
END;
$$;

CREATE TRIGGER rollup_report_deleted AFTER DELETE ON reports
	FOR EACH ROW EXECUTE FUNCTION trpt_rollup_dirty();

-- Per UTC day (reports.day), reporting organisation and policy domain.
CREATE TABLE rollup_daily (
	domain TEXT NOT NULL,
	day BIGINT NOT NULL,
	org TEXT NOT NULL,
	successful BIGINT NOT NULL,
	failed BIGINT NOT NULL,
	reports BIGINT NOT NULL,
	PRIMARY KEY (domain, day, org)
);
CREATE INDEX rollup_daily_day ON rollup_daily(day);

-- The same per ISO week: week = (day + 3) / 7 counts Mondays from
-- 1970-01-05, so a week's first day is week * 7 - 3.
CREATE TABLE rollup_weekly (
	domain TEXT NOT NULL,
	week BIGINT NOT NULL,
	org TEXT NOT NULL,
	successful BIGINT NOT NULL,
	failed BIGINT NOT NULL,
	PRIMARY KEY (domain, week, org)
);

CREATE TABLE rollup_domain_week (
	domain TEXT NOT NULL,
	week BIGINT NOT NULL,
	successful BIGINT NOT NULL,
	failed BIGINT NOT NULL,
	PRIMARY KEY (domain, week)
);

-- The same summed over domains, and over organisations.
CREATE TABLE rollup_org_day (
	org TEXT NOT NULL,
	day BIGINT NOT NULL,
	successful BIGINT NOT NULL,
	failed BIGINT NOT NULL,
	PRIMARY KEY (org, day)
);

CREATE TABLE rollup_domain_day (
	domain TEXT NOT NULL,
	day BIGINT NOT NULL,
	successful BIGINT NOT NULL,
	failed BIGINT NOT NULL,
	PRIMARY KEY (domain, day)
);

-- Failed sessions by failure detail (the indexes carry failed so that they
-- cover the alert queries).  Failed sessions a report counted
-- without details are kept under result_type '' (no details).
CREATE TABLE rollup_failures (
	day BIGINT NOT NULL,
	org TEXT NOT NULL,
	domain TEXT NOT NULL,
	result_type TEXT NOT NULL,
	mx TEXT NOT NULL,
	ip TEXT NOT NULL,
	failed BIGINT NOT NULL,
	PRIMARY KEY (day, org, domain, result_type, mx, ip)
);
CREATE INDEX rollup_failures_domain ON rollup_failures(domain, result_type, day, failed);
CREATE INDEX rollup_failures_org ON rollup_failures(org, day, failed);

-- Sessions under an MTA-STS policy in testing mode that saw failures.
CREATE TABLE rollup_testing (
	day BIGINT NOT NULL,
	org TEXT NOT NULL,
	domain TEXT NOT NULL,
	successful BIGINT NOT NULL,
	failed BIGINT NOT NULL,
	PRIMARY KEY (domain, day, org)
);
