/* Trends: rollups, the double-count guard, periods and golden output. */

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/datetime.h"
#include "common/limits.h"
#include "report/alert.h"
#include "report/causes.h"
#include "report/dash.h"
#include "report/html.h"
#include "report/trend.h"
#include "schema/db.h"
#include "schema/rollup.h"
#include "schema/sql.h"
#include "schema/store.h"
#include "schema/view.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"
#include "tests/unit/reportgen.h"

#define D0 20451 /* 2025-12-29, a Monday (2026-W01) */

static int
setup_db(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;

	if (trpt_test_db_connect(&db, &err) != TRPT_OK) {
		fprintf(stderr, "# %s\n", err.msg);
		return -1;
	}
	*state = db;
	return 0;
}

static int
teardown_db(void **state)
{
	struct trpt_db *db = *state;

	trpt_db_close(&db);
	return 0;
}

/* Runs q and returns the output in fmt; caller frees. */
static char *
run(struct trpt_db *db, const struct trpt_trend_query *q,
    enum trpt_trend_format fmt)
{
	struct trpt_trend *t = NULL;
	struct trpt_err err;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_int_equal(trpt_trend_run(db, q, &t, &err), TRPT_OK);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(trpt_trend_write(t, fmt, f, &err), TRPT_OK);
	fclose(f);
	trpt_trend_free(&t);
	return buf;
}

static void
golden(const char *name, const char *got)
{
	const char *path = trpt_test_fixture(name);
	char *want;
	size_t len;

	if (getenv("TRPT_GOLDEN_UPDATE") != NULL)
		trpt_test_write(path, got, strlen(got));
	want = trpt_test_slurp(path, &len);
	assert_string_equal(got, want);
	free(want);
}

/* Microsoft: the same two sessions under sts and tlsa of random.net. */
static void
test_trend_guard_microsoft(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_trend_query q;
	struct gen g = { 0 };
	char *out;

	gen_begin(&g, "Microsoft Corporation", D0);
	gen_policy(&g, "sts", "random.net", 2, 0, 0);
	gen_policy(&g, "tlsa", "random.net", 2, 0, 0);
	gen_policy(&g, "sts", "other.net", 5, 1, 0);
	gen_failure(
	    &g, "starttls-not-supported", "mx.other.net", "192.0.2.9", 1);
	assert_int_equal(gen_end(&g, db), TRPT_OK);
	/* Google: an MTA-STS policy that changed during the day is two
	 * policies of one type with different sessions: added. */
	gen_begin(&g, "Google Inc.", D0);
	gen_policy(&g, "no-policy-found", "random.net", 3, 0, 0);
	gen_policy(&g, "sts", "random.net", 10, 0, 0);
	gen_policy(&g, "sts", "random.net", 20, 1, 0);
	gen_failure(&g, "certificate-expired", "mx.random.net", "192.0.2.1", 1);
	assert_int_equal(gen_end(&g, db), TRPT_OK);

	trpt_trend_query_init(&q);
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_string_equal(out,
	    "period,organization_name,policy_domain,successful,failed,"
	    "success_rate\r\n"
	    "2025-12-29,Google Inc.,random.net,30,1,0.9677\r\n"
	    "2025-12-29,Microsoft Corporation,other.net,5,1,0.8333\r\n"
	    "2025-12-29,Microsoft Corporation,random.net,2,0,1.0000\r\n");
	free(out);

	assert_int_equal(trpt_trend_parse_dims("domain", &q, NULL), TRPT_OK);
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_non_null(strstr(out, "2025-12-29,random.net,32,1,0.9697\r\n"));
	free(out);

	assert_int_equal(trpt_trend_parse_dims("org", &q, NULL), TRPT_OK);
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_non_null(
	    strstr(out, "2025-12-29,Microsoft Corporation,7,1,0.8750\r\n"));
	free(out);

	/* By type: successful sessions have no type; failures by detail. */
	assert_int_equal(
	    trpt_trend_parse_dims("domain,type", &q, NULL), TRPT_OK);
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_string_equal(out,
	    "period,policy_domain,result_type,successful,failed,"
	    "success_rate\r\n"
	    "2025-12-29,other.net,,5,0,1.0000\r\n"
	    "2025-12-29,other.net,starttls-not-supported,0,1,0.0000\r\n"
	    "2025-12-29,random.net,,32,0,1.0000\r\n"
	    "2025-12-29,random.net,certificate-expired,0,1,0.0000\r\n");
	free(out);
}

/* Two weeks of two senders and two domains, with failures. */
static void
load_small(struct trpt_db *db)
{
	struct gen g = { 0 };
	int64_t d;

	for (d = 0; d < 10; d++) {
		gen_begin(&g, "Google Inc.", D0 + d);
		gen_policy(
		    &g, "sts", "example.com", 100 + d, d == 3 ? 20 : 0, 0);
		if (d == 3)
			gen_failure(&g, "certificate-expired",
			    "mx2.example.com", "209.85.1.1", 20);
		gen_policy(&g, "no-policy-found", "example.org", 10, 0, 0);
		assert_int_equal(gen_end(&g, db), TRPT_OK);
		if (d % 3 == 2)
			continue; /* Microsoft reports only some days */
		gen_begin(&g, "Microsoft Corporation", D0 + d);
		gen_policy(&g, "sts", "example.com", 50, d >= 7 ? 5 : 0, 0);
		if (d >= 7)
			gen_failure(&g, "starttls-not-supported",
			    "mx1.example.com", "40.92.0.1", 5);
		gen_policy(&g, "tlsa", "example.com", 50, d >= 7 ? 5 : 0, 0);
		if (d >= 7)
			gen_failure(&g, "starttls-not-supported",
			    "mx1.example.com", "40.92.0.1", 5);
		assert_int_equal(gen_end(&g, db), TRPT_OK);
	}
}

