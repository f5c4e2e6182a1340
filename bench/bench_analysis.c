/*
 * Benchmark of trends and alerts over a year of daily reports for 1,000
 * domains from 10 senders (about 3.6 million policy rows).
 *
 *	bench_analysis [DB]
 *
 * The data is generated once into a cached database whose name says what
 * the generator made (default /tmp/trpt-bench-analysis-1000x10x365-gN.db:
 * domains, senders, days, generator version; bump GEN_VERSION when the
 * generator changes), stored as the collector stores reports (rollups at
 * write time) in one transaction per day of reports, into DB.part renamed
 * to DB once complete, so an interrupted run leaves no half database;
 * later runs reuse it (migrated on open if the schema moved on).  Then
 * times several trends queries (the year weekly and daily, and the CLI's
 * default tables: the last 30 days of data by day and by week) and the
 * alerts, each the best of three runs, output written to /dev/null (CSV,
 * or the table for the CLI's forms), and one more day of reports stored
 * with its rollups (each run adds a day after the last: trends cover all
 * days, alerts the generated year).  See docs/BENCHMARKS.md.
 */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report/alert.h"
#include "report/trend.h"
#include "schema/analysis.h"
#include "schema/db.h"
#include "schema/report.h"
#include "schema/store.h"

#define NDOMAINS    1000
#define NSENDERS    10
#define NDAYS       365
#define DAY0        20454 /* 2026-01-01 */
#define GEN_VERSION 1     /* of the generated data: part of the cache name */

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
check(int rc, const struct trpt_err *err)
{
	if (rc != TRPT_OK)
		die("run", err->msg);
}

/* What every generated report shares. */
struct gen {
	struct trpt_db *db;
	struct trpt_raw raw;
	struct trpt_origin origin;
	uint64_t npol, nfail, inbatch;
};

/* Reports per transaction: a day of reports (at most 10,000) per commit
 * costs a tenth of the flushes and commits of `ingest`'s 1,000, which is
 * not what is measured here. */
#define BATCH 10000

/* Stores one report of day from sender s for domain d. */
static void
gen_report(struct gen *g, int s, int d, int64_t day)
{
	static char contact[] = "tlsrpt@example.net", mx[] = "mx1.example",
		    sts[] = "sts", tlsa[] = "tlsa",
		    version[] = "version: STSv1", testing[] = "mode: testing",
		    enforce[] = "mode: enforce", max_age[] = "max_age: 86400";
	char id[96], domain[32], ip[32], org[64], type_buf[64];
	char *strings[3] = { version, enforce, max_age };
	struct trpt_failure fail;
	struct trpt_policy pol[2];
	struct trpt_report r;
	struct trpt_err err;
	const char *type;
	int64_t vol, f;
	int k, np, outcome;

	snprintf(domain, sizeof(domain), "domain%04d.example", d);
	snprintf(id, sizeof(id), "%" PRId64 "+%s", day, domain);
	snprintf(org, sizeof(org), "%s", senders[s]);
	vol = 20 + (int64_t)((d * 37) % 500) * (NSENDERS - s);
	/* One domain in ten has a chronic problem: 1% of its sessions
	 * fail, of one type per domain. */
	f = d % 10 == 0 ? vol / 100 + 1 : 0;
	type = types[d % 11];
	/* Planted: domain 7 loses half its sessions to an expired
	 * certificate for six days. */
	if (d == 7 && day >= DAY0 + 200 && day < DAY0 + 206) {
		f = vol / 2;
		type = "certificate-expired";
	}
	/* Planted: a new failure type for domain 20 from day 330, seen by
	 * Google. */
	if (d == 20 && s == 0 && day >= DAY0 + 330) {
		f = vol / 100 + 1;
		type = "starttls-not-supported";
	}
	snprintf(type_buf, sizeof(type_buf), "%s", type);
	snprintf(ip, sizeof(ip), "192.0.2.%d", s + 1);
	memset(&r, 0, sizeof(r));
	r.organization_name = org;
	r.contact_info = contact;
	r.report_id = id;
	r.begin = day * 86400;
	r.end = day * 86400 + 86399;
	r.policies = pol;
	np = s == 1 ? 2 : 1; /* Microsoft: sts and tlsa */
	r.npolicies = (size_t)np;
	memset(pol, 0, sizeof(pol));
	memset(&fail, 0, sizeof(fail));
	fail.result_type = type_buf;
	fail.sending_mta_ip = ip;
	fail.receiving_mx_hostname = mx;
	fail.failed_session_count = f;
	for (k = 0; k < np; k++) {
		pol[k].policy_type = k == 0 ? sts : tlsa;
		pol[k].policy_domain = domain;
		strings[1] = d % 50 == 0 && k == 0 ? testing : enforce;
		pol[k].policy_strings.v = strings;
		pol[k].policy_strings.n = 3;
		pol[k].successful = vol - f;
		pol[k].failed = f;
		if (f > 0) {
			pol[k].failures = &fail;
			pol[k].nfailures = 1;
			g->nfail++;
		}
		g->npol++;
	}
	g->origin.received = (day + 1) * 86400 + 3600;
	if (g->inbatch == 0)
		check(trpt_store_begin(g->db, &err), &err);
	check(
	    trpt_store_report(g->db, &r, &g->raw, &outcome, NULL, &err), &err);
	if (++g->inbatch == BATCH) {
		check(trpt_store_commit(g->db, &err), &err);
		g->inbatch = 0;
	}
}

