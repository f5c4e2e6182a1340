/*
 * Alerts: eight weeks of generated reports with planted drops, recoveries,
 * new failure types, a silent sender and an MTA-STS policy in testing
 * mode must yield exactly the expected alerts and no others.
 */

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/limits.h"
#include "report/alert.h"
#include "report/trend.h"
#include "schema/analysis.h"
#include "schema/db.h"
#include "schema/rollup.h"
#include "schema/store.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"
#include "tests/unit/reportgen.h"

#define D0    20451 /* 2025-12-29 */
#define NDAYS 56
#define TODAY (D0 + NDAYS)

static const char *const domains[] = { "a.example", "b.example", "c.example",
	"d.example", "e.example" };

/*
 * Google reports daily, 1000 sessions per domain; Microsoft on two days
 * of three, 400 per domain under both sts and tlsa (the guard must count
 * them once); Mail.ru daily, 100 per domain, until day 45 (then silent);
 * a weekly sender for a.example only.  Planted:
 *  - b.example: Google sees 600 certificate-expired failures a day on
 *    days 30-33 (drop of b.example and of Google), recovered on day 34;
 *  - c.example: 5 starttls-not-supported failures a day from day 40 (a
 *    new type, too small for a drop);
 *  - d.example: MTA-STS in testing mode, 10 certificate-host-mismatch
 *    failures a day from day 0 (testing; not new);
 *  - e.example: 800 tlsa-invalid failures a day from day 50 (open drop of
 *    e.example and of Google, a new type).
 */
static void
load(struct trpt_db *db)
{
	struct gen g = { 0 };
	int64_t d, f;
	size_t i;

	for (d = 0; d < NDAYS; d++) {
		gen_begin(&g, "Google Inc.", D0 + d);
		for (i = 0; i < 5; i++) {
			f = 0;
			if (i == 1 && d >= 30 && d <= 33)
				f = 600;
			if (i == 2 && d >= 40)
				f = 5;
			if (i == 3)
				f = 10;
			if (i == 4 && d >= 50)
				f = 800;
			gen_policy(&g, i == 4 ? "tlsa" : "sts", domains[i],
			    1000 - f, f, i == 3);
			if (i == 1 && f > 0)
				gen_failure(&g, "certificate-expired",
				    "mx2.b.example", "209.85.220.1", f);
			if (i == 2 && f > 0)
				gen_failure(&g, "starttls-not-supported",
				    "mx1.c.example", "209.85.220.2", f);
			if (i == 3)
				gen_failure(&g, "certificate-host-mismatch",
				    "mx.d.example", "209.85.220.3", f);
			if (i == 4 && f > 0)
				gen_failure(&g, "tlsa-invalid", "mx.e.example",
				    "209.85.220.4", f);
		}
		assert_int_equal(gen_end(&g, db), TRPT_OK);
		for (i = 0; i < 5 && d % 3 != 2; i++) {
			gen_begin(&g, "Microsoft Corporation", D0 + d);
			gen_policy(&g, "sts", domains[i], 400, 0, i == 3);
			gen_policy(&g, "tlsa", domains[i], 400, 0, 0);
			assert_int_equal(gen_end(&g, db), TRPT_OK);
		}
		if (d <= 45) {
			gen_begin(&g, "Mail.ru", D0 + d);
			for (i = 0; i < 5; i++)
				gen_policy(&g, "sts", domains[i], 100, 0, 0);
			assert_int_equal(gen_end(&g, db), TRPT_OK);
		}
		if (d % 7 == 0) {
			gen_begin(&g, "Weekly Mail", D0 + d);
			gen_policy(&g, "sts", "a.example", 100, 0, 0);
			assert_int_equal(gen_end(&g, db), TRPT_OK);
		}
	}
}

static int
setup(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;

	if (trpt_test_db_connect(&db, &err) != TRPT_OK) {
		fprintf(stderr, "# %s\n", err.msg);
		return -1;
	}
	load(db);
	*state = db;
	return 0;
}

static int
teardown(void **state)
{
	struct trpt_db *db = *state;

	trpt_db_close(&db);
	return 0;
}

struct want {
	enum trpt_alert_kind kind;
	int open, sender;
	const char *subject, *type;
	int first, last; /* days after D0 */
};