static void
test_trend_golden(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_trend_query q;
	char *out;

	load_small(db);
	trpt_trend_query_init(&q);
	out = run(db, &q, TRPT_FORMAT_CSV);
	golden("expected/trends_org_domain_day.csv", out);
	free(out);
	out = run(db, &q, TRPT_FORMAT_JSON);
	golden("expected/trends_org_domain_day.json", out);
	free(out);

	q.period = TRPT_PERIOD_WEEK;
	assert_int_equal(
	    trpt_trend_parse_dims("domain,type,mx", &q, NULL), TRPT_OK);
	out = run(db, &q, TRPT_FORMAT_CSV);
	golden("expected/trends_domain_type_mx_week.csv", out);
	free(out);
	out = run(db, &q, TRPT_FORMAT_JSON);
	golden("expected/trends_domain_type_mx_week.json", out);
	free(out);

	/* Weeks from the weekly rollups; --since mid-week takes the whole
	 * week. */
	trpt_trend_query_init(&q);
	q.period = TRPT_PERIOD_WEEK;
	q.since_day = D0 + 2;
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_string_equal(out,
	    "period,organization_name,policy_domain,successful,failed,"
	    "success_rate\r\n"
	    "2026-W01,Google Inc.,example.com,721,20,0.9730\r\n"
	    "2026-W02,Google Inc.,example.com,324,0,1.0000\r\n"
	    "2026-W01,Google Inc.,example.org,70,0,1.0000\r\n"
	    "2026-W02,Google Inc.,example.org,30,0,1.0000\r\n"
	    "2026-W01,Microsoft Corporation,example.com,250,0,1.0000\r\n"
	    "2026-W02,Microsoft Corporation,example.com,100,10,0.9091\r\n");
	free(out);
	q.domain = "example.org";
	q.since_day = D0 + 7;
	assert_int_equal(trpt_trend_parse_dims("domain", &q, NULL), TRPT_OK);
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_string_equal(out,
	    "period,policy_domain,successful,failed,success_rate\r\n"
	    "2026-W02,example.org,30,0,1.0000\r\n");
	free(out);

	/* Date limits and a domain filter. */
	trpt_trend_query_init(&q);
	q.since_day = D0 + 3;
	q.until_day = D0 + 3;
	q.domain = "example.com";
	assert_int_equal(trpt_trend_parse_dims("org", &q, NULL), TRPT_OK);
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_string_equal(out,
	    "period,organization_name,successful,failed,success_rate\r\n"
	    "2026-01-01,Google Inc.,103,20,0.8374\r\n"
	    "2026-01-01,Microsoft Corporation,50,0,1.0000\r\n");
	free(out);

	/* The table has a sparkline per group, with the dip on day 3: on the
	 * group's own scale (88.44%..100%) it reaches the bottom bar. */
	trpt_trend_query_init(&q);
	q.domain = "example.com";
	assert_int_equal(trpt_trend_parse_dims("domain", &q, NULL), TRPT_OK);
	out = run(db, &q, TRPT_FORMAT_TABLE);
	assert_non_null(strstr(out, "example.com\n  \u2588\u2588\u2588\u2581"
				    "\u2588\u2588\u2588\u2586\u2588\u2586 "
				    "88.44%..100.00%  "));
	free(out);
}

static void
test_trend_incremental(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_trend_query q;
	struct gen g = { 0 };
	char *out;

	trpt_trend_query_init(&q);
	assert_int_equal(trpt_trend_parse_dims("org", &q, NULL), TRPT_OK);
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_string_equal(
	    out, "period,organization_name,successful,failed,success_rate\r\n");
	free(out);

	gen_begin(&g, "Google Inc.", D0);
	gen_policy(&g, "sts", "example.com", 10, 0, 0);
	assert_int_equal(gen_end(&g, db), TRPT_OK);
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_non_null(strstr(out, "2025-12-29,Google Inc.,10,0,1.0000\r\n"));
	free(out);

	gen_begin(&g, "Google Inc.", D0);
	gen_policy(&g, "sts", "example.net", 5, 5, 0);
	assert_int_equal(gen_end(&g, db), TRPT_OK);
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_non_null(strstr(out, "2025-12-29,Google Inc.,15,5,0.7500\r\n"));
	free(out);

	/* The rollups were written with the reports: a report deleted
	 * (as prune does) stays counted, and reading wrote nothing. */
	trpt_test_db_exec(db, "DELETE FROM reports WHERE id = 1");
	out = run(db, &q, TRPT_FORMAT_CSV);
	assert_non_null(strstr(out, "2025-12-29,Google Inc.,15,5,0.7500\r\n"));
	free(out);
}

