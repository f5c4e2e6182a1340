-- PostgreSQL spelling of schema/migrations/sqlite/0027_testing_week.sql
-- (its comments say why): rollup_testing by week.

CREATE TABLE rollup_testing_week (
	domain TEXT COLLATE "C" NOT NULL,
	week BIGINT NOT NULL,
	successful BIGINT NOT NULL,
	failed BIGINT NOT NULL,
	PRIMARY KEY (domain, week)
);

INSERT INTO rollup_testing_week (domain, week, successful, failed)
SELECT domain, (day + 3) / 7, sum(successful), sum(failed)
FROM rollup_testing GROUP BY domain, (day + 3) / 7;
