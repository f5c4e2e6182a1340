/*
 * The reads behind trends, alerts, the summary, exports, report show,
 * stats and the HTTPS pull state (schema/analysis.c, export_rows.c,
 * report_detail.c, stats.c, pull_state.c): written against the functions
 * only, with rollup rows put in place through the driver, and reports
 * stored as the collector stores them.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schema/analysis.h"
#include "schema/db.h"
#include "schema/export_rows.h"
#include "schema/pull_state.h"
#include "schema/report.h"
#include "schema/report_detail.h"
#include "schema/rollup.h"
#include "schema/sql.h"
#include "schema/stats.h"
#include "schema/store.h"
#include "tests/helpers/testdb.h"

#define D0 20454 /* 2026-01-01, a Thursday */

/* A new database for each test: SQLite, or PostgreSQL under the pg
 * setup (tests/helpers/testdb.h). */
static int
setup(void **state)
{
	*state = trpt_test_db_open();
	return 0;
}

static int
teardown(void **state)
{
	struct trpt_db *db = *state;

	trpt_test_db_close(&db);
	return 0;
}

/*
 * The store writes rollup_failures_week and rollup_type_first with
 * rollup_failures (schema/rollup.c, migration 0022), and
 * rollup_testing_week with rollup_testing (0027); rows of either written
 * here by hand get theirs computed again.
 */
static void
exec(struct trpt_db *db, const char *sql)
{
	struct trpt_err err;

	if (trpt_sql_exec(db, sql, &err) != TRPT_OK)
		fail_msg("%s: %s", sql, err.msg);
	if ((strstr(sql, "rollup_failures ") != NULL ||
		strstr(sql, "rollup_testing ") != NULL) &&
	    strncmp(sql, "SELECT", 6) != 0 &&
	    trpt_rollup_derive(db, &err) != TRPT_OK)
		fail_msg("derive: %s", err.msg);
}

/*
 * Two days of rollups: Google and Microsoft report example.com and
 * example.net; failures of example.com split by details.
 */
static void
put_rollups(struct trpt_db *db)
{
	exec(db,
	    "INSERT INTO rollup_daily (domain, day, org, successful, failed, "
	    "reports) VALUES "
	    "('example.com', 20454, 'google', 90, 10, 1),"
	    "('example.com', 20455, 'google', 80, 20, 1),"
	    "('example.com', 20454, 'microsoft', 50, 0, 1),"
	    "('example.net', 20455, 'google', 40, 2, 1),"
	    "('example.net', 20462, 'google', 30, 0, 1)");
	exec(db,
	    "INSERT INTO rollup_org_day (org, day, successful, failed) VALUES "
	    "('google', 20454, 90, 10), ('google', 20455, 120, 22),"
	    "('google', 20462, 30, 0), ('microsoft', 20454, 50, 0)");
	exec(db,
	    "INSERT INTO rollup_domain_day (domain, day, successful, failed) "
	    "VALUES ('example.com', 20454, 140, 10),"
	    "('example.com', 20455, 80, 20), ('example.net', 20455, 40, 2),"
	    "('example.net', 20462, 30, 0)");
	/* Week 2922 runs from Monday 2025-12-29 (day 20451), 2923 from
	 * 20458. */
	exec(db, "INSERT INTO rollup_weeks (domain, org, block, cells) VALUES "
		 "('example.com', 'google', 2922 >> 5,"
		 " trpt_weeks_cell(2922 & 31, 170, 30)),"
		 "('example.com', 'microsoft', 2922 >> 5,"
		 " trpt_weeks_cell(2922 & 31, 50, 0)),"
		 "('example.net', 'google', 2922 >> 5,"
		 " trpt_weeks_add(trpt_weeks_cell(2922 & 31, 40, 2),"
		 " trpt_weeks_cell(2923 & 31, 30, 0)))");
	exec(db,
	    "INSERT INTO rollup_domain_week (domain, week, successful, failed) "
	    "VALUES ('example.com', 2922, 220, 30),"
	    "('example.net', 2922, 40, 2), ('example.net', 2923, 30, 0)");
	exec(db,
	    "INSERT INTO rollup_failures (day, org, domain, result_type, mx, "
	    "ip, failed) VALUES "
	    "(20454, 'google', 'example.com', 'certificate-expired', "
	    "'mx1.example.com', '192.0.2.1', 6),"
	    "(20454, 'google', 'example.com', 'starttls-not-supported', "
	    "'mx2.example.com', '192.0.2.1', 4),"
	    "(20455, 'google', 'example.com', 'certificate-expired', "
	    "'mx1.example.com', '192.0.2.2', 20),"
	    "(20455, 'google', 'example.net', '', '', '', 2)");
	exec(db,
	    "INSERT INTO rollup_testing (day, org, domain, successful, failed) "
	    "VALUES (20455, 'google', 'example.net', 40, 2)");
}

/* Rows summed by their columns, as a sorted text for comparison. */
struct sums {
	char lines[32][128];
	size_t n;
	int calls;
};

static int
add_row(void *arg, const struct trpt_analysis_row *r)
{
	struct sums *s = arg;
	char key[128];
	size_t i;
	long long ok, bad;

	snprintf(key, sizeof(key), "%lld %s|%s|%s|%s|%s", (long long)r->day,
	    r->col[0], r->col[1], r->col[2], r->col[3], r->col[4]);
	s->calls++;
	for (i = 0; i < s->n; i++)
		if (strncmp(s->lines[i], key, strlen(key)) == 0 &&
		    s->lines[i][strlen(key)] == ' ')
			break;
	ok = r->successful;
	bad = r->failed;
	if (i < s->n) {
		long long o, b;

		if (sscanf(s->lines[i] + strlen(key), " %lld %lld", &o, &b) !=
		    2)
			fail_msg("bad line %s", s->lines[i]);
		ok += o;
		bad += b;
	} else if (s->n == 32)
		fail_msg("too many groups");
	else
		s->n++;
	snprintf(
	    s->lines[i], sizeof(s->lines[i]), "%s %lld %lld", key, ok, bad);
	return TRPT_OK;
}

