/*
 * Benchmark of trends and alerts over a year of daily reports for 1,000
 * domains from 10 senders (about 3.6 million policy rows).
 *
 *	bench_analysis [DB]
 *
 * Creates DB (default ./bench-analysis.db) with generated data when it
 * holds no reports yet (direct SQL in one transaction: the ingest path is
 * not what is measured), then times the rollup build, an incremental
 * refresh, several trends queries and the alerts, each the best of three
 * runs, output written to /dev/null.  See docs/BENCHMARKS.md.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "report/alert.h"
#include "report/trend.h"
#include "schema/db.h"
#include "schema/rollup.h"

#define NDOMAINS 1000
#define NSENDERS 10
#define NDAYS    365
#define DAY0     20454 /* 2026-01-01 */

static const char *const senders[NSENDERS] = { "Google Inc.",
	"Microsoft Corporation", "Mail.ru", "Yahoo", "Comcast", "GMX", "Yandex",
	"Proton", "Fastmail", "Zoho" };

static const char *const types[] = { "starttls-not-supported",
	"certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure", "tlsa-invalid",
	"dnssec-invalid", "dane-required", "sts-policy-fetch-error",
	"sts-policy-invalid", "sts-webpki-invalid" };

static uint64_t rng = 88172645463325252u;

/* Expected alerts: domain 7 drop, recovery and new type; domain 20's
 * new type; Zoho silent; 20 domains in MTA-STS testing mode with
 * failures. */
#define EXPECTED_ALERTS 25

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: the figure that does not depend on what else
 * the machine is doing. */
static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_analysis: %s: %s\n", what, msg);
	exit(1);
}

static void
exec(sqlite3 *h, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		die(sql, msg != NULL ? msg : "?");
}

static sqlite3_stmt *
prep(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		die(sql, sqlite3_errmsg(h));
	return st;
}

static void
step(sqlite3 *h, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		die("insert", sqlite3_errmsg(h));
	sqlite3_reset(st);
}