/* Days of reports from every sender for every domain, stored as the
 * collector stores reports (the rollups come with them). */
static void
generate(struct trpt_db *db, int64_t from, int64_t ndays)
{
	struct trpt_err err;
	struct gen g;
	double t0 = now_s();
	int64_t day;
	int s, d;

	memset(&g, 0, sizeof(g));
	g.db = db;
	g.origin.kind = "file";
	g.origin.source = "bench";
	g.raw.bytes = "bench";
	g.raw.len = 5;
	g.raw.origin = &g.origin;
	rng ^=
	    (uint64_t)from * 0x9e3779b97f4a7c15u; /* another day, other draws */
	for (day = from; day < from + ndays; day++)
		for (s = 0; s < NSENDERS; s++) {
			/* Microsoft reports only on days it sent mail. */
			if (s == 1 && rnd() % 10 < 3)
				continue;
			/* Zoho stops reporting on day 300 (silent). */
			if (s == 9 && day >= DAY0 + 300)
				continue;
			for (d = 0; d < NDOMAINS; d++)
				gen_report(&g, s, d, day);
		}
	if (g.inbatch > 0)
		check(trpt_store_commit(db, &err), &err);
	g.inbatch = 0;
	printf("generate   %8.2f s  %" PRId64 " days: %" PRIu64
	       " policies, %" PRIu64 " failure details\n",
	    now_s() - t0, ndays, g.npol, g.nfail);
}

/* One form of trends: the best of three runs of the query, and of writing
 * its output (fmt) to null.  since: its first day, or TRPT_DAY_MIN. */
static void
time_trends(struct trpt_db *db, FILE *null, const char *label, const char *dims,
    enum trpt_trend_period period, const char *domain, int64_t since,
    enum trpt_trend_format fmt)
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
	q.since_day = since;
	for (i = 0; i < 3; i++) {
		t0 = now_s();
		c0 = cpu_s();
		check(trpt_trend_run(db, &q, &t, &err), &err);
		t1 = now_s();
		if (t1 - t0 < best)
			best = t1 - t0;
		if (cpu_s() - c0 < cbest)
			cbest = cpu_s() - c0;
		check(trpt_trend_write_count(t, fmt, null, &rows, &err), &err);
		w = now_s() - t1;
		if (w < wbest)
			wbest = w;
		groups = t->ngroups;
		trpt_trend_free(&t);
	}
	/* The table writer counts no rows (a group is a few lines). */
	if (fmt == TRPT_FORMAT_CSV)
		printf("trends     %7.3f s (cpu %.3f s) + CSV %7.3f s  %s: %zu "
		       "groups, %" PRIu64 " rows\n",
		    best, cbest, wbest, label, groups, rows);
	else
		printf(
		    "trends     %7.3f s (cpu %.3f s) + table %7.3f s  %s: %zu "
		    "groups\n",
		    best, cbest, wbest, label, groups);
}