static int
cmp_line(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
run(struct trpt_db *db, const struct trpt_analysis_query *q,
    const char *const *want, size_t nwant)
{
	struct trpt_err err;
	struct sums s;
	size_t i;

	memset(&s, 0, sizeof(s));
	if (trpt_analysis_rollup_rows(db, q, add_row, &s, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	qsort(s.lines, s.n, sizeof(s.lines[0]), cmp_line);
	for (i = 0; i < s.n && i < nwant; i++)
		assert_string_equal(s.lines[i], want[i]);
	assert_int_equal(s.n, nwant);
}

#define ORG    (1u << TRPT_ANALYSIS_ORG)
#define DOMAIN (1u << TRPT_ANALYSIS_DOMAIN)
#define TYPE   (1u << TRPT_ANALYSIS_TYPE)
#define MX     (1u << TRPT_ANALYSIS_MX)

static void
test_analysis_rollup_rows(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_analysis_query q;
	static const char *const by_org[] = { "20454 google|||| 90 10",
		"20454 microsoft|||| 50 0", "20455 google|||| 120 22" };
	static const char *const by_domain_week[] = {
		"20451 |example.com||| 220 30", "20451 |example.net||| 40 2",
		"20458 |example.net||| 30 0"
	};
	static const char *const org_domain_one[] = {
		"20454 google|example.com||| 90 10",
		"20454 microsoft|example.com||| 50 0",
		"20455 google|example.com||| 80 20"
	};
	/* The failed sessions split by details, the sessions apart; the
	 * IP, not asked for, is "". */
	static const char *const by_type[] = {
		"20454 google|example.com|mx1.example.com||"
		"certificate-expired 0 6",
		"20454 google|example.com|mx2.example.com||"
		"starttls-not-supported 0 4",
		"20454 google|example.com||| 90 0",
		"20454 microsoft|example.com||| 50 0",
		"20455 google|example.com|mx1.example.com||"
		"certificate-expired 0 20",
		"20455 google|example.com||| 80 0",
	};
	static const char *const by_domain_day[] = {
		"20455 |example.com||| 80 20", "20455 |example.net||| 40 2",
		"20462 |example.net||| 30 0"
	};
	static const char *const org_domain_day[] = {
		"20455 google|example.com||| 80 20",
		"20455 google|example.net||| 40 2"
	};
	static const char *const type_only[] = { "20454 |||| 140 0",
		"20454 ||||certificate-expired 0 6",
		"20454 ||||starttls-not-supported 0 4" };
	static const char *const org_domain_weekly[] = {
		"20451 google|example.com||| 170 30",
		"20451 google|example.net||| 40 2",
		"20451 microsoft|example.com||| 50 0",
		"20458 google|example.net||| 30 0",
	};

	put_rollups(db);
	memset(&q, 0, sizeof(q));
	q.cols = ORG;
	q.first_day = D0;
	q.last_day = D0 + 1;
	run(db, &q, by_org, 3);

	q.cols = DOMAIN;
	q.weekly = 1;
	q.first_day = D0 - 3;
	q.last_day = D0 + 10;
	run(db, &q, by_domain_week, 3);

	q.cols = ORG | DOMAIN;
	q.weekly = 0;
	q.domain = "example.com";
	q.first_day = D0 - 10;
	q.last_day = D0 + 10;
	run(db, &q, org_domain_one, 3);

	q.cols = ORG | DOMAIN | TYPE | MX;
	run(db, &q, by_type, 6);

	q.cols = ORG | DOMAIN;
	q.domain = NULL;
	q.weekly = 1;
	q.first_day = D0 - 3;
	q.last_day = D0 + 10;
	run(db, &q, org_domain_weekly, 4);

	/* By day over every domain (walked one by one on the key), a range
	 * that leaves out a day of each side. */
	q.cols = DOMAIN;
	q.weekly = 0;
	q.first_day = D0 + 1;
	q.last_day = D0 + 8;
	run(db, &q, by_domain_day, 3);
	q.cols = ORG | DOMAIN;
	q.last_day = D0 + 1;
	run(db, &q, org_domain_day, 2);
	/* Only the type asked for: the other columns "" (the sessions of
	 * two senders in one line). */
	q.cols = TYPE;
	q.first_day = D0;
	q.last_day = D0;
	run(db, &q, type_only, 3);

	/* A range with nothing in it. */
	q.weekly = 0;
	q.first_day = D0 + 100;
	q.last_day = D0 + 200;
	run(db, &q, NULL, 0);
}

static int
stop_at_first(void *arg, const struct trpt_analysis_row *r)
{
	(void)r;
	++*(int *)arg;
	return TRPT_ELIMIT;
}

/* A callback's code stops the read and comes back as it is. */
static void
test_analysis_callback_stops(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_analysis_query q;
	struct trpt_err err;
	int calls = 0;

	put_rollups(db);
	memset(&q, 0, sizeof(q));
	q.cols = ORG | DOMAIN;
	q.first_day = D0;
	q.last_day = D0 + 30;
	assert_int_equal(
	    trpt_analysis_rollup_rows(db, &q, stop_at_first, &calls, &err),
	    TRPT_ELIMIT);
	assert_int_equal(calls, 1);
}

static void
test_analysis_data_range(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_err err;
	int64_t first = 0, last = 0;

	assert_int_equal(trpt_analysis_data_range(
			     db, NULL, D0 - 100, D0 + 100, &first, &last, &err),
	    TRPT_OK);
	assert_true(first > last); /* nothing yet */
	put_rollups(db);
	assert_int_equal(trpt_analysis_data_range(
			     db, NULL, D0 - 100, D0 + 100, &first, &last, &err),
	    TRPT_OK);
	assert_int_equal(first, D0);
	assert_int_equal(last, D0 + 8);
	assert_int_equal(trpt_analysis_data_range(db, "example.com", D0 - 100,
			     D0 + 100, &first, &last, &err),
	    TRPT_OK);
	assert_int_equal(first, D0);
	assert_int_equal(last, D0 + 1);
	/* The window cuts: days outside it do not count. */
	assert_int_equal(trpt_analysis_data_range(db, "example.net", D0, D0 + 5,
			     &first, &last, &err),
	    TRPT_OK);
	assert_int_equal(first, D0 + 1);
	assert_int_equal(last, D0 + 1);
	assert_int_equal(trpt_analysis_data_range(db, "example.org", D0 - 100,
			     D0 + 100, &first, &last, &err),
	    TRPT_OK);
	assert_true(first > last);
}

/* Summed rows as "name type first last ok failed history" lines. */
static int
add_sum(void *arg, const struct trpt_analysis_sum *s)
{
	struct sums *x = arg;

	if (x->n == 32)
		fail_msg("too many rows");
	snprintf(x->lines[x->n++], sizeof(x->lines[0]),
	    "%s %s %lld %lld %lld %lld %lld", s->name[0] ? s->name : "-",
	    s->type != NULL ? s->type : "-", (long long)s->first_day,
	    (long long)s->last_day, (long long)s->successful,
	    (long long)s->failed, (long long)s->history_day);
	return TRPT_OK;
}

static void
expect(const struct sums *s, const char *const *want, size_t n)
{
	size_t i;

	for (i = 0; i < s->n && i < n; i++)
		assert_string_equal(s->lines[i], want[i]);
	assert_int_equal(s->n, n);
}

static void
test_analysis_top_failures(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_analysis_top_query q;
	struct trpt_err err;
	struct sums s;
	static const char *const types[] = {
		"certificate-expired - 0 0 0 26 0",
		"starttls-not-supported - 0 0 0 4 0",
	};
	static const char *const mx_one[] = { "mx1.example.com - 0 0 0 26 0" };
	static const char *const ips_typed[] = { "192.0.2.2 - 0 0 0 20 0",
		"192.0.2.1 - 0 0 0 6 0" };
	static const char *const of_google[] = { "example.com - 0 0 0 30 0",
		"example.net - 0 0 0 2 0" };
	static const char *const mx_all[] = { "- - 0 0 0 2 0" };

	put_rollups(db);
	memset(&q, 0, sizeof(q));
	q.subject_col = TRPT_ANALYSIS_DOMAIN;
	q.subject = "example.com";
	q.by = TRPT_ANALYSIS_TYPE;
	q.first_day = D0;
	q.last_day = D0 + 6;
	q.max = 5;
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_analysis_top_failures(db, &q, add_sum, &s, &err), TRPT_OK);
	expect(&s, types, 2);

	q.by = TRPT_ANALYSIS_MX;
	q.max = 1; /* the most failed only */
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_analysis_top_failures(db, &q, add_sum, &s, &err), TRPT_OK);
	expect(&s, mx_one, 1);

	q.by = TRPT_ANALYSIS_IP;
	q.type = "certificate-expired";
	q.max = 5;
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_analysis_top_failures(db, &q, add_sum, &s, &err), TRPT_OK);
	expect(&s, ips_typed, 2);

	q.subject_col = TRPT_ANALYSIS_ORG;
	q.subject = "google";
	q.by = TRPT_ANALYSIS_DOMAIN;
	q.type = NULL;
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_analysis_top_failures(db, &q, add_sum, &s, &err), TRPT_OK);
	expect(&s, of_google, 2);

	/* Failures without details: "" unless only named ones are asked. */
	q.subject_col = TRPT_ANALYSIS_DOMAIN;
	q.subject = "example.net";
	q.by = TRPT_ANALYSIS_MX;
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_analysis_top_failures(db, &q, add_sum, &s, &err), TRPT_OK);
	expect(&s, mx_all, 1);
	q.named = 1;
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_analysis_top_failures(db, &q, add_sum, &s, &err), TRPT_OK);
	expect(&s, NULL, 0);

	/* A domain by its own domain is no grouping. */
	q.by = TRPT_ANALYSIS_DOMAIN;
	assert_int_equal(
	    trpt_analysis_top_failures(db, &q, add_sum, &s, &err), TRPT_EINVAL);
}