static void
test_alert_planted(void **state)
{
	static const struct want want[] = {
		{ TRPT_ALERT_DROP, 0, 1, "Google Inc.", NULL, 30, 33 },
		{ TRPT_ALERT_DROP, 1, 1, "Google Inc.", NULL, 50, 55 },
		{ TRPT_ALERT_DROP, 0, 0, "b.example", NULL, 30, 33 },
		{ TRPT_ALERT_DROP, 1, 0, "e.example", NULL, 50, 55 },
		{ TRPT_ALERT_RECOVERY, 0, 1, "Google Inc.", NULL, 30, 34 },
		{ TRPT_ALERT_RECOVERY, 0, 0, "b.example", NULL, 30, 34 },
		{ TRPT_ALERT_NEW_TYPE, 0, 0, "b.example", "certificate-expired",
		    30, 33 },
		{ TRPT_ALERT_NEW_TYPE, 1, 0, "c.example",
		    "starttls-not-supported", 40, 55 },
		{ TRPT_ALERT_NEW_TYPE, 1, 0, "e.example", "tlsa-invalid", 50,
		    55 },
		{ TRPT_ALERT_SILENT, 1, 1, "Mail.ru", NULL, 46, 56 },
		{ TRPT_ALERT_TESTING, 1, 0, "d.example", NULL, 0, 55 },
	};
	struct trpt_db *db = *state;
	struct trpt_alert_config c;
	struct trpt_alerts *a = NULL;
	const struct trpt_alert *al;
	struct trpt_err err;
	size_t i, n = sizeof(want) / sizeof(want[0]);

	trpt_alert_config_init(&c);
	assert_int_equal(
	    trpt_alert_detect(db, &c, D0, TODAY, &a, &err), TRPT_OK);
	for (i = 0; i < a->n; i++)
		fprintf(stderr, "# %s %s %s %lld..%lld open %d\n",
		    trpt_alert_kind_name(a->v[i].kind), a->v[i].subject,
		    a->v[i].type != NULL ? a->v[i].type : "-",
		    (long long)(a->v[i].first_day - D0),
		    (long long)(a->v[i].last_day - D0), a->v[i].open);
	assert_int_equal(a->n, n);
	for (i = 0; i < n; i++) {
		al = &a->v[i];
		assert_int_equal(al->kind, want[i].kind);
		assert_int_equal(al->open, want[i].open);
		assert_int_equal(al->sender, want[i].sender);
		assert_string_equal(al->subject, want[i].subject);
		if (want[i].type != NULL)
			assert_string_equal(al->type, want[i].type);
		else
			assert_null(al->type);
		assert_int_equal(al->first_day - D0, want[i].first);
		assert_int_equal(al->last_day - D0, want[i].last);
	}
	assert_int_equal(trpt_alert_open_count(a), 6);

	/* Evidence of the b.example drop. */
	al = &a->v[2];
	assert_true(al->rate_before > 0.999);
	assert_true(al->rate_after > 0.55 && al->rate_after < 0.6);
	assert_int_equal(al->failed_after, 2400);
	assert_int_equal(al->types.n, 1);
	assert_string_equal(al->types.v[0].name, "certificate-expired");
	assert_int_equal(al->types.v[0].failed, 2400);
	assert_string_equal(al->mx.v[0].name, "mx2.b.example");
	assert_string_equal(al->ips.v[0].name, "209.85.220.1");
	assert_string_equal(al->others.v[0].name, "Google Inc.");
	/* Microsoft's sts and tlsa sessions counted once: the baseline of
	 * b.example is Google 1000 + Mail.ru 100 + Microsoft 400 on two
	 * days of three, never 800. */
	assert_true(al->sessions_before < 14 * 1500 + 1);
	/* The silent sender: daily before, 11 days missing. */
	al = &a->v[9];
	assert_int_equal(al->gap_days, 1);
	assert_int_equal(al->limit_days, 3);
	trpt_alert_free(&a);

	/* --since drops closed alerts that ended before it. */
	assert_int_equal(
	    trpt_alert_detect(db, &c, D0 + 40, TODAY, &a, &err), TRPT_OK);
	assert_int_equal(a->n, 6);
	assert_int_equal(trpt_alert_open_count(a), 6);
	trpt_alert_free(&a);
}

