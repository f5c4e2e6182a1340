-- PostgreSQL spelling of schema/migrations/sqlite/0016_alert_rollups.sql
-- (its comments say why): rollup_type_first, the first day of each
-- (policy domain, result type) of rollup_failures, kept by triggers; and
-- rollup_domain_day_failing, the days with at least 0.5% failed sessions.
--
-- The insert trigger looks before it writes: an upsert would lock the
-- pair's row even when it changes nothing, and two writers inserting
-- failures of the same pairs in another order would wait on each other.

CREATE TABLE rollup_type_first (
	domain TEXT COLLATE "C" NOT NULL,
	result_type TEXT COLLATE "C" NOT NULL,
	first_day BIGINT NOT NULL,
	PRIMARY KEY (domain, result_type)
);
CREATE INDEX rollup_type_first_day ON rollup_type_first(first_day);

INSERT INTO rollup_type_first (domain, result_type, first_day)
SELECT domain, result_type, min(day) FROM rollup_failures
WHERE result_type <> '' GROUP BY domain, result_type;

CREATE FUNCTION rollup_type_first_add(d TEXT, t TEXT, f BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF t <> '' AND NOT EXISTS (SELECT 1 FROM rollup_type_first x
		WHERE x.domain = d AND x.result_type = t
		AND x.first_day <= f) THEN
		INSERT INTO rollup_type_first (domain, result_type, first_day)
		VALUES (d, t, f)
		ON CONFLICT (domain, result_type) DO UPDATE
		SET first_day = excluded.first_day
		WHERE excluded.first_day < rollup_type_first.first_day;
	END IF;
END $$;

CREATE FUNCTION rollup_type_first_remove(d TEXT, t TEXT, f BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF t <> '' THEN
		DELETE FROM rollup_type_first WHERE domain = d
			AND result_type = t AND first_day = f
			AND NOT EXISTS (SELECT 1 FROM rollup_failures x
				WHERE x.domain = d AND x.result_type = t);
		UPDATE rollup_type_first SET first_day = (SELECT min(x.day)
			FROM rollup_failures x WHERE x.domain = d
			AND x.result_type = t)
		WHERE domain = d AND result_type = t AND first_day = f;
	END IF;
END $$;

CREATE FUNCTION rollup_type_first_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' OR TG_OP = 'UPDATE' THEN
		PERFORM rollup_type_first_remove(OLD.domain, OLD.result_type,
		    OLD.day);
	END IF;
	IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
		PERFORM rollup_type_first_add(NEW.domain, NEW.result_type,
		    NEW.day);
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER rollup_type_first_insert AFTER INSERT ON rollup_failures
FOR EACH ROW WHEN (NEW.result_type <> '')
EXECUTE FUNCTION rollup_type_first_trigger();
CREATE TRIGGER rollup_type_first_delete AFTER DELETE ON rollup_failures
FOR EACH ROW WHEN (OLD.result_type <> '')
EXECUTE FUNCTION rollup_type_first_trigger();
CREATE TRIGGER rollup_type_first_update
AFTER UPDATE OF day, domain, result_type ON rollup_failures
FOR EACH ROW EXECUTE FUNCTION rollup_type_first_trigger();

CREATE INDEX rollup_domain_day_failing ON rollup_domain_day (
	(failed / NULLIF(successful + failed * 1.0, 0)))
WHERE failed > 0 AND successful <= failed * 199.0;
