-- rollup_failures by ISO week (issue 15 item 4): what alerts' evidence
-- and weekly trends by MX host, sending IP or result type read over
-- months instead of rollup_failures' days (on a year of 1,000 domains x
-- 10 senders, 50,000 rows instead of 350,000).  week = (day + 3) / 7, as
-- in rollup_weekly; days counts the rows of rollup_failures in the week,
-- so that a key is there exactly when rollup_failures has it in the week.
--
-- Kept by triggers on rollup_failures, as rollup_type_first (0016): any
-- writer (the store's flush, a replaced report, a rebuild) keeps it
-- right.  The store adds to failed in place (an update of failed only),
-- which is one update here.

CREATE TABLE rollup_failures_week (
	domain TEXT NOT NULL,
	week INTEGER NOT NULL,
	org TEXT NOT NULL,
	result_type TEXT NOT NULL,
	mx TEXT NOT NULL,
	ip TEXT NOT NULL,
	failed INTEGER NOT NULL,
	days INTEGER NOT NULL,
	PRIMARY KEY (domain, week, org, result_type, mx, ip)
) STRICT, WITHOUT ROWID;

INSERT INTO rollup_failures_week (domain, week, org, result_type, mx, ip,
	failed, days)
SELECT domain, (day + 3) / 7, org, result_type, mx, ip, sum(failed),
	count(*)
FROM rollup_failures GROUP BY domain, (day + 3) / 7, org, result_type, mx, ip;

CREATE TRIGGER rollup_failures_week_insert AFTER INSERT ON rollup_failures
BEGIN
	INSERT INTO rollup_failures_week (domain, week, org, result_type, mx,
		ip, failed, days)
	VALUES (NEW.domain, (NEW.day + 3) / 7, NEW.org, NEW.result_type,
		NEW.mx, NEW.ip, NEW.failed, 1)
	ON CONFLICT (domain, week, org, result_type, mx, ip) DO UPDATE
	SET failed = rollup_failures_week.failed + excluded.failed,
		days = rollup_failures_week.days + 1;
END;

CREATE TRIGGER rollup_failures_week_delete AFTER DELETE ON rollup_failures
BEGIN
	UPDATE rollup_failures_week SET failed = failed - OLD.failed,
		days = days - 1
	WHERE domain = OLD.domain AND week = (OLD.day + 3) / 7
		AND org = OLD.org AND result_type = OLD.result_type
		AND mx = OLD.mx AND ip = OLD.ip;
	DELETE FROM rollup_failures_week WHERE domain = OLD.domain
		AND week = (OLD.day + 3) / 7 AND org = OLD.org
		AND result_type = OLD.result_type AND mx = OLD.mx
		AND ip = OLD.ip AND days = 0;
END;

CREATE TRIGGER rollup_failures_week_failed
AFTER UPDATE OF failed ON rollup_failures
WHEN NEW.day = OLD.day AND NEW.org = OLD.org AND NEW.domain = OLD.domain
	AND NEW.result_type = OLD.result_type AND NEW.mx = OLD.mx
	AND NEW.ip = OLD.ip
BEGIN
	UPDATE rollup_failures_week SET failed = failed + NEW.failed - OLD.failed
	WHERE domain = NEW.domain AND week = (NEW.day + 3) / 7
		AND org = NEW.org AND result_type = NEW.result_type
		AND mx = NEW.mx AND ip = NEW.ip;
END;

-- Nothing rewrites a row's key today; should anything, it is a delete
-- and an insert.
CREATE TRIGGER rollup_failures_week_key
AFTER UPDATE OF day, org, domain, result_type, mx, ip ON rollup_failures
WHEN NOT (NEW.day = OLD.day AND NEW.org = OLD.org
	AND NEW.domain = OLD.domain AND NEW.result_type = OLD.result_type
	AND NEW.mx = OLD.mx AND NEW.ip = OLD.ip)
BEGIN
	UPDATE rollup_failures_week SET failed = failed - OLD.failed,
		days = days - 1
	WHERE domain = OLD.domain AND week = (OLD.day + 3) / 7
		AND org = OLD.org AND result_type = OLD.result_type
		AND mx = OLD.mx AND ip = OLD.ip;
	DELETE FROM rollup_failures_week WHERE domain = OLD.domain
		AND week = (OLD.day + 3) / 7 AND org = OLD.org
		AND result_type = OLD.result_type AND mx = OLD.mx
		AND ip = OLD.ip AND days = 0;
	INSERT INTO rollup_failures_week (domain, week, org, result_type, mx,
		ip, failed, days)
	VALUES (NEW.domain, (NEW.day + 3) / 7, NEW.org, NEW.result_type,
		NEW.mx, NEW.ip, NEW.failed, 1)
	ON CONFLICT (domain, week, org, result_type, mx, ip) DO UPDATE
	SET failed = rollup_failures_week.failed + excluded.failed,
		days = rollup_failures_week.days + 1;
END;