static void
test_trend_export(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_export_filter f;
	struct trpt_err err;
	uint64_t nrows = 0;
	char *buf = NULL;
	size_t len = 0, rows = 0;
	const char *p;
	FILE *out;

	load_small(db);
	trpt_export_filter_init(&f);
	f.domain = "EXAMPLE.COM";
	f.since = (D0 + 8) * 86400;
	out = open_memstream(&buf, &len);
	assert_int_equal(
	    trpt_trend_export_reports(db, &f, out, &nrows, &err), TRPT_OK);
	assert_int_equal(nrows, 3);
	fclose(out);
	p = "id,organization_name,report_id,contact_info,begin_date,"
	    "end_date,day,policies,successful_session_count,"
	    "failed_session_count,received_at,seen_count,copy,conflict,dkim,"
	    "dkim_domain,dkim_selector,dkim_aligned,dkim_key_service,"
	    "dkim_accepted,dkim_reason\r\n";
	assert_true(strncmp(buf, p, strlen(p)) == 0);
	for (p = buf; (p = strstr(p, "\r\n")) != NULL; p += 2)
		rows++;
	assert_int_equal(rows, 1 + 3); /* Google days 8, 9, Microsoft 9 */
	assert_non_null(strstr(buf, ",Microsoft Corporation,Microsoft "
				    "Corporation-20460-"));
	assert_non_null(
	    strstr(buf, ",2026-01-07T00:00:00Z,"
			"2026-01-07T23:59:59Z,2026-01-07,2,100,"
			"10,2026-01-08T01:00:00Z,1,0,0,,,,,,0,\r\n"));
	free(buf);

	trpt_export_filter_init(&f);
	buf = NULL;
	out = open_memstream(&buf, &len);
	assert_int_equal(
	    trpt_trend_export_daily(db, &f, out, &nrows, &err), TRPT_OK);
	fclose(out);
	assert_int_equal(nrows, 27);
	golden("expected/trends_org_domain_day.csv", buf);
	free(buf);
	/* Reports beginning in [day 8, day 9): one day of rows. */
	f.since = (D0 + 8) * 86400;
	f.until = (D0 + 9) * 86400;
	f.domain = "example.org";
	buf = NULL;
	out = open_memstream(&buf, &len);
	assert_int_equal(
	    trpt_trend_export_daily(db, &f, out, &nrows, &err), TRPT_OK);
	fclose(out);
	assert_string_equal(buf,
	    "period,organization_name,policy_domain,successful,failed,"
	    "success_rate\r\n"
	    "2026-01-06,Google Inc.,example.org,10,0,1.0000\r\n");
	free(buf);
}

static void
test_trend_dims(void **state)
{
	struct trpt_trend_query q;
	struct trpt_err err;

	(void)state;
	trpt_trend_query_init(&q);
	assert_int_equal(trpt_trend_parse_dims("type,org", &q, &err), TRPT_OK);
	assert_int_equal(q.ndims, 2);
	assert_int_equal(q.dims[0], TRPT_DIM_TYPE);
	assert_int_equal(q.dims[1], TRPT_DIM_ORG);
	assert_int_equal(
	    trpt_trend_parse_dims("org,nope", &q, &err), TRPT_EINVAL);
	assert_non_null(strstr(err.msg, "unknown dimension \"nope\""));
	assert_int_equal(q.ndims, 2); /* unchanged on failure */
	assert_int_equal(
	    trpt_trend_parse_dims("org,org", &q, &err), TRPT_EINVAL);
	assert_int_equal(trpt_trend_parse_dims("", &q, &err), TRPT_EINVAL);
	assert_int_equal(trpt_trend_parse_dims("org,", &q, &err), TRPT_EINVAL);
	assert_string_equal(
	    trpt_trend_dim_column(TRPT_DIM_IP), "sending_mta_ip");
}

static void
test_trend_weeks(void **state)
{
	char buf[16];
	int64_t day = 0;
	struct trpt_err err;

	(void)state;
	/* 2020-12-28 is in 2020-W53, 2021-01-03 too, 2021-01-04 is W01. */
	day = trpt_datetime_days_from_civil(2020, 12, 28);
	trpt_trend_period_label(TRPT_PERIOD_WEEK,
	    trpt_trend_period_of(TRPT_PERIOD_WEEK, day + 6), buf, sizeof(buf));
	assert_string_equal(buf, "2020-W53");
	trpt_trend_period_label(TRPT_PERIOD_WEEK,
	    trpt_trend_period_of(TRPT_PERIOD_WEEK, day + 7), buf, sizeof(buf));
	assert_string_equal(buf, "2021-W01");
	trpt_trend_period_label(TRPT_PERIOD_WEEK,
	    trpt_trend_period_of(TRPT_PERIOD_WEEK, D0), buf, sizeof(buf));
	assert_string_equal(buf, "2026-W01");
	assert_int_equal(trpt_trend_period_start(TRPT_PERIOD_WEEK,
			     trpt_trend_period_of(TRPT_PERIOD_WEEK, D0 + 6)),
	    D0);
	assert_int_equal(
	    trpt_trend_parse_week("2026-W01", &day, &err), TRPT_OK);
	assert_int_equal(day, D0);
	assert_int_equal(
	    trpt_trend_parse_week("2020-W53", &day, &err), TRPT_OK);
	assert_int_equal(day, trpt_datetime_days_from_civil(2020, 12, 28));
	assert_int_equal(
	    trpt_trend_parse_week("2021-W53", &day, &err), TRPT_EINVAL);
	assert_int_equal(
	    trpt_trend_parse_week("2026-W1", &day, &err), TRPT_EINVAL);
	assert_int_equal(
	    trpt_trend_parse_week("2026-05", &day, &err), TRPT_EINVAL);
	trpt_trend_period_label(TRPT_PERIOD_DAY, D0, buf, sizeof(buf));
	assert_string_equal(buf, "2025-12-29");
}

static void
test_trend_cap(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_trend_query q;
	struct trpt_trend *t = NULL;
	struct trpt_err err;

	load_small(db);
	trpt_trend_query_init(&q);
	q.max_cells = 25; /* 3 groups x 10 days do not fit */
	assert_int_equal(trpt_trend_run(db, &q, &t, &err), TRPT_ELIMIT);
	assert_null(t);
	assert_non_null(strstr(err.msg, "--period week"));
	q.period = TRPT_PERIOD_WEEK;
	assert_int_equal(trpt_trend_run(db, &q, &t, &err), TRPT_OK);
	assert_int_equal(t->ngroups, 3);
	assert_int_equal(t->nperiods, 2);
	trpt_trend_free(&t);
}

static int64_t
count(struct trpt_db *db, const char *sql)
{
	return trpt_test_db_int(db, sql);
}

/* Many new reports at once take the bulk path; the sums must agree with
 * the one-by-one path. */
