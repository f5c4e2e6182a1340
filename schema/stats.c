#include "schema/stats.h"

#include "schema/db.h"
#include "schema/sql.h"

/*
 * Per report and domain the largest policy figures stand for the sessions:
 * summing a domain's sts and tlsa policies of one report would count the
 * same sessions twice.
 */
static const char domains_sql[] =
    "WITH per_report AS ("
    "  SELECT r.organization_name AS org, p.policy_domain AS domain,"
    "         r.id AS rid, r.day AS day,"
    "         MAX(p.successful) AS ok, MAX(p.failed) AS bad"
    "  FROM reports r JOIN policies p ON p.report = r.id"
    "  WHERE r.counted = 1"
    "  GROUP BY r.id, p.policy_domain)"
    " SELECT org, domain, COUNT(*), SUM(ok), SUM(bad), MIN(day), MAX(day)"
    " FROM per_report GROUP BY org, domain ORDER BY org, domain";

int
trpt_stats_domains(struct trpt_db *db,
    int (*fn)(void *arg, const struct trpt_stats_domain *d), void *arg,
    struct trpt_err *err)
{
	struct trpt_stats_domain d;
	struct trpt_stmt *st = NULL;
	int src, rc = TRPT_OK;

	if ((rc = trpt_sql_prepare(db, domains_sql, &st, err)) != TRPT_OK)
		return rc;
	while ((src = trpt_sql_step(st, err)) == 1) {
		d.org = trpt_sql_text(st, 0);
		d.domain = trpt_sql_text(st, 1);
		if (d.org == NULL || d.domain == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM,
			    "database %s: out of memory", trpt_db_path(db));
			break;
		}
		d.reports = trpt_sql_int(st, 2);
		d.successful = trpt_sql_int(st, 3);
		d.failed = trpt_sql_int(st, 4);
		d.first_day = trpt_sql_int(st, 5);
		d.last_day = trpt_sql_int(st, 6);
		if ((rc = fn(arg, &d)) != TRPT_OK)
			break;
	}
	if (src < 0)
		rc = src;
	trpt_sql_finalize(&st);
	return rc;
}

/* Runs sql, a one-row query of n integers, into v. */
static int
one_row(struct trpt_db *db, const char *sql, int64_t *v, int n,
    struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int i, rc;

	if ((rc = trpt_sql_prepare(db, sql, &st, err)) != TRPT_OK)
		return rc;
	if ((rc = trpt_sql_step(st, err)) == 1) {
		for (i = 0; i < n; i++)
			v[i] = trpt_sql_int(st, i);
		rc = TRPT_OK;
	} else if (rc == 0)
		rc = trpt_err_set(
		    err, TRPT_EDB, "database %s: no row", trpt_db_path(db));
	trpt_sql_finalize(&st);
	return rc;
}

int
trpt_stats_totals(
    struct trpt_db *db, struct trpt_stats_totals *out, struct trpt_err *err)
{
	int64_t v[5];
	int rc;

	rc = one_row(db,
	    "SELECT (SELECT COUNT(*) FROM reports WHERE counted = 1),"
	    " (SELECT COUNT(*) FROM quarantine_inputs),"
	    " (SELECT COALESCE(SUM(seen_count - 1), 0) FROM reports),"
	    " (SELECT COUNT(*) FROM reports WHERE conflict = 1 AND"
	    "  counted = 1),"
	    " (SELECT COUNT(*) FROM reports WHERE counted = 0)",
	    v, 5, err);
	if (rc != TRPT_OK)
		return rc;
	out->reports = v[0];
	out->quarantined = v[1];
	out->duplicates = v[2];
	out->conflicts = v[3];
	out->extra_copies = v[4];
	return TRPT_OK;
}

int
trpt_stats_dkim(
    struct trpt_db *db, struct trpt_stats_dkim *out, struct trpt_err *err)
{
	int64_t v[9];
	int rc;

	rc = one_row(db,
	    "SELECT count(*) FILTER (WHERE dkim = 'pass' AND dkim_aligned <> "
	    "'no'),"
	    " count(*) FILTER (WHERE dkim = 'pass' AND dkim_aligned = 'no'),"
	    " count(*) FILTER (WHERE dkim = 'fail'),"
	    " count(*) FILTER (WHERE dkim = 'none'),"
	    " count(*) FILTER (WHERE dkim = 'temperror'),"
	    " count(*) FILTER (WHERE dkim IS NULL),"
	    " count(*) FILTER (WHERE dkim_accepted = 1),"
	    " (SELECT count(*) FROM quarantine WHERE reason LIKE 'DKIM:%'),"
	    " (SELECT count(*) FROM quarantine WHERE reason LIKE "
	    "'DKIM:%temporary%')"
	    " FROM reports",
	    v, 9, err);
	if (rc != TRPT_OK)
		return rc;
	out->pass_aligned = v[0];
	out->pass_unaligned = v[1];
	out->fail = v[2];
	out->none = v[3];
	out->temperror = v[4];
	out->unverified = v[5];
	out->released = v[6];
	out->quarantined = v[7];
	out->waiting = v[8];
	return TRPT_OK;
}
