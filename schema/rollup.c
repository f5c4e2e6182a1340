#include "schema/rollup.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/sql.h"
#include "schema/sql_impl.h"

/* The reports queued by this connection's transaction, with their sign. */
struct trpt__rollup_queue {
	struct qent {
		int64_t report;
		int64_t sign;
	} * v;
	size_t n, cap;
};

/*
 * The queue as a temporary table (the connection's own, whatever other
 * writers do), and the per (report, policy domain, policy type) sums of
 * its reports with the one type that counts per (report, domain) marked
 * best.  Created on every flush that needs them: a transaction that
 * rolled back took a table it created with it.
 */
static const char ddl_sqlite[] =
    "CREATE TEMP TABLE IF NOT EXISTS rollup_pending ("
    " report INTEGER PRIMARY KEY, sign INTEGER NOT NULL);"
    "CREATE TEMP TABLE IF NOT EXISTS rollup_groups ("
    " report INTEGER NOT NULL, sign INTEGER NOT NULL, day INTEGER NOT NULL,"
    " org TEXT NOT NULL, domain TEXT NOT NULL, type TEXT NOT NULL,"
    " s INTEGER NOT NULL, f INTEGER NOT NULL, details INTEGER NOT NULL,"
    " testing INTEGER NOT NULL, best INTEGER NOT NULL)";
static const char ddl_pg[] =
    "CREATE TEMP TABLE IF NOT EXISTS rollup_pending ("
    " report BIGINT PRIMARY KEY, sign BIGINT NOT NULL);"
    "CREATE TEMP TABLE IF NOT EXISTS rollup_groups ("
    " report BIGINT NOT NULL, sign BIGINT NOT NULL, day BIGINT NOT NULL,"
    " org TEXT NOT NULL, domain TEXT NOT NULL, type TEXT NOT NULL,"
    " s BIGINT NOT NULL, f BIGINT NOT NULL, details BIGINT NOT NULL,"
    " testing BIGINT NOT NULL, best BIGINT NOT NULL)";

static const char sql_pending[] =
    "INSERT INTO rollup_pending (report, sign) VALUES (?, ?)";

/*
 * The guard.  CROSS JOIN fixes SQLite's join order (queue, then reports
 * and policies by their keys; it has no statistics on a temporary table);
 * PostgreSQL plans it as an inner join.  Ties go to the first type in
 * byte order (COLLATE "C" for PostgreSQL).
 */
#define GROUPS(COLLATE)                                                        \
	"INSERT INTO rollup_groups (report, sign, day, org, domain, type, s,"  \
	" f, details, testing, best)"                                          \
	" SELECT report, sign, day, org, domain, type, s, f, details,"         \
	" testing, CASE WHEN row_number() OVER (PARTITION BY report, domain"   \
	" ORDER BY s + f DESC, type" COLLATE ") = 1 THEN 1 ELSE 0 END"         \
	" FROM (SELECT r.id AS report, q.sign AS sign, r.day AS day,"          \
	" r.organization_name AS org, p.policy_domain AS domain,"              \
	" p.policy_type AS type, sum(p.successful) AS s, sum(p.failed) AS f,"  \
	" sum(p.details_failed) AS details, max(CASE WHEN p.policy_type ="     \
	" 'sts' AND p.sts_mode = 'testing' THEN 1 ELSE 0 END) AS testing"      \
	" FROM rollup_pending q CROSS JOIN reports r CROSS JOIN policies p"    \
	" WHERE r.id = q.report AND p.report = r.id"                           \
	" GROUP BY r.id, q.sign, r.day, r.organization_name, p.policy_domain," \
	" p.policy_type) g"
static const char sql_groups_sqlite[] = GROUPS("");
static const char sql_groups_pg[] = GROUPS(" COLLATE \"C\"");

/*
 * Sums that stop at INT64_MAX (and -INT64_MAX) instead of failing the
 * transaction: a rollup key may collect any number of reports, each up to
 * 2^63 - 1 sessions (schema/store.c), so hostile counts would overflow
 * bigint on PostgreSQL (an error that fails the whole batch) and int64 in
 * SQLite (an "integer overflow" error from sum(), or a REAL the STRICT
 * column refuses).  SUMSAT clamps PostgreSQL's numeric sum (SQLite's sum()
 * saturates by itself: schema/sql_sqlite.c); ADD(T, C) is the upsert's
 * C = T.C + excluded.C, each branch evaluated only when it cannot
 * overflow.  Counts that stay below 2^63 come out exact.
 */