static void
test_trend_bulk(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_err err;
	struct gen g = { 0 };
	char dom[40][32];
	/* SQLite's page cache, which the bulk path enlarges for a while. */
	int lite = trpt_sql_dialect(db) == TRPT_SQL_SQLITE;
	int64_t cache = lite ? count(db, "PRAGMA cache_size") : 0;
	int d, i, k;

	for (i = 0; i < 40; i++)
		snprintf(dom[i], sizeof(dom[i]), "d%02d.example", i);
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (d = 0; d < 21; d++)
		for (k = 0; k < 200; k++) {
			gen_begin(&g, k % 2 ? "Google Inc." : "Yahoo", D0 + d);
			i = k % 40; /* 5 reports per domain and day */
			gen_policy(&g, "sts", dom[i], 10 + k % 7, k % 3, 0);
			assert_int_equal(gen_end(&g, db), TRPT_OK);
		}
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	/* One more report: the incremental path on top. */
	gen_begin(&g, "Yahoo", D0 + 3);
	gen_policy(&g, "sts", dom[5], 1000, 1, 0);
	assert_int_equal(gen_end(&g, db), TRPT_OK);
	assert_int_equal(
	    count(db, "SELECT count(*) FROM rollup_domain_day"), 40 * 21);
	assert_int_equal(
	    count(db, "SELECT count(*) FROM rollup_org_day"), 2 * 21);
	assert_int_equal(
	    count(db, "SELECT count(*) FROM (SELECT domain, day, "
		      "sum(successful) s, sum(failed) f FROM "
		      "rollup_daily GROUP BY 1, 2) a JOIN "
		      "rollup_domain_day b USING (domain, day) WHERE "
		      "a.s = b.successful AND a.f = b.failed"),
	    40 * 21);
	assert_int_equal(
	    count(db, "SELECT count(*) FROM (SELECT org, day, "
		      "sum(successful) s, sum(failed) f FROM "
		      "rollup_daily GROUP BY 1, 2) a JOIN "
		      "rollup_org_day b USING (org, day) WHERE a.s = "
		      "b.successful AND a.f = b.failed"),
	    2 * 21);
	assert_int_equal(
	    count(db,
		"SELECT count(*) FROM (SELECT domain, (day + 3) "
		"/ 7 AS week, org, sum(successful) s, "
		"sum(failed) f FROM rollup_daily GROUP BY 1, 2, "
		"3) a JOIN " TRPT_TEST_WEEKLY_ROWS " b USING (domain, week, "
		"org) WHERE a.s = b.successful AND a.f = "
		"b.failed"),
	    count(db, "SELECT count(*) FROM " TRPT_TEST_WEEKLY_ROWS " b"));
	assert_int_equal(
	    count(db,
		"SELECT count(*) FROM (SELECT domain, week, "
		"sum(successful) s, sum(failed) f FROM " TRPT_TEST_WEEKLY_ROWS
		" w GROUP BY 1, 2) a JOIN "
		"rollup_domain_week b USING (domain, week) WHERE "
		"a.s = b.successful AND a.f = b.failed"),
	    40 * 3); /* 21 days from a Monday */
	assert_int_equal(
	    count(
		db, "SELECT sum(successful) FROM " TRPT_TEST_WEEKLY_ROWS " w"),
	    count(db, "SELECT sum(successful) FROM policies"));
	assert_int_equal(count(db, "SELECT sum(successful) FROM rollup_daily"),
	    count(db, "SELECT sum(successful) FROM policies"));
	assert_int_equal(count(db, "SELECT sum(failed) FROM rollup_failures"),
	    count(db, "SELECT sum(failed) FROM policies"));
	/* The cache size is back to what it was. */
	if (lite)
		assert_int_equal(count(db, "PRAGMA cache_size"), cache);
}

/*
 * The weekly trend by organisation and domain (rollup_weeks, blocks of 32
 * weeks) over the same range as the daily one (rollup_daily), the days
 * summed by week in C: the same groups and cells.  since and until: a
 * Monday and a Sunday, or TRPT_DAY_MIN and TRPT_DAY_MAX.
 */
static void
weeks_equal_days(
    struct trpt_db *db, int64_t since, int64_t until, const char *domain)
{
	struct trpt_trend *tw = NULL, *td = NULL;
	struct trpt_trend_query q;
	struct trpt_err err;
	int64_t j, w, s, f;
	size_t g;

	trpt_trend_query_init(&q);
	q.since_day = since;
	q.until_day = until;
	q.domain = domain;
	assert_int_equal(trpt_trend_run(db, &q, &td, &err), TRPT_OK);
	q.period = TRPT_PERIOD_WEEK;
	assert_int_equal(trpt_trend_run(db, &q, &tw, &err), TRPT_OK);
	assert_true(td->ngroups > 0);
	assert_int_equal(tw->ngroups, td->ngroups);
	assert_int_equal(tw->first_period,
	    trpt_trend_period_of(TRPT_PERIOD_WEEK, td->first_period));
	for (g = 0; g < td->ngroups; g++) {
		assert_string_equal(tw->groups[g].key[0], td->groups[g].key[0]);
		assert_string_equal(tw->groups[g].key[1], td->groups[g].key[1]);
		for (w = 0; w < tw->nperiods; w++) {
			for (s = f = 0, j = 0; j < td->nperiods; j++)
				if (trpt_trend_period_of(TRPT_PERIOD_WEEK,
					td->first_period + j) ==
				    tw->first_period + w) {
					s += td->groups[g].cells[j].successful;
					f += td->groups[g].cells[j].failed;
				}
			assert_int_equal(tw->groups[g].cells[w].successful, s);
			assert_int_equal(tw->groups[g].cells[w].failed, f);
		}
	}
	trpt_trend_free(&tw);
	trpt_trend_free(&td);
}