static void
test_analysis_sums(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_err err;
	struct sums s;
	static const char *const senders[] = {
		"google - 0 0 170 30 0",
	};
	static const char *const totals[] = {
		"example.com - 0 0 220 30 0",
		"example.net - 0 0 40 2 0",
	};
	static const char *const one_total[] = {
		"example.net - 0 0 70 2 0",
	};
	static const char *const series[] = {
		"google - 20454 20454 90 10 0",
		"google - 20455 20455 120 22 0",
		"google - 20462 20462 30 0 0",
		"microsoft - 20454 20454 50 0 0",
	};
	static const char *const new_types[] = {
		"example.com starttls-not-supported 20454 20454 0 4 20454",
	};
	static const char *const testing[] = {
		"example.net - 20455 20455 40 2 0",
	};
	struct sums sorted;

	put_rollups(db);
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_failing_senders(db, "example.com", D0,
			     D0 + 6, 5, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, senders, 1);

	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_domain_totals(
			     db, NULL, D0, D0 + 6, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, totals, 2); /* the most failed first */
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_domain_totals(
			     db, "example.net", D0, D0 + 30, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, one_total, 1);

	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_daily_series(
			     db, TRPT_ANALYSIS_ORG, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, series, 4);
	assert_int_equal(
	    trpt_analysis_daily_series(db, TRPT_ANALYSIS_MX, add_sum, &s, &err),
	    TRPT_EINVAL);

	/* New since D0: both types of example.com begin on D0 (the
	 * certificate-expired one too); until D0 only the first day
	 * counts.  The caller judges the history (history_day). */
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0, D0, INT64_MIN, add_sum, &s, &err),
	    TRPT_OK);
	memcpy(&sorted, &s, sizeof(s));
	qsort(sorted.lines, sorted.n, sizeof(sorted.lines[0]), cmp_line);
	assert_int_equal(sorted.n, 2);
	assert_string_equal(sorted.lines[1], new_types[0]);
	assert_string_equal(sorted.lines[0],
	    "example.com certificate-expired 20454 20454 0 6 20454");
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0 + 1, D0 + 30, INT64_MIN, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, NULL, 0); /* nothing first seen after D0 */

	/* A window of a year answers the same as one of weeks. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0, D0 + 400, INT64_MIN, add_sum, &s, &err),
	    TRPT_OK);
	qsort(s.lines, s.n, sizeof(s.lines[0]), cmp_line);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.lines[0],
	    "example.com certificate-expired 20454 20455 0 26 20454");
	assert_string_equal(s.lines[1], new_types[0]);
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(db, D0 + 1, D0 + 400,
			     INT64_MIN, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, NULL, 0); /* nothing first seen after D0 either */

	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_analysis_testing_failures(db, D0, D0 + 6, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, testing, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_testing_failures(
			     db, D0 + 2, D0 + 6, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, NULL, 0);
}

/* Sums of add_sum lines by name, merged into m (name -> failed). */
struct merged {
	char name[24][64];
	long long failed[24];
	size_t n;
};