/* Senders with their own rhythm are not silent; one past it is. */
static void
test_alert_rhythm(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_alert_config c;
	struct trpt_alerts *a = NULL;
	struct trpt_err err;
	size_t i, silent = 0;

	trpt_alert_config_init(&c);
	/* Two days after the end: Microsoft's last day was 55, Weekly's 49
	 * (limit 15 days), Mail.ru's 45. */
	assert_int_equal(
	    trpt_alert_detect(db, &c, TODAY, TODAY + 2, &a, &err), TRPT_OK);
	for (i = 0; i < a->n; i++)
		if (a->v[i].kind == TRPT_ALERT_SILENT) {
			silent++;
			assert_string_equal(a->v[i].subject, "Mail.ru");
		}
	assert_int_equal(silent, 1);
	trpt_alert_free(&a);
	/* Eight days on, all daily senders are silent; the weekly one
	 * (last report on day 49, limit 15 days) only from day 65. */
	assert_int_equal(
	    trpt_alert_detect(db, &c, TODAY, TODAY + 8, &a, &err), TRPT_OK);
	silent = 0;
	for (i = 0; i < a->n; i++)
		silent += a->v[i].kind == TRPT_ALERT_SILENT;
	assert_int_equal(silent, 3); /* Google, Microsoft, Mail.ru */
	trpt_alert_free(&a);
	assert_int_equal(
	    trpt_alert_detect(db, &c, TODAY, TODAY + 9, &a, &err), TRPT_OK);
	silent = 0;
	for (i = 0; i < a->n; i++)
		silent += a->v[i].kind == TRPT_ALERT_SILENT;
	assert_int_equal(silent, 4);
	trpt_alert_free(&a);
}

/*
 * Issue 9 item 14: with silence_min_reports 0 a sender with no report day
 * up to today read days[-1]; with 1, one report day read gaps[0] of an
 * empty array (ASan).  Silence needs two report days, whatever is set.
 */
static void
test_alert_silence_minimum(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_alert_config c;
	struct trpt_alerts *a = NULL;
	struct trpt_err err;
	size_t i;
	int64_t min;

	for (min = 0; min <= 1; min++) {
		trpt_alert_config_init(&c);
		c.silence_min_reports = min;
		/* The day before the first report: no day for anyone. */
		assert_int_equal(
		    trpt_alert_detect(db, &c, D0 - 10, D0 - 1, &a, &err),
		    TRPT_OK);
		assert_int_equal(a->n, 0);
		trpt_alert_free(&a);
		/* The first day, long after: one day each. */
		assert_int_equal(
		    trpt_alert_detect(db, &c, D0, D0, &a, &err), TRPT_OK);
		for (i = 0; i < a->n; i++)
			assert_int_not_equal(a->v[i].kind, TRPT_ALERT_SILENT);
		trpt_alert_free(&a);
	}
}

/*
 * Lifecycle: an open drop whose data stops is closed as stale ("no longer
 * reported") once recent_days pass; with collection_days set, a gap in
 * all reports opens a collection alert.  The last reports begin on day 55
 * and arrive on day 56 (TODAY).
 */
static void
test_alert_lifecycle(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_alert_config c;
	struct trpt_alerts *a = NULL;
	struct trpt_err err;
	size_t i, open_drops, stale_drops, collection;
	int64_t when[] = { TODAY + 2, TODAY + 8 };
	size_t w;

	trpt_alert_config_init(&c);
	for (w = 0; w < 2; w++) {
		assert_int_equal(
		    trpt_alert_detect(db, &c, TODAY, when[w], &a, &err),
		    TRPT_OK);
		open_drops = stale_drops = 0;
		for (i = 0; i < a->n; i++)
			if (a->v[i].kind == TRPT_ALERT_DROP) {
				open_drops += a->v[i].open;
				stale_drops += a->v[i].stale;
				assert_true(!(a->v[i].open && a->v[i].stale));
			}
		/* e.example and Google, days 50..55. */
		assert_int_equal(open_drops, w == 0 ? 2 : 0);
		assert_int_equal(stale_drops, w == 0 ? 0 : 2);
		trpt_alert_free(&a);
	}
	/* Off by default. */
	assert_int_equal(
	    trpt_alert_detect(db, &c, TODAY, TODAY + 30, &a, &err), TRPT_OK);
	for (i = 0; i < a->n; i++)
		assert_int_not_equal(a->v[i].kind, TRPT_ALERT_COLLECTION);
	trpt_alert_free(&a);
	c.collection_days = 3;
	for (w = 3; w <= 4; w++) {
		assert_int_equal(trpt_alert_detect(db, &c, TODAY,
				     TODAY + (int64_t)w, &a, &err),
		    TRPT_OK);
		collection = 0;
		for (i = 0; i < a->n; i++)
			if (a->v[i].kind == TRPT_ALERT_COLLECTION) {
				collection++;
				assert_true(a->v[i].open);
				assert_int_equal(a->v[i].gap_days, 4);
				assert_int_equal(a->v[i].limit_days, 3);
			}
		assert_int_equal(collection, w == 3 ? 0 : 1);
		trpt_alert_free(&a);
	}
}