/* rollup_weeks as text, row by row, into buf. */
static void
dump_weeks(struct trpt_db *db, char *buf, size_t len)
{
	struct trpt_stmt *st = NULL;
	struct trpt_err err;
	size_t n = 0;
	int rc;

	assert_int_equal(
	    trpt_sql_prepare(db,
		"SELECT domain || ',' || week || ',' || org || ',' ||"
		" successful || ',' || failed FROM " TRPT_TEST_WEEKLY_ROWS
		" w ORDER BY 1",
		&st, &err),
	    TRPT_OK);
	while ((rc = trpt_sql_step(st, &err)) > 0) {
		n += (size_t)snprintf(
		    buf + n, len - n, "%s\n", trpt_sql_text(st, 0));
		assert_true(n < len);
	}
	assert_int_equal(rc, 0);
	trpt_sql_finalize(&st);
}

/*
 * Issue 15 item 4 (migration 0024): rollup_weeks holds one row per
 * (domain, org, block of 32 weeks), its cells exactly rollup_daily's
 * days summed by week, whichever way they were written: batches adding
 * cells to rows already there, a copy replaced by another a week later
 * (its week's cell, and its block's row, gone), a rebuild.  Fails without
 * the table (each week was a row of its own).
 */
static void
test_trend_weeks_blocks(void **state)
{
	static const char *const doms[] = { "a.example", "b.example",
		"c.example" };
	static char before[65536], after[65536];
	struct trpt_db *db = *state;
	struct trpt_auth pass = { .dkim = "pass",
		.dkim_domain = "org.example",
		.dkim_aligned = "same" };
	struct trpt_origin o = { .kind = "file", .source = "gen" };
	struct trpt_raw raw = { .origin = &o, .auth = &pass };
	struct trpt_err err;
	struct gen g = { 0 };
	int64_t day;
	int d, k, dup;

	/* Weeks 2941-2947 (days 20585-20630): blocks 91 and 92. */
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (day = 20585; day <= 20630; day += 2)
		for (d = 0; d < 3; d++)
			for (k = 0; k < 2; k++) {
				gen_begin(&g, k ? "Org B" : "Org A", day);
				gen_policy(&g, "sts", doms[d],
				    100 + day % 13 + d, (day + k) % 3, 0);
				assert_int_equal(gen_end(&g, db), TRPT_OK);
			}
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	/* Into the rows there: other days of the same weeks, and a new
	 * organisation. */
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (day = 20586; day <= 20630; day += 5) {
		gen_begin(&g, day % 2 ? "Org A" : "Org C", day);
		gen_policy(&g, "sts", doms[day % 3], 7, 1, 0);
		assert_int_equal(gen_end(&g, db), TRPT_OK);
	}
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	/* A lone report in week 2943, the last of block 91. */
	gen_begin(&g, "Org Z", 20603);
	gen_policy(&g, "sts", "z.example", 50, 5, 0);
	snprintf(g.id, sizeof(g.id), "lone");
	assert_int_equal(gen_end(&g, db), TRPT_OK);
	assert_int_equal(count(db, "SELECT count(*) FROM rollup_weeks"),
	    count(db, "SELECT count(*) FROM (SELECT DISTINCT domain, org,"
		      " ((day + 3) / 7) >> 5 FROM rollup_daily) x"));
	assert_int_equal(count(db, "SELECT count(*) FROM rollup_weeks WHERE"
				   " domain = 'z.example' AND block = 91"),
	    1);
	weeks_equal_days(db, TRPT_DAY_MIN, TRPT_DAY_MAX, NULL);

	/* Its DKIM-verified copy, for another policy domain (the first was
	 * a forgery under the sender's report-id), replaces it: block 91's
	 * row of z.example goes, one of y.example comes.  (A copy dated
	 * otherwise is another report since migration 0028.) */
	gen_begin(&g, "Org Z", 20603);
	gen_policy(&g, "sts", "y.example", 60, 6, 0);
	snprintf(g.id, sizeof(g.id), "lone");
	o.received = g.r.begin + 86400 + 3600;
	raw.bytes = "lone copy";
	raw.len = 9;
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_report(db, &g.r, &raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_CONFLICT);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	assert_int_equal(count(db, "SELECT count(*) FROM rollup_weeks WHERE"
				   " domain = 'z.example'"),
	    0);
	assert_int_equal(count(db, "SELECT count(*) FROM rollup_weeks WHERE"
				   " domain = 'y.example' AND block = 91"),
	    1);
	assert_int_equal(count(db, "SELECT count(*) FROM rollup_weeks"),
	    count(db, "SELECT count(*) FROM (SELECT DISTINCT domain, org,"
		      " ((day + 3) / 7) >> 5 FROM rollup_daily) x"));
	weeks_equal_days(db, TRPT_DAY_MIN, TRPT_DAY_MAX, NULL);
	/* Weeks 2943-2945, across the blocks; one domain. */
	weeks_equal_days(db, 2943 * 7 - 3, 2945 * 7 + 3, NULL);
	weeks_equal_days(db, 2943 * 7 - 3, 2945 * 7 + 3, "b.example");
	weeks_equal_days(db, TRPT_DAY_MIN, TRPT_DAY_MAX, "y.example");

	/* A rebuild (the set-based path) writes the same cells. */
	dump_weeks(db, before, sizeof(before));
	assert_true(strlen(before) > 1000);
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_int_equal(trpt_rollup_rebuild(db, &err), TRPT_OK);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	dump_weeks(db, after, sizeof(after));
	assert_string_equal(before, after);
}

/*
 * The trpt_weeks_* functions (schema/weeks.h), the same on both
 * databases: sums stop at the cap as the rollups' upserts do, cells are
 * dropped by place, and a malformed value is an error, not a read past
 * its end.
 */