#define SAT_MAX "9223372036854775807"
#define SUMSAT(E)                                                              \
	"CASE WHEN sum(" E ") > " SAT_MAX " THEN " SAT_MAX " WHEN sum(" E      \
	") < -" SAT_MAX " THEN -" SAT_MAX " ELSE sum(" E ") END"
#define ADD(T, C)                                                              \
	C " = CASE WHEN excluded." C " > 0 THEN CASE WHEN " T "." C            \
	  " > " SAT_MAX " - excluded." C " THEN " SAT_MAX " ELSE " T "." C     \
	  " + excluded." C " END WHEN " T "." C " < -" SAT_MAX                 \
	  " - excluded." C " THEN -" SAT_MAX " ELSE " T "." C " + excluded." C \
	  " END"

/*
 * Each rollup from the groups, in key order (writers on one PostgreSQL
 * then take their row locks in the same order).  The WHERE before ON
 * CONFLICT is what SQLite's parser needs after a SELECT.
 */
/* clang-format off */
static const char *const sql_apply[] = {
	"INSERT INTO rollup_daily (domain, day, org, successful, failed,"
	" reports) SELECT domain, day, org, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign") ","
	" " SUMSAT("sign") " FROM rollup_groups WHERE best = 1"
	" GROUP BY domain, day, org ORDER BY domain, day, org"
	" ON CONFLICT (domain, day, org) DO UPDATE SET"
	" " ADD("rollup_daily", "successful") ","
	" " ADD("rollup_daily", "failed") ","
	" " ADD("rollup_daily", "reports"),

	"INSERT INTO rollup_org_day (org, day, successful, failed)"
	" SELECT org, day, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign") " FROM rollup_groups"
	" WHERE best = 1 GROUP BY org, day ORDER BY org, day"
	" ON CONFLICT (org, day) DO UPDATE SET"
	" " ADD("rollup_org_day", "successful") ","
	" " ADD("rollup_org_day", "failed"),

	"INSERT INTO rollup_domain_day (domain, day, successful, failed)"
	" SELECT domain, day, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign") " FROM rollup_groups"
	" WHERE best = 1 GROUP BY domain, day ORDER BY domain, day"
	" ON CONFLICT (domain, day) DO UPDATE SET"
	" " ADD("rollup_domain_day", "successful") ","
	" " ADD("rollup_domain_day", "failed"),

	/* week = (day + 3) / 7 counts Mondays from 1970-01-05. */
	"INSERT INTO rollup_weekly (domain, week, org, successful, failed)"
	" SELECT domain, (day + 3) / 7, org, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign")
	" FROM rollup_groups WHERE best = 1"
	" GROUP BY domain, (day + 3) / 7, org"
	" ORDER BY domain, (day + 3) / 7, org"
	" ON CONFLICT (domain, week, org) DO UPDATE SET"
	" " ADD("rollup_weekly", "successful") ","
	" " ADD("rollup_weekly", "failed"),

	"INSERT INTO rollup_domain_week (domain, week, successful, failed)"
	" SELECT domain, (day + 3) / 7, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign")
	" FROM rollup_groups WHERE best = 1 GROUP BY domain, (day + 3) / 7"
	" ORDER BY domain, (day + 3) / 7"
	" ON CONFLICT (domain, week) DO UPDATE SET"
	" " ADD("rollup_domain_week", "successful") ","
	" " ADD("rollup_domain_week", "failed"),

	"INSERT INTO rollup_failures (day, org, domain, result_type, mx, ip,"
	" failed) SELECT day, org, domain, result_type, mx, ip,"
	" " SUMSAT("n") " FROM"
	" (SELECT g.day AS day, g.org AS org, g.domain AS domain,"
	" f.result_type AS result_type,"
	" coalesce(f.receiving_mx_hostname, '') AS mx,"
	" coalesce(f.sending_mta_ip, '') AS ip,"
	" f.failed_session_count * g.sign AS n"
	" FROM rollup_groups g CROSS JOIN policies p CROSS JOIN failures f"
	" WHERE p.report = g.report AND p.policy_domain = g.domain"
	" AND p.policy_type = g.type AND f.policy = p.id AND g.best = 1"
	" AND g.details > 0 AND f.failed_session_count > 0"
	" UNION ALL SELECT day, org, domain, '', '', '', (f - details) * sign"
	" FROM rollup_groups WHERE best = 1 AND f > details) x"
	" WHERE 1 = 1 GROUP BY day, org, domain, result_type, mx, ip"
	" ORDER BY day, org, domain, result_type, mx, ip"
	" ON CONFLICT (day, org, domain, result_type, mx, ip) DO UPDATE SET"
	" " ADD("rollup_failures", "failed"),

	"INSERT INTO rollup_testing (day, org, domain, successful, failed)"
	" SELECT day, org, domain, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign")
	" FROM rollup_groups WHERE testing = 1 AND f > 0"
	" GROUP BY day, org, domain ORDER BY domain, day, org"
	" ON CONFLICT (domain, day, org) DO UPDATE SET"
	" " ADD("rollup_testing", "successful") ","
	" " ADD("rollup_testing", "failed"),
};
/* clang-format on */

