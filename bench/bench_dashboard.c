/*
 * Benchmark of the dashboard's pages over the database of bench_analysis
 * (a year of daily reports for 1,000 domains from 10 senders):
 *
 *	bench_dashboard DB
 *
 * DB must have been made by bench_analysis.  Each page is rendered
 * through the same calls as the dashboard (report/dash.h), three times,
 * and the best time is printed; the alert detection the pages show is
 * timed apart, since the dashboard keeps its result until a report
 * arrives.  Prints figures: it is not a timed test.  See
 * docs/BENCHMARKS.md.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/alert.h"
#include "report/dash.h"
#include "report/html.h"
#include "report/trend.h"
#include "schema/db.h"
#include "schema/view.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
check(int rc, const struct trpt_err *err)
{
	if (rc != TRPT_OK) {
		fprintf(stderr, "bench_dashboard: %s\n", err->msg);
		exit(1);
	}
}

enum page { OVERVIEW, DOMAIN, SENDER, REPORT, QUARANTINE };

static void
time_page(struct trpt_dash *d, enum page p, const char *arg, int64_t id,
    const char *label)
{
	double best = 1e9, cbest = 1e9, t0, c0;
	struct trpt_html h;
	struct trpt_err err;
	char *out = NULL;
	size_t len = 0;
	int i, rc;

	for (i = 0; i < 3; i++) {
		t0 = now_s();
		c0 = cpu_s();
		trpt_html_init(&h, TRPT_HTML_MAX_PAGE);
		trpt_dash_begin(&h, d, "bench");
		switch (p) {
		case OVERVIEW:
			rc = trpt_dash_overview(d, &h, &err);
			break;
		case DOMAIN:
			rc = trpt_dash_domain(d, arg, &h, &err);
			break;
		case SENDER:
			rc = trpt_dash_sender(d, arg, &h, &err);
			break;
		case REPORT:
			rc = trpt_dash_report(d, id, NULL, &h, &err);
			break;
		default:
			rc = trpt_dash_quarantine(d, &h, &err);
			break;
		}
		check(rc, &err);
		trpt_dash_end(&h);
		check(trpt_html_finish(&h, &out, &len, &err), &err);
		free(out);
		if (now_s() - t0 < best)
			best = now_s() - t0;
		if (cpu_s() - c0 < cbest)
			cbest = cpu_s() - c0;
	}
	printf("page  %8.1f ms (cpu %6.1f ms) %7zu kB  %s\n", best * 1e3,
	    cbest * 1e3, len / 1024, label);
}

static void
run_range(struct trpt_db *db, const struct trpt_alert_config *ac, int64_t last,
    int days, int64_t report_id)
{
	struct trpt_dash d;
	struct trpt_alerts *a = NULL;
	struct trpt_err err;
	double best = 1e9, t0;
	char label[128];
	int i;

	memset(&d, 0, sizeof(d));
	d.db = db;
	d.until_day = last;
	d.since_day = last - days + 1;
	for (i = 0; i < 3; i++) {
		t0 = now_s();
		check(
		    trpt_alert_detect(db, ac, d.since_day, last + 1, &a, &err),
		    &err);
		if (now_s() - t0 < best)
			best = now_s() - t0;
		if (i < 2)
			trpt_alert_free(&a);
	}
	printf("alerts%8.1f ms  refresh + detection for a %d-day range (%zu "
	       "alerts; kept until a report arrives)\n",
	    best * 1e3, days, a->n);
	d.alerts = a;
	snprintf(
	    label, sizeof(label), "overview, 1,000 domains, %d days", days);
	time_page(&d, OVERVIEW, NULL, 0, label);
	snprintf(label, sizeof(label), "domain0007.example, %d days", days);
	time_page(&d, DOMAIN, "domain0007.example", 0, label);
	snprintf(label, sizeof(label), "sender Google Inc., %d days", days);
	time_page(&d, SENDER, "Google Inc.", 0, label);
	if (days == 30) {
		time_page(&d, REPORT, NULL, report_id, "one report");
		time_page(&d, QUARANTINE, NULL, 0, "quarantine");
	}
	trpt_alert_free(&a);
}

int
main(int argc, char **argv)
{
	struct trpt_alert_config ac;
	struct trpt_view_filter f;
	struct trpt_view_rows *r = NULL;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	int64_t last;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_dashboard DB (made by "
				"bench_analysis)\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	check(trpt_db_open(argv[1], &db, &err), &err);
	/* The last day with reports, and one report of it. */
	memset(&f, 0, sizeof(f));
	f.since_day = 0;
	f.until_day = 1000000;
	f.limit = 1;
	check(trpt_view_reports(db, &f, &r, &err), &err);
	if (r->nrows == 0) {
		fprintf(stderr,
		    "bench_dashboard: %s holds no reports: run "
		    "bench_analysis first\n",
		    argv[1]);
		return 1;
	}
	last = trpt_view_int(r, 0, TRPT_VR_BEGIN) / 86400;
	trpt_alert_config_init(&ac);
	run_range(db, &ac, last, 30, trpt_view_int(r, 0, TRPT_VR_ID));
	run_range(db, &ac, last, 365, trpt_view_int(r, 0, TRPT_VR_ID));
	trpt_view_free(&r);
	trpt_db_close(&db);
	return 0;
}