static void
merge(struct merged *m, const struct sums *s)
{
	char name[64], type[64];
	long long a, b, ok, bad, h;
	size_t i, k;

	for (i = 0; i < s->n; i++) {
		if (sscanf(s->lines[i], "%63s %63s %lld %lld %lld %lld %lld",
			name, type, &a, &b, &ok, &bad, &h) != 7)
			fail_msg("bad line %s", s->lines[i]);
		for (k = 0; k < m->n && strcmp(m->name[k], name) != 0; k++)
			;
		if (k == m->n) {
			assert_true(m->n < 24);
			snprintf(m->name[m->n++], 64, "%s", name);
		}
		m->failed[k] += bad;
	}
}

/* One day's answer of each of the 40 days from D0 - 3. */
struct by_day {
	struct sums day[40];
};

static void
top_query(struct trpt_db *db, enum trpt_analysis_col col, const char *type,
    int64_t a, int64_t b, size_t max, struct sums *out)
{
	struct trpt_analysis_top_query q;
	struct trpt_err err;

	memset(&q, 0, sizeof(q));
	q.subject_col = TRPT_ANALYSIS_DOMAIN;
	q.subject = "example.com";
	q.by = col;
	q.type = type;
	q.first_day = a;
	q.last_day = b;
	q.max = max;
	memset(out, 0, sizeof(*out));
	assert_int_equal(
	    trpt_analysis_top_failures(db, &q, add_sum, out, &err), TRPT_OK);
}

/*
 * example.com's top 3 by col over [a, b] (typed or not): the same names
 * and sums, in the same order (most failed, then name), as its days'
 * answers summed.
 */
static void
check_top(struct trpt_db *db, enum trpt_analysis_col col, const char *type,
    const struct by_day *days, int64_t a, int64_t b)
{
	struct sums s;
	struct merged m;
	char name[64], ty[64];
	long long v, x1, x2, x3, x5;
	size_t i, j, better;
	int64_t d;

	memset(&m, 0, sizeof(m));
	for (d = a; d <= b; d++)
		merge(&m, &days->day[d - (D0 - 3)]);
	top_query(db, col, type, a, b, 3, &s);
	for (i = 0; i < s.n; i++) {
		assert_int_equal(
		    sscanf(s.lines[i], "%63s %63s %lld %lld %lld %lld %lld",
			name, ty, &x1, &x2, &x3, &v, &x5),
		    7);
		for (j = 0; j < m.n && strcmp(m.name[j], name) != 0; j++)
			;
		assert_true(j < m.n);
		assert_int_equal(m.failed[j], v);
		for (j = 0, better = 0; j < m.n; j++)
			better +=
			    m.failed[j] > v ||
			    (m.failed[j] == v && strcmp(m.name[j], name) < 0);
		assert_int_equal(better, i);
	}
	assert_int_equal(s.n, m.n < 3 ? m.n : 3);
}

/*
 * A domain's evidence over a range with whole weeks in it reads the weeks
 * from rollup_failures_week (migration 0018) and the edge days from
 * rollup_failures: the same as the days one by one (a single day never
 * holds a whole week), for ranges of every alignment, typed or not, with
 * failures without details, and after rows were deleted, added to and
 * moved (the weeks computed again from the days).
 */
static void
test_analysis_top_by_weeks(void **state)
{
	static const enum trpt_analysis_col by[] = { TRPT_ANALYSIS_ORG,
		TRPT_ANALYSIS_MX, TRPT_ANALYSIS_IP, TRPT_ANALYSIS_TYPE };
	static const char *const types[] = { "certificate-expired",
		"starttls-not-supported", "", "dane-required" };
	struct trpt_db *db = *state;
	struct by_day *days;
	char sql[512];
	int64_t a, b, d;
	size_t i, k, round;

	days = malloc(sizeof(*days));
	assert_non_null(days);

	/* 40 days of example.com failures from D0 - 3 (a Monday). */
	for (d = 0; d < 40; d++)
		for (i = 0; i < 3; i++) {
			snprintf(sql, sizeof(sql),
			    "INSERT INTO rollup_failures (day, org, domain, "
			    "result_type, mx, ip, failed) VALUES (%lld, '%s', "
			    "'example.com', '%s', '%s', '192.0.2.%d', %lld)",
			    (long long)(D0 - 3 + d),
			    i == 0   ? "google"
			    : i == 1 ? "microsoft"
				     : "yahoo",
			    types[(d + i) % 4],
			    (d + i) % 4 == 2 ? ""
			    : i == 2         ? "mx2"
					     : "mx1",
			    (int)((d * 7 + i) % 5),
			    (long long)(1 + (d * 13 + i * 5) % 17));
			exec(db, sql);
		}
	for (round = 0; round < 2; round++) {
		if (round == 1) {
			exec(db, "DELETE FROM rollup_failures WHERE day IN "
				 "(20455, 20462) AND org = 'google'");
			exec(db, "UPDATE rollup_failures SET failed = failed "
				 "+ 100 WHERE day BETWEEN 20458 AND 20460 AND "
				 "org = 'yahoo'");
			exec(db, "UPDATE rollup_failures SET day = day + 1 "
				 "WHERE day = 20470 AND org = 'microsoft'");
		}
		for (k = 0; k < 8; k++) {
			const char *type = k % 2 ? "certificate-expired" : NULL;

			for (d = 0; d < 40; d++)
				top_query(db, by[k / 2], type, D0 - 3 + d,
				    D0 - 3 + d, 24, &days->day[d]);
			for (a = D0 - 3; a < D0 + 9; a += 2)
				for (b = a + 5; b < D0 + 37; b += 4)
					check_top(
					    db, by[k / 2], type, days, a, b);
		}
	}
	free(days);
}

/* trpt_analysis_evidence's rows as add_sum's lines, one list per column,
 * and the columns in the order they came. */
struct ev_sums {
	struct sums col[TRPT_ANALYSIS_NCOLS];
	int order[8];
	size_t norder;
	int stop_after; /* > 0: the callback fails on that row */
};

static int
add_ev(void *arg, enum trpt_analysis_col by, const struct trpt_analysis_sum *s)
{
	struct ev_sums *x = arg;

	assert_true((unsigned)by < TRPT_ANALYSIS_NCOLS);
	if (x->norder == 0 || x->order[x->norder - 1] != (int)by) {
		assert_true(x->norder < 8);
		x->order[x->norder++] = (int)by;
	}
	if (x->stop_after > 0 && --x->stop_after == 0)
		return TRPT_EINVAL;
	return add_sum(&x->col[by], s);
}