/*
 * After a report was taken out: the rows left without any report, on the
 * days (and weeks) it counted on.  A rollup_daily row counts its reports;
 * the sums exist where rollup_daily has a row; every failure and testing
 * row counts failed sessions, more than 0 for each report in it.
 */
#define NEG_DAYS  "(SELECT day FROM rollup_groups WHERE sign < 0)"
#define NEG_WEEKS "(SELECT (day + 3) / 7 FROM rollup_groups WHERE sign < 0)"
static const char *const sql_prune_empty[] = {
	"DELETE FROM rollup_daily WHERE reports = 0 AND day IN " NEG_DAYS,
	"DELETE FROM rollup_org_day WHERE day IN " NEG_DAYS
	" AND NOT EXISTS (SELECT 1 FROM rollup_daily d WHERE"
	" d.org = rollup_org_day.org AND d.day = rollup_org_day.day)",
	"DELETE FROM rollup_domain_day WHERE day IN " NEG_DAYS
	" AND NOT EXISTS (SELECT 1 FROM rollup_daily d WHERE"
	" d.domain = rollup_domain_day.domain AND"
	" d.day = rollup_domain_day.day)",
	"DELETE FROM rollup_weekly WHERE week IN " NEG_WEEKS
	" AND NOT EXISTS (SELECT 1 FROM rollup_daily d WHERE"
	" d.domain = rollup_weekly.domain AND d.org = rollup_weekly.org AND"
	" d.day BETWEEN rollup_weekly.week * 7 - 3 AND"
	" rollup_weekly.week * 7 + 3)",
	"DELETE FROM rollup_domain_week WHERE week IN " NEG_WEEKS
	" AND NOT EXISTS (SELECT 1 FROM rollup_daily d WHERE"
	" d.domain = rollup_domain_week.domain AND"
	" d.day BETWEEN rollup_domain_week.week * 7 - 3 AND"
	" rollup_domain_week.week * 7 + 3)",
	"DELETE FROM rollup_failures WHERE failed = 0 AND day IN " NEG_DAYS,
	"DELETE FROM rollup_testing WHERE failed = 0 AND day IN " NEG_DAYS,
};

static const char sql_clear_groups[] = "DELETE FROM rollup_groups";
static const char sql_clear_pending[] = "DELETE FROM rollup_pending";

static const char sql_clear_all[] =
    "DELETE FROM rollup_daily; DELETE FROM rollup_org_day;"
    " DELETE FROM rollup_domain_day; DELETE FROM rollup_weekly;"
    " DELETE FROM rollup_domain_week; DELETE FROM rollup_failures;"
    " DELETE FROM rollup_testing";
static const char sql_pending_all[] =
    "INSERT INTO rollup_pending (report, sign)"
    " SELECT id, 1 FROM reports WHERE counted = 1";

int
trpt__rollup_add(
    struct trpt_db *db, int64_t report, int sign, struct trpt_err *err)
{
	struct trpt__rollup_queue *q = db->rollup;
	struct qent *nv;
	size_t ncap;

