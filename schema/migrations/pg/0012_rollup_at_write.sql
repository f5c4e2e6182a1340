-- PostgreSQL spelling of schema/migrations/sqlite/0012_rollup_at_write.sql
-- (written by helper store; see the SQLite file for why): the rollups
-- brought up to date as the last refresh would have, then rollup_state,
-- its triggers and their function dropped.

CREATE TEMP TABLE rollup_redo AS
SELECT CASE WHEN dirty = 1 OR last_report >
	(SELECT coalesce(max(id), 0) FROM reports) THEN 1 ELSE 0 END AS redo_all,
	last_report AS rolled
FROM rollup_state WHERE id = 1;

DELETE FROM rollup_daily WHERE (SELECT redo_all FROM rollup_redo) = 1;
DELETE FROM rollup_org_day WHERE (SELECT redo_all FROM rollup_redo) = 1;
DELETE FROM rollup_domain_day WHERE (SELECT redo_all FROM rollup_redo) = 1;
DELETE FROM rollup_weekly WHERE (SELECT redo_all FROM rollup_redo) = 1;
DELETE FROM rollup_domain_week WHERE (SELECT redo_all FROM rollup_redo) = 1;
DELETE FROM rollup_failures WHERE (SELECT redo_all FROM rollup_redo) = 1;
DELETE FROM rollup_testing WHERE (SELECT redo_all FROM rollup_redo) = 1;
-- Failure details with no failed session are no longer counted.
DELETE FROM rollup_failures WHERE failed = 0;

CREATE TEMP TABLE rollup_pending (
	report BIGINT PRIMARY KEY, sign BIGINT NOT NULL);
INSERT INTO rollup_pending (report, sign)
SELECT id, 1 FROM reports WHERE counted = 1 AND
	((SELECT redo_all FROM rollup_redo) = 1 OR id > (SELECT rolled FROM rollup_redo));

CREATE TEMP TABLE rollup_groups (
	report BIGINT NOT NULL, sign BIGINT NOT NULL, day BIGINT NOT NULL,
	org TEXT NOT NULL, domain TEXT NOT NULL, type TEXT NOT NULL,
	s BIGINT NOT NULL, f BIGINT NOT NULL, details BIGINT NOT NULL,
	testing BIGINT NOT NULL, best BIGINT NOT NULL);

INSERT INTO rollup_groups (report, sign, day, org, domain, type, s, f,
	details, testing, best)
SELECT report, sign, day, org, domain, type, s, f, details, testing,
	CASE WHEN row_number() OVER (PARTITION BY report, domain
		ORDER BY s + f DESC, type COLLATE "C") = 1 THEN 1 ELSE 0 END
FROM (SELECT r.id AS report, q.sign AS sign, r.day AS day,
	r.organization_name AS org, p.policy_domain AS domain,
	p.policy_type AS type, sum(p.successful) AS s, sum(p.failed) AS f,
	sum(p.details_failed) AS details,
	max(CASE WHEN p.policy_type = 'sts' AND p.sts_mode = 'testing'
		THEN 1 ELSE 0 END) AS testing
	FROM rollup_pending q CROSS JOIN reports r CROSS JOIN policies p
	WHERE r.id = q.report AND p.report = r.id
	GROUP BY r.id, q.sign, r.day, r.organization_name, p.policy_domain,
		p.policy_type) g;

INSERT INTO rollup_daily (domain, day, org, successful, failed, reports)
SELECT domain, day, org, sum(s * sign), sum(f * sign), sum(sign)
FROM rollup_groups WHERE best = 1 GROUP BY domain, day, org
ORDER BY domain, day, org
ON CONFLICT (domain, day, org) DO UPDATE SET
	successful = rollup_daily.successful + excluded.successful,
	failed = rollup_daily.failed + excluded.failed,
	reports = rollup_daily.reports + excluded.reports;

INSERT INTO rollup_org_day (org, day, successful, failed)
SELECT org, day, sum(s * sign), sum(f * sign) FROM rollup_groups
WHERE best = 1 GROUP BY org, day ORDER BY org, day
ON CONFLICT (org, day) DO UPDATE SET
	successful = rollup_org_day.successful + excluded.successful,
	failed = rollup_org_day.failed + excluded.failed;

INSERT INTO rollup_domain_day (domain, day, successful, failed)
SELECT domain, day, sum(s * sign), sum(f * sign) FROM rollup_groups
WHERE best = 1 GROUP BY domain, day ORDER BY domain, day
ON CONFLICT (domain, day) DO UPDATE SET
	successful = rollup_domain_day.successful + excluded.successful,
	failed = rollup_domain_day.failed + excluded.failed;

INSERT INTO rollup_weekly (domain, week, org, successful, failed)
SELECT domain, (day + 3) / 7, org, sum(s * sign), sum(f * sign)
FROM rollup_groups WHERE best = 1 GROUP BY domain, (day + 3) / 7, org
ORDER BY domain, (day + 3) / 7, org
ON CONFLICT (domain, week, org) DO UPDATE SET
	successful = rollup_weekly.successful + excluded.successful,
	failed = rollup_weekly.failed + excluded.failed;

INSERT INTO rollup_domain_week (domain, week, successful, failed)
SELECT domain, (day + 3) / 7, sum(s * sign), sum(f * sign)
FROM rollup_groups WHERE best = 1 GROUP BY domain, (day + 3) / 7
ORDER BY domain, (day + 3) / 7
ON CONFLICT (domain, week) DO UPDATE SET
	successful = rollup_domain_week.successful + excluded.successful,
	failed = rollup_domain_week.failed + excluded.failed;

INSERT INTO rollup_failures (day, org, domain, result_type, mx, ip, failed)
SELECT day, org, domain, result_type, mx, ip, sum(n) FROM
	(SELECT g.day AS day, g.org AS org, g.domain AS domain,
		f.result_type AS result_type,
		coalesce(f.receiving_mx_hostname, '') AS mx,
		coalesce(f.sending_mta_ip, '') AS ip,
		f.failed_session_count * g.sign AS n
	FROM rollup_groups g CROSS JOIN policies p CROSS JOIN failures f
	WHERE p.report = g.report AND p.policy_domain = g.domain
		AND p.policy_type = g.type AND f.policy = p.id AND g.best = 1
		AND g.details > 0 AND f.failed_session_count > 0
	UNION ALL SELECT day, org, domain, '', '', '', (f - details) * sign
	FROM rollup_groups WHERE best = 1 AND f > details) x
WHERE 1 = 1 GROUP BY day, org, domain, result_type, mx, ip
ORDER BY day, org, domain, result_type, mx, ip
ON CONFLICT (day, org, domain, result_type, mx, ip) DO UPDATE SET
	failed = rollup_failures.failed + excluded.failed;

INSERT INTO rollup_testing (day, org, domain, successful, failed)
SELECT day, org, domain, sum(s * sign), sum(f * sign) FROM rollup_groups
WHERE testing = 1 AND f > 0 GROUP BY day, org, domain
ORDER BY domain, day, org
ON CONFLICT (domain, day, org) DO UPDATE SET
	successful = rollup_testing.successful + excluded.successful,
	failed = rollup_testing.failed + excluded.failed;

DROP TABLE rollup_groups;
DROP TABLE rollup_pending;
DROP TABLE rollup_redo;

DROP TRIGGER rollup_report_deleted ON reports;
DROP TRIGGER rollup_report_recounted ON reports;
DROP FUNCTION trpt_rollup_dirty();
DROP TABLE rollup_state;