/*
 * The evidence of an alert in one read (stop 25) gives what four calls
 * of trpt_analysis_top_failures give, row for row in the same order: for
 * domains and organisations, typed or not, over ranges with and without
 * whole weeks, with ties broken by name (bytewise: "mx" < "mx1" <
 * "mx1.b"), failures without details ("") and a limit that cuts ties.
 */
static void
test_analysis_evidence(void **state)
{
	static const char *const orgs[] = { "google", "microsoft", "yahoo" };
	static const char *const doms[] = { "example.com", "example.net" };
	static const char *const types[] = { "certificate-expired",
		"starttls-not-supported", "", "dane-required" };
	static const char *const mxs[] = { "mx1", "mx1.b", "mx", "" };
	static const char *const subjects[] = { "example.com", "example.net",
		"google", "microsoft", "yahoo" };
	static const char *const typed[] = { NULL, "certificate-expired", "" };
	static const enum trpt_analysis_col cols[2][4] = {
		{ TRPT_ANALYSIS_TYPE, TRPT_ANALYSIS_MX, TRPT_ANALYSIS_IP,
		    TRPT_ANALYSIS_DOMAIN },
		{ TRPT_ANALYSIS_TYPE, TRPT_ANALYSIS_MX, TRPT_ANALYSIS_IP,
		    TRPT_ANALYSIS_ORG },
	};
	struct trpt_db *db = *state;
	struct trpt_analysis_top_query q;
	struct trpt_err err;
	struct ev_sums *ev;
	struct sums *top;
	char *sql;
	size_t len = 0, cap = 64 * 1024, i, j, k, t, n, dm, o, max;
	int64_t a, b, d;

	sql = malloc(cap);
	ev = malloc(sizeof(*ev));
	top = malloc(sizeof(*top));
	assert_non_null(sql);
	assert_non_null(ev);
	assert_non_null(top);
	len = (size_t)snprintf(sql, cap,
	    "INSERT INTO rollup_failures (day, org, domain, result_type, mx, "
	    "ip, failed) VALUES ");
	/* 40 days from D0 - 3 (a Monday); small counts, so sums tie. */
	for (d = 0; d < 40; d++)
		for (o = 0; o < 3; o++)
			for (dm = 0; dm < 2; dm++) {
				if ((d + o + dm) % 5 == 4)
					continue; /* days without failures */
				i = (size_t)(d + o * 3 + dm) % 4;
				len += (size_t)snprintf(sql + len, cap - len,
				    "%s(%lld, '%s', '%s', '%s', '%s', "
				    "'%s', %lld)",
				    len > 120 ? ", " : "",
				    (long long)(D0 - 3 + d), orgs[o], doms[dm],
				    types[i], i == 2 ? "" : mxs[(d + o) % 4],
				    i == 2                 ? ""
				    : (d * 7 + o) % 3 == 0 ? "2001:db8::1"
							   : "192.0.2.1",
				    (long long)(1 + (d + 2 * o + dm) % 3));
				assert_true(len < cap - 200);
			}
	exec(db, sql);

	memset(&q, 0, sizeof(q));
	for (n = 0; n < 5; n++)
		for (t = 0; t < 3; t++)
			for (a = D0 - 3; a < D0 + 12; a += 2)
				for (b = a; b < D0 + 37; b += 3) {
					q.subject_col =
					    n < 2 ? TRPT_ANALYSIS_DOMAIN
						  : TRPT_ANALYSIS_ORG;
					q.subject = subjects[n];
					q.type = typed[t];
					q.first_day = a;
					q.last_day = b;
					q.named = 0;
					max = 1 + (size_t)(a + b) % 3;
					q.max = max;
					memset(ev, 0, sizeof(*ev));
					assert_int_equal(
					    trpt_analysis_evidence(
						db, &q, add_ev, ev, &err),
					    TRPT_OK);
					for (k = 0; k < 4; k++) {
						q.by = cols[n < 2][k];
						memset(top, 0, sizeof(*top));
						assert_int_equal(
						    trpt_analysis_top_failures(
							db, &q, add_sum, top,
							&err),
						    TRPT_OK);
						assert_int_equal(
						    ev->col[q.by].n, top->n);
						for (j = 0; j < top->n; j++)
							assert_string_equal(
							    ev->col[q.by]
								.lines[j],
							    top->lines[j]);
					}
					/* the columns in their order, each
					 * once */
					for (j = 1; j < ev->norder; j++) {
						for (k = 0;
						     cols[n < 2][k] !=
						     (enum trpt_analysis_col)
							 ev->order[j - 1];
						     k++)
							;
						for (
						    i = k + 1;
						    i < 4 &&
						    cols[n < 2][i] !=
							(enum trpt_analysis_col)
							    ev->order[j];
						    i++)
							;
						assert_true(i < 4);
					}
				}

	/* A callback that fails stops the rows; its status comes back. */
	q.subject_col = TRPT_ANALYSIS_ORG;
	q.subject = "google";
	q.type = NULL;
	q.first_day = D0 - 3;
	q.last_day = D0 + 36;
	q.max = 5;
	memset(ev, 0, sizeof(*ev));
	ev->stop_after = 2;
	assert_int_equal(
	    trpt_analysis_evidence(db, &q, add_ev, ev, &err), TRPT_EINVAL);
	assert_int_equal(ev->col[TRPT_ANALYSIS_TYPE].n, 1);
	/* and the cached statement is ready for the next read */
	memset(ev, 0, sizeof(*ev));
	assert_int_equal(
	    trpt_analysis_evidence(db, &q, add_ev, ev, &err), TRPT_OK);
	assert_int_equal(ev->col[TRPT_ANALYSIS_TYPE].n, 4);
	q.subject_col = TRPT_ANALYSIS_MX;
	assert_int_equal(
	    trpt_analysis_evidence(db, &q, add_ev, ev, &err), TRPT_EINVAL);
	free(top);
	free(ev);
	free(sql);
}

/*
 * rollup_type_first (migration 0016) follows rollup_failures (computed
 * again after each change here, see exec; test_schema_rollups_derived
 * proves the store's): a row earlier than a pair's first day moves it; the
 * first day's row deleted moves it to the next row, the last row takes the pair
 * out; a key rewritten moves it too.  new_failure_types reads it, and
 * min_history leaves out the types seen too soon in the domain's data.
 */