int
main(int argc, char **argv)
{
	char cache[256], part[300];
	const char *path = argc > 1 ? argv[1] : cache;
	struct trpt_alert_config ac;
	struct trpt_alerts *a = NULL;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	int64_t first = 0, last = 0, maxday = DAY0 + NDAYS - 1;
	double t0, c0, best = 1e9, cbest = 1e9;
	size_t nalerts = 0, nopen = 0;
	FILE *null;
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(cache, sizeof(cache),
	    "/tmp/trpt-bench-analysis-%dx%dx%d-g%d.db", NDOMAINS, NSENDERS,
	    NDAYS, GEN_VERSION);
	if (access(path, F_OK) != 0) {
		/* Generated into DB.part, renamed once closed (checkpointed,
		 * no log left): DB exists only complete. */
		snprintf(part, sizeof(part), "%s.part", path);
		unlink(part);
		check(trpt_db_open(part, &db, &err), &err);
		generate(db, DAY0, NDAYS); /* rollups written with them */
		trpt_db_close(&db);
		if (rename(part, path) != 0)
			die(path, "cannot rename the generated database");
	}
	printf("database   %s\n", path);
	check(trpt_db_open(path, &db, &err), &err);
	null = fopen("/dev/null", "w");
	if (null == NULL)
		die("/dev/null", "cannot open");
	check(trpt_analysis_data_range(
		  db, NULL, TRPT_DAY_MIN, TRPT_DAY_MAX, &first, &last, &err),
	    &err);
	if (first <= last)
		maxday = last;
	else
		generate(db, DAY0, NDAYS); /* an empty DB given */

	time_trends(db, null, "--by org --period week, a year", "org",
	    TRPT_PERIOD_WEEK, NULL, TRPT_DAY_MIN, TRPT_FORMAT_CSV);
	time_trends(db, null, "--by domain --period week, a year", "domain",
	    TRPT_PERIOD_WEEK, NULL, TRPT_DAY_MIN, TRPT_FORMAT_CSV);
	time_trends(db, null, "--by org,domain --period week, a year",
	    "org,domain", TRPT_PERIOD_WEEK, NULL, TRPT_DAY_MIN,
	    TRPT_FORMAT_CSV);
	time_trends(db, null, "--by org,domain, a year by day", "org,domain",
	    TRPT_PERIOD_DAY, NULL, TRPT_DAY_MIN, TRPT_FORMAT_CSV);
	time_trends(db, null, "--domain domain0007.example, a year by day",
	    "org,domain", TRPT_PERIOD_DAY, "domain0007.example", TRPT_DAY_MIN,
	    TRPT_FORMAT_CSV);
	time_trends(db, null, "--by type --period week, a year", "type",
	    TRPT_PERIOD_WEEK, NULL, TRPT_DAY_MIN, TRPT_FORMAT_CSV);
	/* What the CLI's `trends` and `trends --period week` show: a table
	 * of the last 30 days (here of the data, not of today). */
	time_trends(db, null, "the last 30 days by day (the CLI's default)",
	    "org,domain", TRPT_PERIOD_DAY, NULL, maxday - 29,
	    TRPT_FORMAT_TABLE);
	time_trends(db, null, "--period week, the last 30 days (the CLI's)",
	    "org,domain", TRPT_PERIOD_WEEK, NULL, maxday - 29,
	    TRPT_FORMAT_TABLE);

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

	/* One more day arrives: stored with its rollups. */
	t0 = now_s();
	generate(db, maxday + 1, 1);
	printf("store      %8.3f s  one more day of reports, rollups "
	       "included\n",
	    now_s() - t0);
	fclose(null);
	trpt_db_close(&db);
	return 0;
}