static void
test_trend_weeks_functions(void **state)
{
	static const unsigned char bad[][17] = { { 0 }, { 32 } };
	static const size_t badlen[] = { 5, 17 };
	struct trpt_db *db = *state;
	struct trpt_stmt *st = NULL;
	struct trpt_err err;
	size_t i;

#define CELLS                                                                  \
	"trpt_weeks_add(trpt_weeks_add(trpt_weeks_cell(3, 1099511627000, 5),"  \
	" trpt_weeks_cell(3, 1000, -7)), trpt_weeks_cell(30, 2, 4))"
	assert_int_equal(count(db, "SELECT trpt_weeks_sum(" CELLS ", 8, 0)"),
	    TRPT_MAX_ROLLUP_COUNT);
	assert_int_equal(
	    count(db, "SELECT trpt_weeks_sum(" CELLS ", 8, 1)"), -2);
	assert_int_equal(
	    count(db, "SELECT trpt_weeks_sum(" CELLS ", -1, 1)"), 2);
	assert_int_equal(count(db, "SELECT length(" CELLS ")"), 34);
	assert_int_equal(
	    count(db,
		"SELECT trpt_weeks_sum(trpt_weeks_drop(" CELLS ", 8), -1, 0)"),
	    2);
	assert_int_equal(
	    count(db, "SELECT length(trpt_weeks_drop(" CELLS ", -1))"), 0);
	/* The aggregate: cells of distinct places side by side. */
	assert_int_equal(
	    count(db, "SELECT trpt_weeks_sum(trpt_weeks_agg(c), 6, 0) FROM"
		      " (SELECT trpt_weeks_cell(1, 5, 0) AS c UNION ALL"
		      " SELECT trpt_weeks_cell(2, 6, 0)) x"),
	    11);
#undef CELLS
	for (i = 0; i < sizeof(badlen) / sizeof(badlen[0]); i++) {
		assert_int_equal(
		    trpt_sql_prepare(
			db, "SELECT trpt_weeks_sum(?, -1, 0)", &st, &err),
		    TRPT_OK);
		trpt_sql_bind_blob(st, 1, bad[i], badlen[i]);
		assert_true(trpt_sql_step(st, &err) < 0);
		assert_non_null(strstr(err.msg, "malformed weekly cells"));
		trpt_sql_finalize(&st);
	}
	/* A malformed row in the table: the weekly trend is an error that
	 * names the table and the row, not a read past the value. */
	for (i = 0; i < sizeof(badlen) / sizeof(badlen[0]); i++) {
		struct trpt_trend_query q;
		struct trpt_trend *t = NULL;
		struct gen g = { 0 };

		gen_begin(&g, "Org", D0);
		gen_policy(&g, "sts", "bad.example", 5, 1, 0);
		assert_int_equal(gen_end(&g, db), TRPT_OK);
		assert_int_equal(
		    trpt_sql_prepare(
			db, "UPDATE rollup_weeks SET cells = ?", &st, &err),
		    TRPT_OK);
		trpt_sql_bind_blob(st, 1, bad[i], badlen[i]);
		assert_int_equal(trpt_sql_run(st, &err), TRPT_OK);
		trpt_sql_finalize(&st);
		trpt_trend_query_init(&q);
		q.period = TRPT_PERIOD_WEEK;
		assert_int_equal(trpt_trend_run(db, &q, &t, &err), TRPT_EDB);
		assert_null(t);
		assert_non_null(strstr(err.msg, "rollup_weeks: malformed cells"
						" for bad.example, Org"));
	}
}

/*
 * Issue 9 item 14: "testing" policies were found with LIKE on the JSON
 * text of policy_strings, so an enforce policy with an MX pattern that
 * contains "testing" counted as testing (a false alert).  The mode is a
 * column now.
 */
static void
test_trend_sts_mode_column(void **state)
{
	struct trpt_db *db = *state;
	struct gen g = { 0 };
	char *trap[3] = { "version: STSv1", "mode: enforce",
		"mx: mode-testing.example.com" };
	char buf[64];

	gen_begin(&g, "Google Inc.", D0);
	gen_policy(&g, "sts", "trap.example", 90, 10, 0);
	g.p[0].policy_strings.v = trap;
	gen_failure(&g, "certificate-expired", "mode-testing.example.com",
	    "192.0.2.1", 10);
	gen_policy(&g, "sts", "real.example", 90, 10, 1);
	gen_failure(
	    &g, "certificate-expired", "mx.real.example", "192.0.2.2", 10);
	assert_int_equal(gen_end(&g, db), TRPT_OK);
	assert_int_equal(trpt_test_db_int(db, "SELECT count(*) FROM "
					      "rollup_testing WHERE "
					      "domain = 'trap.example'"),
	    0);
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT count(*) FROM policies"), 2);
	assert_string_equal(trpt_test_db_text(db,
				"SELECT sts_mode FROM policies WHERE "
				"policy_domain = 'trap.example'",
				buf, sizeof(buf)),
	    "enforce");
	assert_string_equal(trpt_test_db_text(db,
				"SELECT sts_mode FROM policies WHERE "
				"policy_domain = 'real.example'",
				buf, sizeof(buf)),
	    "testing");
}

/*
 * Reads only read: with another connection holding the write lock (a
 * receiver storing a batch), trends run as usual, where the rollup
 * refresh of old waited for the lock and failed with TRPT_ETEMP.
 */
static void
test_trend_busy_is_temporary(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512];
	struct trpt_db *db = NULL;
	struct trpt_trend_query q;
	struct trpt_trend *t = NULL;
	struct trpt_err err;
	sqlite3 *other;

	(void)state;
	/* SQLite only: a file locked by another connection. */
	snprintf(path, sizeof(path), "%s/busy.db", dir);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	load_small(db);
	trpt_db_set_busy_timeout(db, 20);
	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	trpt_trend_query_init(&q);
	assert_int_equal(trpt_trend_run(db, &q, &t, &err), TRPT_OK);
	assert_int_equal(t->ngroups, 3);
	trpt_trend_free(&t);
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