static void
test_analysis_new_types_kept(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_err err;
	struct sums s;

	put_rollups(db);
	/* example.com's data begins on D0, with both its types. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0, D0 + 30, 1, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, NULL, 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0, D0 + 30, 0, add_sum, &s, &err),
	    TRPT_OK);
	assert_int_equal(s.n, 2);

	/* example.net (data from D0 + 1) gets a type on D0 + 10: new with
	 * 9 days of history, not with 10 asked for. */
	exec(db,
	    "INSERT INTO rollup_failures (day, org, domain, result_type, mx, "
	    "ip, failed) VALUES (20464, 'google', 'example.net', "
	    "'dane-required', 'mx.example.net', '192.0.2.9', 3),"
	    "(20466, 'google', 'example.net', 'dane-required', "
	    "'mx.example.net', '192.0.2.9', 5)");
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0 + 5, D0 + 30, 9, add_sum, &s, &err),
	    TRPT_OK);
	{
		static const char *const want[] = {
			"example.net dane-required 20464 20466 0 8 20455",
		};
		expect(&s, want, 1);
	}
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0 + 5, D0 + 30, 10, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, NULL, 0);
	/* Up to until only: D0 + 11 sees the first row alone. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0 + 5, D0 + 11, 0, add_sum, &s, &err),
	    TRPT_OK);
	{
		static const char *const want[] = {
			"example.net dane-required 20464 20464 0 3 20455",
		};
		expect(&s, want, 1);
	}
	/* An earlier row moves the first day: no longer new after D0 + 5. */
	exec(db,
	    "INSERT INTO rollup_failures (day, org, domain, result_type, mx, "
	    "ip, failed) VALUES (20456, 'microsoft', 'example.net', "
	    "'dane-required', 'mx.example.net', '192.0.2.8', 1)");
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0 + 5, D0 + 30, 0, add_sum, &s, &err),
	    TRPT_OK);
	expect(&s, NULL, 0);
	/* Deleted again: the first day is the next row's. */
	exec(db, "DELETE FROM rollup_failures WHERE day = 20456");
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0 + 5, D0 + 30, 0, add_sum, &s, &err),
	    TRPT_OK);
	assert_int_equal(s.n, 1);
	exec(db, "DELETE FROM rollup_failures WHERE day = 20464");
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0 + 5, D0 + 30, 0, add_sum, &s, &err),
	    TRPT_OK);
	{
		static const char *const want[] = {
			"example.net dane-required 20466 20466 0 5 20455",
		};
		expect(&s, want, 1);
	}
	/* A key rewritten: the pair follows its row. */
	exec(db, "UPDATE rollup_failures SET day = 20470 WHERE day = 20466");
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_analysis_new_failure_types(
			     db, D0 + 5, D0 + 30, 0, add_sum, &s, &err),
	    TRPT_OK);
	{
		static const char *const want[] = {
			"example.net dane-required 20470 20470 0 5 20455",
		};
		expect(&s, want, 1);
	}
	/* The last row gone: the pair is gone. */
	exec(db, "DELETE FROM rollup_failures WHERE domain = 'example.net' "
		 "AND result_type = 'dane-required'");
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT count(*) FROM rollup_type_first WHERE "
				 "domain = 'example.net'"),
	    0);
	/* Every pair of rollup_failures, with its first day, and no other. */
	assert_int_equal(
	    trpt_test_db_int(db,
		"SELECT count(*) FROM (SELECT domain, result_type, min(day) "
		"FROM rollup_failures WHERE result_type <> '' GROUP BY "
		"domain, result_type EXCEPT SELECT domain, result_type, "
		"first_day FROM rollup_type_first) x"),
	    0);
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT count(*) FROM rollup_type_first"), 2);
}

/*
 * The daily series of the domains that have a day with at least a share
 * failed of at least a number of sessions: the domains found by reading
 * every series and judging each day in C, for shares and session counts
 * around those of the data.
 */
static void
test_analysis_failing_series(void **state)
{
	struct trpt_db *db = *state;
	static const double shares[] = { 0.009, 0.01, 0.02, 0.04, 0.0476,
		0.0476190476, 0.05, 0.0666, 0.0667, 0.0799999, 0.08, 0.0800001,
		0.16, 0.1999999, 0.2000001, 0.32, 0.5, 0.6399999, 0.64,
		0.6400001, 1.0 };
	static const int64_t mins[] = { 1, 42, 43, 100, 101, 150, 151 };
	struct trpt_err err;
	struct sums all, got, want;
	size_t i, j, k;

	put_rollups(db);
	/* One more domain: 1% failed on one day, 0.5% on another. */
	exec(db,
	    "INSERT INTO rollup_domain_day (domain, day, successful, failed) "
	    "VALUES ('example.org', 20454, 99, 1), "
	    "('example.org', 20455, 199, 1), ('example.org', 20456, 0, 0)");
	/* Days exactly on the lowest share of each class of the index
	 * (migration 0025: 2%, 8%, 16%, 32%, 64%), one domain each. */
	exec(db,
	    "INSERT INTO rollup_domain_day (domain, day, successful, failed) "
	    "VALUES ('c2.example', 20454, 49, 1), "
	    "('c8.example', 20454, 23, 2), ('c16.example', 20454, 21, 4), "
	    "('c32.example', 20454, 17, 8), ('c64.example', 20454, 9, 16)");
	memset(&all, 0, sizeof(all));
	assert_int_equal(trpt_analysis_daily_series(
			     db, TRPT_ANALYSIS_DOMAIN, add_sum, &all, &err),
	    TRPT_OK);
	assert_int_equal(all.n, 12);
	for (i = 0; i < sizeof(shares) / sizeof(shares[0]); i++)
		for (j = 0; j < sizeof(mins) / sizeof(mins[0]); j++) {
			memset(&want, 0, sizeof(want));
			/* add_sum lines: "domain - day day s f 0"; a
			 * domain's days are all in when one day counts. */
			for (k = 0; k < all.n; k++) {
				char dom[64], dom2[64];
				long long d1, d2, ok, bad, h;
				size_t m;

				if (sscanf(all.lines[k],
					"%63s - %lld %lld "
					"%lld %lld %lld",
					dom, &d1, &d2, &ok, &bad, &h) != 6)
					fail_msg("bad line %s", all.lines[k]);
				if (ok + bad < mins[j] || bad == 0 ||
				    (double)bad / (double)(ok + bad) <
					shares[i])
					continue;
				for (m = 0; m < all.n; m++)
					if (sscanf(all.lines[m], "%63s",
						dom2) == 1 &&
					    strcmp(dom, dom2) == 0 &&
					    (want.n == 0 ||
						strcmp(want.lines[want.n - 1],
						    all.lines[m]) < 0))
						memcpy(want.lines[want.n++],
						    all.lines[m],
						    sizeof(all.lines[m]));
			}
			memset(&got, 0, sizeof(got));
			assert_int_equal(
			    trpt_analysis_daily_series_failing(
				db, shares[i], mins[j], add_sum, &got, &err),
			    TRPT_OK);
			for (k = 0; k < got.n && k < want.n; k++)
				assert_string_equal(
				    got.lines[k], want.lines[k]);
			assert_int_equal(got.n, want.n);
		}
	/* Below what the index holds: refused. */
	assert_int_equal(trpt_analysis_daily_series_failing(
			     db, 0.008, 1, add_sum, &got, &err),
	    TRPT_EINVAL);
}