/* One day of reports from every sender for every domain. */
static void
gen_day(sqlite3 *h, sqlite3_stmt *rep, sqlite3_stmt *pol, sqlite3_stmt *fail,
    int64_t day, uint64_t *npol, uint64_t *nfail)
{
	char id[96], domain[32], ip[32];
	const char *type;
	int64_t rid, pid, vol, f;
	int s, d, k, np;

	for (s = 0; s < NSENDERS; s++) {
		/* Microsoft reports only on days it sent mail. */
		if (s == 1 && rnd() % 10 < 3)
			continue;
		for (d = 0; d < NDOMAINS; d++) {
			snprintf(
			    domain, sizeof(domain), "domain%04d.example", d);
			snprintf(id, sizeof(id), "%" PRId64 "+%s", day, domain);
			vol = 20 + (int64_t)((d * 37) % 500) * (NSENDERS - s);
			/* Zoho stops reporting on day 300 (silent). */
			if (s == 9 && day >= DAY0 + 300)
				break;
			/* One domain in ten has a chronic problem: 1% of
			 * its sessions fail, of one type per domain. */
			f = d % 10 == 0 ? vol / 100 + 1 : 0;
			type = types[d % 11];
			/* Planted: domain 7 loses half its sessions to an
			 * expired certificate for six days. */
			if (d == 7 && day >= DAY0 + 200 && day < DAY0 + 206) {
				f = vol / 2;
				type = "certificate-expired";
			}
			/* Planted: a new failure type for domain 20 from
			 * day 330, seen by Google. */
			if (d == 20 && s == 0 && day >= DAY0 + 330) {
				f = vol / 100 + 1;
				type = "starttls-not-supported";
			}
			sqlite3_bind_text(
			    rep, 1, senders[s], -1, SQLITE_STATIC);
			sqlite3_bind_text(rep, 2, id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(rep, 3, day * 86400);
			sqlite3_bind_int64(rep, 4, day * 86400 + 86399);
			sqlite3_bind_int64(rep, 5, day);
			sqlite3_bind_int64(rep, 6, (day + 1) * 86400 + 3600);
			sqlite3_bind_int64(rep, 7, vol - f);
			sqlite3_bind_int64(rep, 8, f);
			step(h, rep);
			rid = sqlite3_last_insert_rowid(h);
			np = s == 1 ? 2 : 1; /* Microsoft: sts and tlsa */
			for (k = 0; k < np; k++) {
				sqlite3_bind_int64(pol, 1, rid);
				sqlite3_bind_int(pol, 2, k);
				sqlite3_bind_int64(pol, 3, day);
				sqlite3_bind_text(pol, 4,
				    k == 0 ? "sts" : "tlsa", -1, SQLITE_STATIC);
				sqlite3_bind_text(
				    pol, 5, domain, -1, SQLITE_STATIC);
				sqlite3_bind_text(pol, 6,
				    d % 50 == 0 && k == 0
					? "[\"version: STSv1\",\"mode: "
					  "testing\",\"max_age: 86400\"]"
					: "[\"version: STSv1\",\"mode: "
					  "enforce\",\"max_age: 86400\"]",
				    -1, SQLITE_STATIC);
				sqlite3_bind_int64(pol, 7, vol - f);
				sqlite3_bind_int64(pol, 8, f);
				sqlite3_bind_int64(pol, 9, f);
				step(h, pol);
				(*npol)++;
				if (f == 0)
					continue;
				pid = sqlite3_last_insert_rowid(h);
				snprintf(ip, sizeof(ip), "192.0.2.%d", s + 1);
				sqlite3_bind_int64(fail, 1, pid);
				sqlite3_bind_text(
				    fail, 2, type, -1, SQLITE_STATIC);
				sqlite3_bind_text(
				    fail, 3, ip, -1, SQLITE_TRANSIENT);
				sqlite3_bind_text(
				    fail, 4, "mx1.example", -1, SQLITE_STATIC);
				sqlite3_bind_int64(fail, 5, f);
				step(h, fail);
				(*nfail)++;
			}
		}
	}
}

static void
generate(sqlite3 *h, int64_t from, int64_t ndays)
{
	sqlite3_stmt *rep, *pol, *fail;
	uint64_t npol = 0, nfail = 0;
	double t0 = now_s();
	int64_t day;

	rng ^=
	    (uint64_t)from * 0x9e3779b97f4a7c15u; /* another day, other draws */
	exec(h, "BEGIN");
	exec(h, "INSERT OR IGNORE INTO raw_inputs (id, sha256, bytes, size, "
		"source_kind, source, received_at) VALUES (1, 'bench', x'00', "
		"1, 'file', 'bench', 0)");
	rep = prep(h,
	    "INSERT INTO reports (organization_name, report_id, contact_info, "
	    "begin_ts, end_ts, day, raw_id, part, received_at, last_seen_at, "
	    "total_successful, total_failed) VALUES (?1, ?2, "
	    "'tlsrpt@example.net', ?3, ?4, ?5, 1, 0, ?6, ?6, ?7, ?8)");
	pol = prep(h,
	    "INSERT INTO policies (report, idx, day, policy_type, "
	    "policy_domain, policy_strings, mx_hosts, successful, failed, "
	    "details_failed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, "
	    "?9)");
	fail = prep(h,
	    "INSERT INTO failures (policy, result_type, sending_mta_ip, "
	    "receiving_mx_hostname, failed_session_count) VALUES (?1, ?2, ?3, "
	    "?4, ?5)");
	for (day = from; day < from + ndays; day++)
		gen_day(h, rep, pol, fail, day, &npol, &nfail);
	sqlite3_finalize(rep);
	sqlite3_finalize(pol);
	sqlite3_finalize(fail);
	exec(h, "COMMIT");
	printf("generate   %8.2f s  %" PRId64 " days: %" PRIu64
	       " policies, %" PRIu64 " failure details\n",
	    now_s() - t0, ndays, npol, nfail);
}

static void
check(int rc, const struct trpt_err *err)
{
	if (rc != TRPT_OK)
		die("run", err->msg);
}

static void
time_trends(struct trpt_db *db, FILE *null, const char *label, const char *dims,
    enum trpt_trend_period period, const char *domain)
{
	struct trpt_trend_query q;
	struct trpt_trend *t = NULL;
	struct trpt_err err;
	double best = 1e9, cbest = 1e9, wbest = 1e9, t0, c0, t1, w;
	uint64_t rows = 0;
	size_t groups = 0;
	int i;

	trpt_trend_query_init(&q);
	check(trpt_trend_parse_dims(dims, &q, &err), &err);
	q.period = period;
	q.domain = domain;
	for (i = 0; i < 3; i++) {
		t0 = now_s();
		c0 = cpu_s();
		check(trpt_trend_run(db, &q, &t, &err), &err);
		t1 = now_s();
		if (t1 - t0 < best)
			best = t1 - t0;
		if (cpu_s() - c0 < cbest)
			cbest = cpu_s() - c0;
		check(trpt_trend_write_count(
			  t, TRPT_FORMAT_CSV, null, &rows, &err),
		    &err);
		w = now_s() - t1;
		if (w < wbest)
			wbest = w;
		groups = t->ngroups;
		trpt_trend_free(&t);
	}
	printf("trends     %7.3f s (cpu %.3f s) + CSV %7.3f s  %s: %zu groups, "
	       "%" PRIu64 " rows\n",
	    best, cbest, wbest, label, groups, rows);
}

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "bench-analysis.db";
	struct trpt_alert_config ac;
	struct trpt_alerts *a = NULL;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	sqlite3_stmt *st;
	sqlite3 *h;
	int64_t nreports = 0, maxday = DAY0 + NDAYS - 1, first, added = 0;
	double t0, c0, best = 1e9, cbest = 1e9;
	size_t nalerts = 0, nopen = 0;
	FILE *null;
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	check(trpt_db_open(path, &db, &err), &err);
	h = trpt_db_handle(db);
	null = fopen("/dev/null", "w");
	if (null == NULL)
		die("/dev/null", "cannot open");
	st = prep(h, "SELECT count(*), coalesce(max(day), 0) FROM reports");
	if (sqlite3_step(st) == SQLITE_ROW) {
		nreports = sqlite3_column_int64(st, 0);
		if (nreports > 0)
			maxday = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (nreports == 0) {
		exec(h, "PRAGMA synchronous = OFF");
		generate(h, DAY0, NDAYS);
		exec(h, "PRAGMA synchronous = NORMAL");
	}
	/* The reports were written with SQL of their own, past the store:
	 * the rollups are built from them (what migration 0011 does to an
	 * old database). */
	t0 = now_s();
	check(trpt_db_begin(db, &err), &err);
	check(trpt_rollup_rebuild(db, &err), &err);
	check(trpt_db_commit(db, &err), &err);
	printf("rollups    %8.2f s  full build\n", now_s() - t0);

	time_trends(db, null, "--by org --period week, a year", "org",
	    TRPT_PERIOD_WEEK, NULL);
	time_trends(db, null, "--by domain --period week, a year", "domain",
	    TRPT_PERIOD_WEEK, NULL);
	time_trends(db, null, "--by org,domain --period week, a year",
	    "org,domain", TRPT_PERIOD_WEEK, NULL);
	time_trends(db, null, "--by org,domain, a year by day", "org,domain",
	    TRPT_PERIOD_DAY, NULL);
	time_trends(db, null, "--domain domain0007.example, a year by day",
	    "org,domain", TRPT_PERIOD_DAY, "domain0007.example");
	time_trends(db, null, "--by type --period week, a year", "type",
	    TRPT_PERIOD_WEEK, NULL);

	trpt_alert_config_init(&ac);
	for (i = 0; i < 3; i++) {
		t0 = now_s();
		c0 = cpu_s();
		/* As of the day after the generated year: days that later
		 * runs added are not looked at, so the planted alerts stay
		 * the expected ones. */
		check(trpt_alert_detect(db, &ac, DAY0, DAY0 + NDAYS, &a, &err),
		    &err);
		check(trpt_alert_write(a, TRPT_FORMAT_JSON, null, &err), &err);
		t0 = now_s() - t0;
		if (t0 < best)
			best = t0;
		if (cpu_s() - c0 < cbest)
			cbest = cpu_s() - c0;
		nalerts = a->n;
		nopen = trpt_alert_open_count(a);
		trpt_alert_free(&a);
	}
	printf("alerts     %7.3f s (cpu %.3f s)  a year, all senders and "
	       "domains (%zu "
	       "alerts, %zu open; %d planted)\n",
	    best, cbest, nalerts, nopen, EXPECTED_ALERTS);

	/* One more day arrives: its reports go into the rollups at the
	 * commit, as the store does it. */
	st = prep(h, "SELECT coalesce(max(id), 0) FROM reports");
	first =
	    sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	generate(h, maxday + 1, 1);
	t0 = now_s();
	check(trpt_db_begin(db, &err), &err);
	st = prep(h, "SELECT id FROM reports WHERE id > ?1 AND counted = 1");
	sqlite3_bind_int64(st, 1, first);
	while (sqlite3_step(st) == SQLITE_ROW) {
		check(
		    trpt__rollup_add(db, sqlite3_column_int64(st, 0), 1, &err),
		    &err);
		added++;
	}
	sqlite3_finalize(st);
	check(trpt_db_commit(db, &err), &err);
	printf("rollups    %8.3f s  one more day of reports (%" PRId64
	       " reports, at their commit)\n",
	    now_s() - t0, added);
	fclose(null);
	trpt_db_close(&db);
	return 0;
}