static void
test_causes_table(void **state)
{
	static const char *const iana[] = { "starttls-not-supported",
		"certificate-host-mismatch", "certificate-expired",
		"certificate-not-trusted", "validation-failure", "tlsa-invalid",
		"dnssec-invalid", "dane-required", "sts-policy-fetch-error",
		"sts-policy-invalid", "sts-webpki-invalid" };
	const struct trpt_cause *c;
	size_t i;

	(void)state;
	assert_int_equal(trpt_causes_count(), 11);
	for (i = 0; i < 11; i++) {
		c = trpt_causes_lookup(iana[i]);
		assert_string_equal(c->result_type, iana[i]);
		assert_true(strlen(c->causes) > 40 && strlen(c->fixes) > 40);
		assert_true(trpt_causes_registered(iana[i]));
	}
	assert_non_null(strstr(
	    trpt_causes_lookup("certificate-expired")->fixes, "every MX"));
	assert_non_null(
	    strstr(trpt_causes_lookup("tlsa-invalid")->fixes, "next key"));
	assert_non_null(strstr(
	    trpt_causes_lookup("starttls-not-supported")->causes, "firewall"));
	c = trpt_causes_lookup("Testing");
	assert_string_equal(c->result_type, "");
	assert_false(trpt_causes_registered("Testing"));
	assert_ptr_equal(trpt_causes_lookup(NULL), c);
	assert_null(trpt_causes_at(11));
}

/*
 * Reports with counts as large as the validator and the store take (each
 * count up to 2^53, a report's sessions up to 2^63 - 1 in all) into one
 * rollup key: each one stored alone, then several in one transaction with
 * an ordinary report beside them.  Every one is stored; the rollup cells
 * stop at TRPT_MAX_ROLLUP_COUNT instead of failing the commit (SQLite: a
 * REAL refused by a STRICT column, or "integer overflow"; PostgreSQL:
 * bigint out of range), and what reads them (trends, alerts, the
 * dashboard's views and pages) reads them.
 */
#define HOSTILE_POLICIES 1000
#define HOSTILE_COUNT    (INT64_C(1) << 52) /* 1000 x 2 x 2^52 < 2^63 */

static int
store_hostile(struct trpt_db *db, char *id, struct trpt_err *err)
{
	static struct trpt_policy p[HOSTILE_POLICIES];
	static struct trpt_failure f[HOSTILE_POLICIES];
	struct trpt_report r = { 0 };
	struct trpt_origin o = { .kind = "file", .source = "hostile" };
	struct trpt_raw raw = { .origin = &o };
	int dup = 0, i;

	for (i = 0; i < HOSTILE_POLICIES; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].policy_type = "sts";
		p[i].policy_domain = "big.example";
		p[i].successful = HOSTILE_COUNT;
		p[i].failed = HOSTILE_COUNT;
		f[i].result_type = "validation-failure";
		f[i].receiving_mx_hostname = "mx.big.example";
		f[i].sending_mta_ip = "192.0.2.66";
		f[i].failed_session_count = HOSTILE_COUNT;
		p[i].failures = &f[i];
		p[i].nfailures = 1;
	}
	r.organization_name = "Hostile Org";
	r.contact_info = "x@example.net";
	r.report_id = id;
	r.begin = (D0 + 2) * 86400;
	r.end = r.begin + 86399;
	r.policies = p;
	r.npolicies = HOSTILE_POLICIES;
	o.received = r.end + 3600;
	raw.bytes = id;
	raw.len = strlen(id);
	return trpt_store_report(db, &r, &raw, &dup, NULL, err);
}