/* ---- stored reports ---- */

static int64_t
store(struct trpt_db *db, const char *org, const char *id, int64_t begin,
    const char *domain, int failures, int64_t received)
{
	static char sts[] = "sts", tlsa[] = "tlsa", mode[] = "mode: enforce",
		    type[] = "certificate-expired", ip[] = "192.0.2.7",
		    mx[] = "mx1.example.com", pattern[] = "*.example.com";
	char *strings[1] = { mode }, *mxs[1] = { pattern };
	char org_b[64], id_b[64], dom_b[64];
	struct trpt_failure f;
	struct trpt_policy p[2];
	struct trpt_report r;
	struct trpt_origin o;
	struct trpt_raw raw;
	struct trpt_err err;
	int64_t rowid = 0;
	int outcome;

	snprintf(org_b, sizeof(org_b), "%s", org);
	snprintf(id_b, sizeof(id_b), "%s", id);
	snprintf(dom_b, sizeof(dom_b), "%s", domain);
	memset(&f, 0, sizeof(f));
	f.result_type = type;
	f.sending_mta_ip = ip;
	f.receiving_mx_hostname = mx;
	f.failed_session_count = 3;
	memset(p, 0, sizeof(p));
	p[0].policy_type = sts;
	p[0].policy_domain = dom_b;
	p[0].policy_strings.v = strings;
	p[0].policy_strings.n = 1;
	p[0].mx_hosts.v = mxs;
	p[0].mx_hosts.n = 1;
	p[0].successful = 10;
	p[0].failed = failures ? 3 : 0;
	p[0].failures = failures ? &f : NULL;
	p[0].nfailures = failures ? 1 : 0;
	p[1] = p[0];
	p[1].policy_type = tlsa;
	p[1].policy_strings.n = 0;
	memset(&r, 0, sizeof(r));
	r.organization_name = org_b;
	r.report_id = id_b;
	r.begin = begin;
	r.end = begin + 86399;
	r.policies = p;
	r.npolicies = 2;
	memset(&o, 0, sizeof(o));
	o.kind = "file";
	o.source = id;
	o.received = received;
	memset(&raw, 0, sizeof(raw));
	raw.bytes = id;
	raw.len = strlen(id);
	raw.origin = &o;
	if (trpt_store_report(db, &r, &raw, &outcome, &rowid, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	return rowid;
}

struct cells {
	char lines[8][512];
	size_t n, ncells;
	const char *kinds;
};

static int
add_cells(void *arg, const struct trpt_export_cell *row)
{
	struct cells *c = arg;
	char *p;
	size_t i;

	if (c->n == 8)
		fail_msg("too many rows");
	p = c->lines[c->n++];
	p[0] = '\0';
	for (i = 0; i < c->ncells; i++) {
		size_t used = strlen(p);

		if (c->kinds[i] == 'i')
			snprintf(p + used, 512 - used, "%s%lld", i ? "," : "",
			    (long long)row[i].num);
		else {
			if (row[i].text != NULL)
				assert_int_equal(
				    row[i].len, strlen(row[i].text));
			snprintf(p + used, 512 - used, "%s%s", i ? "," : "",
			    row[i].text != NULL ? row[i].text : "NULL");
		}
	}
	return TRPT_OK;
}

static void
test_analysis_export_rows(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_export_rows_filter f = { INT64_MIN, INT64_MAX, NULL };
	struct trpt_err err;
	struct cells c;
	int64_t t0 = (int64_t)D0 * 86400;

	store(db, "google", "r2", t0 + 86400, "Example.NET", 1, t0 + 200000);
	store(db, "google", "r1", t0, "example.com", 1, t0 + 100000);

	memset(&c, 0, sizeof(c));
	c.ncells = TRPT_EXPORT_POLICY_CELLS;
	c.kinds = "tttiitttt"
		  "iiii";
	assert_int_equal(
	    trpt_export_rows_policies(db, &f, add_cells, &c, &err), TRPT_OK);
	assert_int_equal(c.n, 4); /* by begin, then policy */
	assert_string_equal(c.lines[0],
	    "r1,google,NULL,1767225600,1767311999,sts,example.com,"
	    "[\"mode: enforce\"],[\"*.example.com\"],10,3,0,0");
	assert_string_equal(c.lines[1],
	    "r1,google,NULL,1767225600,1767311999,tlsa,example.com,NULL,"
	    "[\"*.example.com\"],10,3,0,0");
	assert_non_null(strstr(c.lines[2], "r2,google,"));

	/* The domain ASCII case-insensitive, the begin bounds inclusive. */
	f.domain = "EXAMPLE.net";
	memset(&c, 0, sizeof(c));
	c.ncells = TRPT_EXPORT_FAILURE_CELLS;
	c.kinds = "ttiittttttttittii";
	assert_int_equal(
	    trpt_export_rows_failures(db, &f, add_cells, &c, &err), TRPT_OK);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.lines[0],
	    "r2,google,1767312000,1767398399,sts,Example.NET,"
	    "[\"*.example.com\"],certificate-expired,192.0.2.7,"
	    "mx1.example.com,NULL,NULL,3,NULL,NULL,0,0");
	f.domain = NULL;
	f.since = t0 + 1;
	f.until = t0 + 86400;
	memset(&c, 0, sizeof(c));
	c.ncells = TRPT_EXPORT_REPORT_CELLS;
	c.kinds = "itttiiiiiiiiiittttt"
		  "it";
	assert_int_equal(
	    trpt_export_rows_reports(db, &f, add_cells, &c, &err), TRPT_OK);
	assert_int_equal(c.n, 1);
	assert_non_null(strstr(
	    c.lines[0], ",google,r2,NULL,1767312000,1767398399,20455,2,20,6,"));
	f.until = t0 + 86399;
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	    trpt_export_rows_reports(db, &f, add_cells, &c, &err), TRPT_OK);
	assert_int_equal(c.n, 0);
}