/* A higher threshold hides the smaller drops; output formats. */
static void
test_alert_output(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_alert_config c;
	struct trpt_alerts *a = NULL;
	struct trpt_err err;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	trpt_alert_config_init(&c);
	c.drop_threshold = 0.5;
	assert_int_equal(
	    trpt_alert_detect(db, &c, D0, TODAY, &a, &err), TRPT_OK);
	assert_int_equal(a->v[0].kind, TRPT_ALERT_DROP);
	assert_string_equal(a->v[0].subject, "e.example");
	assert_int_equal(a->v[1].kind, TRPT_ALERT_NEW_TYPE);
	f = open_memstream(&buf, &len);
	assert_int_equal(
	    trpt_alert_write(a, TRPT_FORMAT_TABLE, f, &err), TRPT_OK);
	fclose(f);
	if (getenv("TRPT_SHOW") != NULL)
		fputs(buf, stderr);
	assert_non_null(strstr(buf, "OPEN   drop domain e.example, "
				    "2026-02-17 .. 2026-02-22\n"
				    "  success rate 100.00% -> 36.84%"));
	assert_non_null(strstr(buf, "  result types: tlsa-invalid (4800)\n"));
	assert_non_null(strstr(buf, "    fix: Publish the TLSA record for the "
				    "next key"));
	assert_non_null(strstr(buf, "\n6 alerts, 5 open\n"));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(
	    trpt_alert_write(a, TRPT_FORMAT_JSON, f, &err), TRPT_OK);
	fclose(f);
	assert_non_null(strstr(buf,
	    "{\"kind\": \"drop\", \"open\": true, \"scope\": \"domain\", "
	    "\"policy_domain\": \"e.example\", \"first_day\": \"2026-02-17\", "
	    "\"last_day\": \"2026-02-22\", \"rate_before\": 1.0000, "
	    "\"rate_after\": 0.3684"));
	assert_non_null(strstr(buf, "\"result_types\": [{\"name\": "
				    "\"tlsa-invalid\", \"failed\": 4800, "
				    "\"title\": "));
	assert_int_equal(buf[0], '[');
	free(buf);
	trpt_alert_free(&a);
}

/* trpt_analysis_testing_failures' rows as "domain first last s f". */
struct lines {
	char v[16][96];
	size_t n;
};

static int
testing_line(void *arg, const struct trpt_analysis_sum *s)
{
	struct lines *l = arg;

	assert_true(l->n < 16);
	snprintf(l->v[l->n++], sizeof(l->v[0]), "%s %lld %lld %lld %lld",
	    s->name, (long long)s->first_day, (long long)s->last_day,
	    (long long)s->successful, (long long)s->failed);
	return TRPT_OK;
}