static void
test_trend_hostile_counts(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_trend_query q;
	struct trpt_trend *t = NULL;
	struct trpt_alert_config ac;
	struct trpt_alerts *a = NULL;
	struct trpt_view_filter vf = { D0, D0 + 6, "big.example", NULL, 10 };
	struct trpt_view_rows *v = NULL;
	struct trpt_err err;
	struct gen g = { 0 };
	char id[32];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "alone-%d", i);
		if (store_hostile(db, id, &err) != TRPT_OK)
			fail_msg("%s: %s", id, err.msg);
	}
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "together-%d", i);
		if (store_hostile(db, id, &err) != TRPT_OK)
			fail_msg("%s: %s", id, err.msg);
	}
	gen_begin(&g, "Plain Org", D0 + 2);
	gen_policy(&g, "sts", "small.example", 90, 10, 0);
	gen_failure(
	    &g, "certificate-expired", "mx.small.example", "192.0.2.1", 10);
	assert_int_equal(gen_end(&g, db), TRPT_OK);
	if (trpt_store_commit(db, &err) != TRPT_OK)
		fail_msg("commit: %s", err.msg);

	assert_int_equal(
	    trpt_test_db_int(db, "SELECT count(*) FROM reports"), 7);
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT successful FROM rollup_daily WHERE"
				 " domain = 'big.example'"),
	    TRPT_MAX_ROLLUP_COUNT);
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT failed FROM " TRPT_TEST_WEEKLY_ROWS
				 " w WHERE domain = 'big.example'"),
	    TRPT_MAX_ROLLUP_COUNT);
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT reports FROM rollup_daily WHERE"
				 " domain = 'big.example'"),
	    6);
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT failed FROM rollup_failures WHERE"
				 " domain = 'big.example'"),
	    TRPT_MAX_ROLLUP_COUNT);
	/* The ordinary report beside them is counted exactly. */
	assert_int_equal(trpt_test_db_int(db,
			     "SELECT successful * 1000 + failed FROM"
			     " rollup_daily WHERE domain = 'small.example'"),
	    90010);

	trpt_trend_query_init(&q);
	assert_int_equal(trpt_trend_parse_dims("domain", &q, NULL), TRPT_OK);
	if (trpt_trend_run(db, &q, &t, &err) != TRPT_OK)
		fail_msg("trend: %s", err.msg);
	assert_int_equal(t->ngroups, 2);
	assert_string_equal(t->groups[0].key[0], "big.example");
	assert_int_equal(t->groups[0].successful, TRPT_MAX_ROLLUP_COUNT);
	assert_int_equal(t->groups[1].failed, 10);
	trpt_trend_free(&t);

	trpt_alert_config_init(&ac);
	if (trpt_alert_detect(db, &ac, D0 - 28, D0 + 7, &a, &err) != TRPT_OK)
		fail_msg("alerts: %s", err.msg);
	trpt_alert_free(&a);
	if (trpt_view_reasons(db, &vf, &v, &err) != TRPT_OK)
		fail_msg("reasons: %s", err.msg);
	/* 6,000 details, each counted as TRPT_MAX_ROLLUP_COUNT at most. */
	assert_int_equal(trpt_view_int(v, 0, 4), 6000 * TRPT_MAX_ROLLUP_COUNT);
	trpt_view_free(&v);
	vf.domain = NULL;
	vf.org = "Hostile Org";
	if (trpt_view_sender_domains(db, &vf, &v, &err) != TRPT_OK)
		fail_msg("sender domains: %s", err.msg);
	assert_int_equal(trpt_view_int(v, 0, 1), TRPT_MAX_ROLLUP_COUNT);
	trpt_view_free(&v);
	if (trpt_view_metric_sessions(db, 100, &v, &err) != TRPT_OK)
		fail_msg("metrics: %s", err.msg);
	trpt_view_free(&v);
	if (trpt_view_metric_failures(db, 100, &v, &err) != TRPT_OK)
		fail_msg("metrics: %s", err.msg);
	trpt_view_free(&v);
	/* The dashboard's pages add them up again. */
	trpt_alert_config_init(&ac);
	if (trpt_alert_detect(db, &ac, D0 - 28, D0 + 7, &a, &err) != TRPT_OK)
		fail_msg("alerts: %s", err.msg);
	for (i = 0; i < 3; i++) {
		struct trpt_dash d = { db, D0 - 28, D0 + 6, NULL, a, 0, 0 };
		struct trpt_html h;
		char *out = NULL;
		size_t len;
		int rc;

		trpt_html_init(&h, TRPT_HTML_MAX_PAGE);
		trpt_dash_begin(&h, &d, "t");
		rc = i == 0   ? trpt_dash_overview(&d, &h, &err)
		     : i == 1 ? trpt_dash_domain(&d, "big.example", &h, &err)
			      : trpt_dash_sender(&d, "Hostile Org", &h, &err);
		if (rc != TRPT_OK)
			fail_msg("page %d: %s", i, err.msg);
		trpt_dash_end(&h);
		assert_int_equal(
		    trpt_html_finish(&h, &out, &len, &err), TRPT_OK);
		free(out);
	}
	trpt_alert_free(&a);
}

/*
 * The rates' text: trpt_trend_format_fixed writes what snprintf's "%.Nf"
 * does, for the rates trends print (s / (s + f), and that times 100), the
 * ties (exact halves round to even: 0.125 -> "0.12"), values just either
 * side of a half, and the values it hands to snprintf.
 */
static void
check_fixed(double v, int d)
{
	char want[512], got[512];
	size_t n;

	snprintf(want, sizeof(want), "%.*f", d, v);
	n = trpt_trend_format_fixed(v, d, got, sizeof(got));
	if (n != strlen(want) || strcmp(got, want) != 0)
		fail_msg("%.17g with %d decimals: \"%s\", want \"%s\"", v, d,
		    got, want);
}

static void
test_trend_format_fixed(void **state)
{
	static const double odd[] = { 0, 1, 100, 0.5, 0.125, 0.375, 2.5, 0.005,
		0.015, 0.00005, 0.00015, 0.99995, 99.995, 99.985, 1e-300,
		5e-324, 4e-5, 999999.99995, 999999.5, 1e6, 1e300, -1, -0.5,
		-100 };
	int64_t s, f;
	uint64_t x = 88172645463325252u;
	size_t i;
	double r;
	int d;

	(void)state;
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		for (d = 0; d <= 4; d++) {
			check_fixed(odd[i], d);
			check_fixed(nextafter(odd[i], 0), d);
			check_fixed(nextafter(odd[i], 1e9), d);
		}
	for (s = 0; s <= 400; s++)
		for (f = 0; f <= 400; f++) {
			if (s + f == 0)
				continue;
			r = (double)s / ((double)s + (double)f);
			check_fixed(r, 4);
			check_fixed(r * 100.0, 2);
		}
	for (i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		s = (int64_t)(x >> 20);
		f = (int64_t)(x & 0xfffff) * (int64_t)(i % 1000);
		if (s + f == 0)
			continue;
		r = (double)s / ((double)s + (double)f);
		check_fixed(r, 4);
		check_fixed(r * 100.0, 2);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_trend_guard_microsoft, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_trend_golden, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_trend_incremental, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_trend_export, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_trend_cap, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_trend_bulk, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_trend_sts_mode_column, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_trend_hostile_counts, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_trend_weeks_blocks, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_trend_weeks_functions, setup_db, teardown_db),
		cmocka_unit_test(test_trend_busy_is_temporary),
		cmocka_unit_test(test_trend_dims),
		cmocka_unit_test(test_trend_weeks),
		cmocka_unit_test(test_causes_table),
		cmocka_unit_test(test_trend_format_fixed),
	};

	return cmocka_run_group_tests_name("trend", tests, NULL, NULL);
}