static void
test_analysis_report_detail(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_report_detail *d = NULL;
	struct trpt_err err;
	int64_t t0 = (int64_t)D0 * 86400, id;

	id = store(db, "google", "r1", t0, "example.com", 1, t0 + 100000);
	assert_int_equal(trpt_report_detail_load(db, id, &d, &err), TRPT_OK);
	assert_int_equal(d->id, id);
	assert_string_equal(d->org, "google");
	assert_string_equal(d->report_id, "r1");
	assert_null(d->contact_info);
	assert_int_equal(d->begin, t0);
	assert_int_equal(d->received, t0 + 100000);
	assert_int_equal(d->seen_count, 1);
	assert_int_equal(d->ncopies, 1);
	assert_int_equal(d->counted, 1);
	assert_int_equal(d->successful, 20);
	assert_int_equal(d->failed, 6);
	assert_string_equal(d->source_kind, "file");
	assert_string_equal(d->source, "r1");
	assert_int_equal(d->raw_size, 2);
	assert_null(d->dkim);
	assert_int_equal(d->npolicies, 2);
	assert_string_equal(d->policies[0].type, "sts");
	assert_string_equal(d->policies[1].type, "tlsa");
	assert_int_equal(d->policies[0].details, 1);
	trpt_report_detail_free(&d);
	assert_null(d);
	assert_int_equal(
	    trpt_report_detail_load(db, id + 1, &d, &err), TRPT_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no report"));
	assert_null(d);
}

static int
add_domain(void *arg, const struct trpt_stats_domain *d)
{
	struct sums *s = arg;

	snprintf(s->lines[s->n++], sizeof(s->lines[0]),
	    "%s %s %lld %lld %lld %lld %lld", d->org, d->domain,
	    (long long)d->reports, (long long)d->successful,
	    (long long)d->failed, (long long)d->first_day,
	    (long long)d->last_day);
	return TRPT_OK;
}

static void
test_analysis_stats(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stats_totals t;
	struct trpt_stats_dkim k;
	struct trpt_err err;
	struct sums s;
	int64_t t0 = (int64_t)D0 * 86400, at = 0;
	int found = 1;
	static const char *const domains[] = {
		"google example.com 2 20 3 20454 20455",
		"microsoft example.com 1 10 0 20456 20456",
	};

	assert_int_equal(
	    trpt_analysis_last_received(db, &found, &at, &err), TRPT_OK);
	assert_int_equal(found, 0);
	store(db, "google", "r1", t0, "example.com", 1, t0 + 100000);
	store(db, "google", "r2", t0 + 86400, "example.com", 0, t0 + 300000);
	store(db, "microsoft", "r3", t0 + 2 * 86400, "example.com", 0,
	    t0 + 200000);
	assert_int_equal(
	    trpt_analysis_last_received(db, &found, &at, &err), TRPT_OK);
	assert_int_equal(found, 1);
	assert_int_equal(at, t0 + 300000);

	/* Per report and domain the larger policy counts (sts and tlsa
	 * carry the same sessions). */
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_stats_domains(db, add_domain, &s, &err), TRPT_OK);
	expect(&s, domains, 2);
	assert_int_equal(trpt_stats_totals(db, &t, &err), TRPT_OK);
	assert_int_equal(t.reports, 3);
	assert_int_equal(t.quarantined, 0);
	assert_int_equal(t.duplicates, 0);
	assert_int_equal(t.conflicts, 0);
	assert_int_equal(trpt_stats_dkim(db, &k, &err), TRPT_OK);
	assert_int_equal(k.unverified, 3);
	assert_int_equal(k.pass_aligned + k.fail + k.none + k.released, 0);
}

static void
test_analysis_pull_state(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_pull_state ps;
	struct trpt_err err;
	const char *url = "https://reports.example/index";

	assert_int_equal(
	    trpt_pull_state_get(db, "src", url, &ps, &err), TRPT_OK);
	assert_null(ps.etag);
	assert_null(ps.last_modified);
	/* Not committed: the validators are not kept. */
	assert_int_equal(trpt_pull_state_put(db, "src", url, 500, 0, "\"a\"",
			     "Mon, 30 Nov 2026 10:00:00 GMT", &err),
	    TRPT_OK);
	assert_int_equal(
	    trpt_pull_state_get(db, "src", url, &ps, &err), TRPT_OK);
	assert_null(ps.etag);
	assert_int_equal(trpt_pull_state_put(db, "src", url, 200, 1, "\"b\"",
			     "Mon, 30 Nov 2026 11:00:00 GMT", &err),
	    TRPT_OK);
	/* A later failure keeps them. */
	assert_int_equal(
	    trpt_pull_state_put(db, "src", url, 503, 0, "\"c\"", NULL, &err),
	    TRPT_OK);
	assert_int_equal(
	    trpt_pull_state_get(db, "src", url, &ps, &err), TRPT_OK);
	assert_string_equal(ps.etag, "\"b\"");
	assert_string_equal(ps.last_modified, "Mon, 30 Nov 2026 11:00:00 GMT");
	trpt_pull_state_clear(&ps);
	assert_null(ps.etag);
	/* Per source. */
	assert_int_equal(
	    trpt_pull_state_get(db, "other", url, &ps, &err), TRPT_OK);
	assert_null(ps.etag);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_analysis_rollup_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_callback_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_data_range, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_top_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_sums, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_new_types_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_top_by_weeks, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_evidence, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_failing_series, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_export_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_report_detail, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_analysis_pull_state, setup, teardown),
	};
	return cmocka_run_group_tests_name("analysis", tests, NULL, NULL);
}