static int
cmp_line(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * rollup_testing_week (migration 0027) holds the sums of rollup_testing
 * by week, and the testing alerts' sums read from it (whole weeks) and
 * rollup_testing (the days at the edges) equal rollup_testing's rows of
 * the window grouped by domain, for windows of every alignment, short
 * and long.
 */
static void
check_testing(struct trpt_db *db, const char *step)
{
	static char want[8192], got[8192];
	struct lines l;
	struct trpt_err err;
	char sql[512];
	size_t i, n;
	int64_t a, b;

	trpt_test_db_rows(db,
	    "SELECT domain || ',' || week || ',' || successful || ',' || "
	    "failed FROM rollup_testing_week ORDER BY 1",
	    ";", got, sizeof(got));
	trpt_test_db_rows(db,
	    "SELECT domain || ',' || ((day + 3) / 7) || ',' || sum(successful)"
	    " || ',' || sum(failed) FROM rollup_testing GROUP BY domain, "
	    "(day + 3) / 7 ORDER BY 1",
	    ";", want, sizeof(want));
	if (strcmp(got, want) != 0)
		fail_msg("%s: rollup_testing_week\n  kept: %s\n  from "
			 "rollup_testing: %s",
		    step, got, want);
	assert_true(strlen(got) > 100);
	for (a = D0 - 4; a < D0 + 16; a += 3)
		for (b = a - 1; b < D0 + 75; b += 5) {
			memset(&l, 0, sizeof(l));
			assert_int_equal(trpt_analysis_testing_failures(
					     db, a, b, testing_line, &l, &err),
			    TRPT_OK);
			qsort(l.v, l.n, sizeof(l.v[0]), cmp_line);
			for (i = 0, n = 0, got[0] = '\0'; i < l.n; i++)
				n += (size_t)snprintf(got + n, sizeof(got) - n,
				    "%s%s", i > 0 ? ";" : "", l.v[i]);
			snprintf(sql, sizeof(sql),
			    "SELECT domain || ' ' || min(day) || ' ' || "
			    "max(day) || ' ' || sum(successful) || ' ' || "
			    "sum(failed) FROM rollup_testing WHERE day "
			    "BETWEEN %lld AND %lld GROUP BY domain ORDER BY 1",
			    (long long)a, (long long)b);
			trpt_test_db_rows(db, sql, ";", want, sizeof(want));
			if (strcmp(got, want) != 0)
				fail_msg("%s: testing %lld..%lld\n  read: "
					 "%s\n  want: %s",
				    step, (long long)(a - D0),
				    (long long)(b - D0), got, want);
		}
}

/* A report of day d (after D0) of domains in testing mode: t1 daily,
 * t2 on days 20-30, t3 failing on two days of five, and enforce.example
 * (not testing) failing too. */
static void
testing_report(struct gen *g, const char *org, int64_t d, int64_t bump)
{
	gen_begin(g, org, D0 + d);
	gen_policy(g, "sts", "t1.example", 500 + d + bump, 1 + d % 4, 1);
	gen_failure(g, "certificate-host-mismatch", "mx.t1.example",
	    "192.0.2.1", 1 + d % 4);
	if (d >= 20 && d <= 30)
		gen_policy(g, "sts", "t2.example", 90, 10 + bump, 1);
	gen_policy(g, "sts", "t3.example", 50, d % 5 < 2 ? 3 : 0, 1);
	gen_policy(g, "sts", "enforce.example", 50, 5, 0);
}

static void
test_alert_testing_weeks(void **state)
{
	static const struct trpt_auth pass = { .dkim = "pass",
		.dkim_domain = "example.net",
		.dkim_aligned = "same" };
	struct trpt_db *db;
	struct gen g = { 0 };
	struct trpt_origin o = { .kind = "file", .source = "gen" };
	struct trpt_raw raw = { .origin = &o };
	struct trpt_err err;
	char id25[96];
	int64_t d;
	int dup;

	(void)state;
	db = trpt_test_db_open();
	/* Days 0-39 a batch a day (the commit's sums in memory), then one
	 * report a transaction. */
	for (d = 0; d < 70; d++) {
		if (d < 40)
			assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
		testing_report(&g, "Google Inc.", d, 0);
		assert_int_equal(gen_end(&g, db), TRPT_OK);
		if (d == 25)
			snprintf(id25, sizeof(id25), "%s", g.id);
		if (d % 2 == 0) {
			testing_report(&g, "Mail.ru", d, 7);
			assert_int_equal(gen_end(&g, db), TRPT_OK);
		}
		if (d < 40)
			assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	}
	check_testing(db, "stored");

	/* Cells that stop at TRPT_MAX_ROLLUP_COUNT: the week is then summed
	 * from its days (in one batch, and in another). */
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (d = 0; d < 3; d++) {
		if (d == 2) {
			assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
			assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
		}
		gen_begin(&g, "Big", D0 + 45);
		gen_policy(&g, "sts", "t1.example", INT64_C(1) << 52, 1, 1);
		assert_int_equal(gen_end(&g, db), TRPT_OK);
	}
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT max(successful) FROM rollup_testing"),
	    TRPT_MAX_ROLLUP_COUNT);
	check_testing(db, "capped");

	/* A verified copy of Google's day-25 report, other counts: the
	 * first copy's rollups are taken out (the set-based way), the
	 * copy's counted. */
	testing_report(&g, "Google Inc.", 25, 1000);
	snprintf(g.id, sizeof(g.id), "%s", id25); /* the same report */
	o.received = g.r.begin + 86400 + 3600;
	raw.bytes = "verified copy";
	raw.len = strlen(raw.bytes);
	raw.auth = &pass;
	assert_int_equal(
	    trpt_store_report(db, &g.r, &raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_CONFLICT);
	/* t2's day 25 holds the copy's 1,010 failed, day 26 Google's 10 */
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT count(*) FROM rollup_testing WHERE "
				 "domain = 't2.example' AND org = 'Google "
				 "Inc.' AND ((day = 20476 AND failed = 1010) OR"
				 " (day = 20477 AND failed = 10))"),
	    2);
	check_testing(db, "copy taken over");

	/* A rebuild computes the same weeks. */
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_int_equal(trpt_rollup_rebuild(db, &err), TRPT_OK);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	check_testing(db, "rebuilt");
	trpt_test_db_close(&db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alert_planted),
		cmocka_unit_test(test_alert_rhythm),
		cmocka_unit_test(test_alert_lifecycle),
		cmocka_unit_test(test_alert_silence_minimum),
		cmocka_unit_test(test_alert_output),
		cmocka_unit_test(test_alert_testing_weeks),
	};

	return cmocka_run_group_tests_name("alert", tests, setup, teardown);
}
