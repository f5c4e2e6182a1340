#include "collector/cmd_stats.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/calendar.h"
#include "common/limits.h"
#include "common/text.h"
#include "common/width.h"
#include "schema/stats.h"

static void
stats_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector stats\n"
	    "\n"
	    "Prints what the database holds: per reporting organisation and\n"
	    "policy domain, the reports, the sessions (successful and "
	    "failed),\n"
	    "the success rate and the days covered; then the reports with\n"
	    "conflicting copies (other content received under a stored\n"
	    "report's id: all copies kept, the first counted) and the "
	    "quarantine.\n"
	    "A domain's sessions are counted once per report even when the\n"
	    "report lists it under several policies (Microsoft sends the same\n"
	    "sessions under its sts and tlsa policies).\n");
}

static int
dkim_lines(struct trpt_db *db, struct trpt_err *err)
{
	struct trpt_stats_dkim d;
	int rc;

	if ((rc = trpt_stats_dkim(db, &d, err)) != TRPT_OK)
		return rc;
	printf("DKIM of stored reports: %" PRId64 " pass and aligned, %" PRId64
	       " pass not aligned, %" PRId64 " fail, %" PRId64 " none, %" PRId64
	       " temperror, %" PRId64 " not verified (not e-mail, or require "
	       "= no); %" PRId64 " released by an operator\n",
	    d.pass_aligned, d.pass_unaligned, d.fail, d.none, d.temperror,
	    d.unverified, d.released);
	printf("DKIM in quarantine: %" PRId64 " refused, %" PRId64
	       " waiting for a key (reprocess retries them)\n",
	    d.quarantined - d.waiting, d.waiting);
	return TRPT_OK;
}

static int
domain_line(void *arg, const struct trpt_stats_domain *d)
{
	char org[128], domain[128], first[16], last[16];

	(void)arg;
	/* Names come from reports: escaped for the terminal. */
	trpt_text_escape(d->org, org, sizeof(org));
	trpt_text_escape(d->domain[0] != '\0' ? d->domain : "(unknown)", domain,
	    sizeof(domain));
	trpt_calendar_day_label(d->first_day, first, sizeof(first));
	trpt_calendar_day_label(d->last_day, last, sizeof(last));
	/* Names in UTF-8 are padded by the cells they take. */
	trpt_width_fput(stdout, org, 28);
	putchar(' ');
	trpt_width_fput(stdout, domain, 26);
	if (d->successful > 0 || d->failed > 0)
		printf(" %7" PRId64 " %10" PRId64 " %8" PRId64
		       " %7.2f%%  %-10s %-10s\n",
		    d->reports, d->successful, d->failed,
		    100.0 * (double)d->successful /
			((double)d->successful + (double)d->failed),
		    first, last);
	else
		printf(" %7" PRId64 " %10" PRId64 " %8" PRId64
		       " %8s  %-10s %-10s\n",
		    d->reports, d->successful, d->failed, "-", first, last);
	return TRPT_OK;
}

int
trpt_cmd_stats_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_stats_totals t;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	int c, status;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			stats_usage(stdout);
			return TRPT_EXIT_OK;
		}
		stats_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if (optind < argc) {
		stats_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if ((status = trpt_cli_open_db_read(cli, &db)) != TRPT_EXIT_OK)
		return status;
	printf("%-28s %-26s %7s %10s %8s %8s  %-10s %-10s\n", "ORGANIZATION",
	    "POLICY DOMAIN", "REPORTS", "SUCCESSFUL", "FAILED", "RATE",
	    "FIRST DAY", "LAST DAY");
	if (trpt_stats_domains(db, domain_line, NULL, &err) != TRPT_OK ||
	    trpt_stats_totals(db, &t, &err) != TRPT_OK)
		goto dberr;
	printf("%" PRId64 " reports stored (%" PRId64 " duplicates received), "
	       "%" PRId64 " inputs in quarantine\n",
	    t.reports, t.duplicates, t.quarantined);
	/* Conflicting copies: someone sent other content under a stored
	 * report's id (a forgery, or a sender's correction). */
	if (t.conflicts > 0)
		printf("%" PRId64 " reports have conflicting copies (%" PRId64
		       " more copies kept, not counted above; see export "
		       "reports)\n",
		    t.conflicts, t.extra_copies);
	if (dkim_lines(db, &err) != TRPT_OK)
		goto dberr;
	trpt_db_close(&db);
	if ((fflush(stdout) != 0 || ferror(stdout)) &&
	    !trpt_cli_stdout_gone()) {
		trpt_cli_warn("stats: standard output: %s", strerror(errno));
		return TRPT_EXIT_FATAL;
	}
	return TRPT_EXIT_OK;
dberr:
	trpt_cli_warn("stats: %s", err.msg);
	trpt_db_close(&db);
	return TRPT_EXIT_FATAL;
}
