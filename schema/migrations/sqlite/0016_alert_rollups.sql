-- What alerts ask of a year of data, kept small (issue 15 item 4;
-- docs/PERFORMANCE.md, "Trends and alerts over a year").
--
-- rollup_type_first: the first day of each (policy domain, result type)
-- of rollup_failures (result types only; '' is "no details").  A type is
-- new in a window when its first day of all lies in it: the alerts read
-- the few pairs whose first day is in the window instead of grouping all
-- of rollup_failures.  Kept by triggers on rollup_failures, so every
-- writer keeps it right (the store's flush at commit, a report replaced,
-- a rebuild): an inserted row can only move a first day earlier (looked
-- up before anything is written: most inserts write nothing); a deleted
-- row that was its pair's first day moves it to the next row's, or takes
-- the pair out when it was the last.
--
-- rollup_domain_day_failing: the days of a domain where at least 0.5% of
-- the sessions failed, by that share.  A drop begins only on a day whose
-- failed share is at least the drop threshold (its success rate is below
-- the baseline by the threshold, and the baseline is at most 100%), and
-- the threshold is at least 1 point ([alerts] threshold, --threshold):
-- alerts read the daily series of only the domains with such a day.  Half
-- the lowest threshold leaves a margin no rounding crosses.  Partial, so
-- the days without failures (most) cost nothing to write.  The share is
-- computed in floating point (numeric on PostgreSQL): no overflow
-- whatever the sums.

CREATE TABLE rollup_type_first (
	domain TEXT NOT NULL,
	result_type TEXT NOT NULL,
	first_day INTEGER NOT NULL,
	PRIMARY KEY (domain, result_type)
) STRICT, WITHOUT ROWID;
CREATE INDEX rollup_type_first_day ON rollup_type_first(first_day);

INSERT INTO rollup_type_first (domain, result_type, first_day)
SELECT domain, result_type, min(day) FROM rollup_failures
WHERE result_type <> '' GROUP BY domain, result_type;

CREATE TRIGGER rollup_type_first_insert AFTER INSERT ON rollup_failures
WHEN NEW.result_type <> '' AND NOT EXISTS (SELECT 1 FROM rollup_type_first t
	WHERE t.domain = NEW.domain AND t.result_type = NEW.result_type
	AND t.first_day <= NEW.day)
BEGIN
	INSERT INTO rollup_type_first (domain, result_type, first_day)
	VALUES (NEW.domain, NEW.result_type, NEW.day)
	ON CONFLICT (domain, result_type) DO UPDATE
	SET first_day = excluded.first_day;
END;

CREATE TRIGGER rollup_type_first_delete AFTER DELETE ON rollup_failures
WHEN OLD.result_type <> ''
BEGIN
	DELETE FROM rollup_type_first WHERE domain = OLD.domain
		AND result_type = OLD.result_type AND first_day = OLD.day
		AND NOT EXISTS (SELECT 1 FROM rollup_failures f
			WHERE f.domain = OLD.domain
			AND f.result_type = OLD.result_type);
	UPDATE rollup_type_first SET first_day = (SELECT min(f.day)
		FROM rollup_failures f WHERE f.domain = OLD.domain
		AND f.result_type = OLD.result_type)
	WHERE domain = OLD.domain AND result_type = OLD.result_type
		AND first_day = OLD.day;
END;

-- Nothing rewrites a row's key today (the store adds to failed); should
-- anything, it is a delete and an insert.
CREATE TRIGGER rollup_type_first_update
AFTER UPDATE OF day, domain, result_type ON rollup_failures
BEGIN
	DELETE FROM rollup_type_first WHERE domain = OLD.domain
		AND result_type = OLD.result_type AND first_day = OLD.day
		AND NOT EXISTS (SELECT 1 FROM rollup_failures f
			WHERE f.domain = OLD.domain
			AND f.result_type = OLD.result_type);
	UPDATE rollup_type_first SET first_day = (SELECT min(f.day)
		FROM rollup_failures f WHERE f.domain = OLD.domain
		AND f.result_type = OLD.result_type)
	WHERE domain = OLD.domain AND result_type = OLD.result_type
		AND first_day = OLD.day;
	INSERT INTO rollup_type_first (domain, result_type, first_day)
	SELECT NEW.domain, NEW.result_type, NEW.day WHERE NEW.result_type <> ''
	ON CONFLICT (domain, result_type) DO UPDATE
	SET first_day = excluded.first_day
	WHERE excluded.first_day < rollup_type_first.first_day;
END;

-- The terms are written as schema/analysis.c writes them (SQLite uses a
-- partial index only for a query that repeats its WHERE terms).
CREATE INDEX rollup_domain_day_failing ON rollup_domain_day (
	(failed / NULLIF(successful + failed * 1.0, 0)))
WHERE failed > 0 AND successful <= failed * 199.0;