	if (q == NULL) {
		if ((q = calloc(1, sizeof(*q))) == NULL)
			goto nomem;
		db->rollup = q;
	}
	if (q->n == q->cap) {
		ncap = q->cap == 0 ? 64 : q->cap * 2;
		if ((nv = realloc(q->v, ncap * sizeof(*nv))) == NULL)
			goto nomem;
		q->v = nv;
		q->cap = ncap;
	}
	q->v[q->n].report = report;
	q->v[q->n].sign = sign;
	q->n++;
	return TRPT_OK;
nomem:
	return trpt_err_set(err, TRPT_ENOMEM,
	    "database %s: out of memory queueing a report for the rollups",
	    trpt_db_path(db));
}

void
trpt__rollup_discard(struct trpt_db *db)
{
	if (db->rollup != NULL)
		db->rollup->n = 0;
}

void
trpt__rollup_free(struct trpt_db *db)
{
	if (db->rollup == NULL)
		return;
	free(db->rollup->v);
	free(db->rollup);
	db->rollup = NULL;
}

static int
cmp_qent(const void *a, const void *b)
{
	const struct qent *x = a, *y = b;

	return x->report < y->report ? -1 : x->report > y->report;
}

static int
exec_cached(struct trpt_db *db, const char *sql, struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return rc;
	return trpt_sql_run(st, err);
}

/* The rollups from what rollup_pending holds; both temp tables emptied. */
static int
apply(struct trpt_db *db, int negative, struct trpt_err *err)
{
	size_t i;
	int rc;

	rc = exec_cached(db,
	    trpt_sql_dialect(db) == TRPT_SQL_PG ? sql_groups_pg
						: sql_groups_sqlite,
	    err);
	for (i = 0; rc == TRPT_OK && i < sizeof(sql_apply) / sizeof(*sql_apply);
	     i++)
		rc = exec_cached(db, sql_apply[i], err);
	for (i = 0; rc == TRPT_OK && negative &&
		    i < sizeof(sql_prune_empty) / sizeof(*sql_prune_empty);
	     i++)
		rc = exec_cached(db, sql_prune_empty[i], err);
	if (rc == TRPT_OK)
		rc = exec_cached(db, sql_clear_groups, err);
	if (rc == TRPT_OK)
		rc = exec_cached(db, sql_clear_pending, err);
	return rc;
}

static int
temp_tables(struct trpt_db *db, struct trpt_err *err)
{
	return trpt_sql_exec(
	    db, trpt_sql_dialect(db) == TRPT_SQL_PG ? ddl_pg : ddl_sqlite, err);
}

int
trpt__rollup_flush(struct trpt_db *db, struct trpt_err *err)
{
	struct trpt__rollup_queue *q = db->rollup;
	struct trpt_stmt *st;
	size_t i, j, n;
	int negative = 0, rc;

	if (q == NULL || q->n == 0)
		return TRPT_OK;
	/* One row per report, its signs summed (a report counted and taken
	 * out again in one transaction is no row at all). */
	qsort(q->v, q->n, sizeof(*q->v), cmp_qent);
	for (i = 0, n = 0; i < q->n; i = j) {
		int64_t sign = 0;

		for (j = i; j < q->n && q->v[j].report == q->v[i].report; j++)
			sign += q->v[j].sign;
		if (sign == 0)
			continue;
		q->v[n].report = q->v[i].report;
		q->v[n].sign = sign;
		negative |= sign < 0;
		n++;
	}
	q->n = 0;
	if (n == 0)
		return TRPT_OK;
	if ((rc = temp_tables(db, err)) != TRPT_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if ((rc = trpt_sql_cached(db, sql_pending, &st, err)) !=
		    TRPT_OK)
			goto out;
		trpt_sql_bind_int(st, 1, q->v[i].report);
		trpt_sql_bind_int(st, 2, q->v[i].sign);
		if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
			goto out;
	}
	rc = apply(db, negative, err);
out:
	if (rc != TRPT_OK)
		trpt_err_prefix(err, "updating the rollups");
	return rc;
}

int
trpt_rollup_rebuild(struct trpt_db *db, struct trpt_err *err)
{
	int rc;

	trpt__rollup_discard(db);
	if ((rc = trpt_sql_exec(db, sql_clear_all, err)) == TRPT_OK &&
	    (rc = temp_tables(db, err)) == TRPT_OK &&
	    (rc = exec_cached(db, sql_pending_all, err)) == TRPT_OK)
		rc = apply(db, 0, err);
	if (rc != TRPT_OK)
		trpt_err_prefix(err, "rebuilding the rollups");
	return rc;
}
