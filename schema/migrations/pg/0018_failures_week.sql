-- PostgreSQL spelling of schema/migrations/sqlite/0018_failures_week.sql
-- (its comments say why): rollup_failures by ISO week, kept by triggers
-- on rollup_failures.

CREATE TABLE rollup_failures_week (
	domain TEXT COLLATE "C" NOT NULL,
	week BIGINT NOT NULL,
	org TEXT COLLATE "C" NOT NULL,
	result_type TEXT COLLATE "C" NOT NULL,
	mx TEXT COLLATE "C" NOT NULL,
	ip TEXT COLLATE "C" NOT NULL,
	failed BIGINT NOT NULL,
	days BIGINT NOT NULL,
	PRIMARY KEY (domain, week, org, result_type, mx, ip)
);

INSERT INTO rollup_failures_week (domain, week, org, result_type, mx, ip,
	failed, days)
SELECT domain, (day + 3) / 7, org, result_type, mx, ip, sum(failed),
	count(*)
FROM rollup_failures GROUP BY domain, (day + 3) / 7, org, result_type, mx, ip;

CREATE FUNCTION rollup_failures_week_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.day = OLD.day AND NEW.org = OLD.org
		AND NEW.domain = OLD.domain
		AND NEW.result_type = OLD.result_type AND NEW.mx = OLD.mx
		AND NEW.ip = OLD.ip THEN
		UPDATE rollup_failures_week
		SET failed = failed + NEW.failed - OLD.failed
		WHERE domain = NEW.domain AND week = (NEW.day + 3) / 7
			AND org = NEW.org AND result_type = NEW.result_type
			AND mx = NEW.mx AND ip = NEW.ip;
		RETURN NULL;
	END IF;
	IF TG_OP = 'DELETE' OR TG_OP = 'UPDATE' THEN
		UPDATE rollup_failures_week SET failed = failed - OLD.failed,
			days = days - 1
		WHERE domain = OLD.domain AND week = (OLD.day + 3) / 7
			AND org = OLD.org AND result_type = OLD.result_type
			AND mx = OLD.mx AND ip = OLD.ip;
		DELETE FROM rollup_failures_week WHERE domain = OLD.domain
			AND week = (OLD.day + 3) / 7 AND org = OLD.org
			AND result_type = OLD.result_type AND mx = OLD.mx
			AND ip = OLD.ip AND days = 0;
	END IF;
	IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
		INSERT INTO rollup_failures_week (domain, week, org,
			result_type, mx, ip, failed, days)
		VALUES (NEW.domain, (NEW.day + 3) / 7, NEW.org,
			NEW.result_type, NEW.mx, NEW.ip, NEW.failed, 1)
		ON CONFLICT (domain, week, org, result_type, mx, ip) DO UPDATE
		SET failed = rollup_failures_week.failed + excluded.failed,
			days = rollup_failures_week.days + 1;
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER rollup_failures_week_insert AFTER INSERT ON rollup_failures
FOR EACH ROW EXECUTE FUNCTION rollup_failures_week_trigger();
CREATE TRIGGER rollup_failures_week_delete AFTER DELETE ON rollup_failures
FOR EACH ROW EXECUTE FUNCTION rollup_failures_week_trigger();
CREATE TRIGGER rollup_failures_week_update AFTER UPDATE ON rollup_failures
FOR EACH ROW EXECUTE FUNCTION rollup_failures_week_trigger();
