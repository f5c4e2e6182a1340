#include "collector/cmd_stats.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "common/datetime.h"
#include "common/text.h"
#include "common/width.h"

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

/*
 * Per report and domain the largest policy figures stand for the sessions:
 * summing a domain's sts and tlsa policies of one report would count the
 * same sessions twice.
 */
static const char stats_sql[] =
    "WITH per_report AS ("
    "  SELECT r.organization_name AS org, p.policy_domain AS domain,"
    "         r.id AS rid, r.day AS day,"
    "         MAX(p.successful) AS ok, MAX(p.failed) AS bad"
    "  FROM reports r JOIN policies p ON p.report = r.id"
    "  WHERE r.counted = 1"
    "  GROUP BY r.id, p.policy_domain)"
    " SELECT org, domain, COUNT(*), SUM(ok), SUM(bad), MIN(day), MAX(day)"
    " FROM per_report GROUP BY org, domain ORDER BY org, domain";

/* DKIM (RFC 8460 §3) of the stored reports and of the quarantine. */
static const char dkim_sql[] =
    "SELECT count(*) FILTER (WHERE dkim = 'pass' AND dkim_aligned <> 'no'),"
    " count(*) FILTER (WHERE dkim = 'pass' AND dkim_aligned = 'no'),"
    " count(*) FILTER (WHERE dkim = 'fail'),"
    " count(*) FILTER (WHERE dkim = 'none'),"
    " count(*) FILTER (WHERE dkim = 'temperror'),"
    " count(*) FILTER (WHERE dkim IS NULL),"
    " count(*) FILTER (WHERE dkim_accepted = 1),"
    " (SELECT count(*) FROM quarantine WHERE reason LIKE 'DKIM:%'),"
    " (SELECT count(*) FROM quarantine WHERE reason LIKE 'DKIM:%temporary%')"
    " FROM reports";

static int
dkim_lines(const struct trpt_cli *cli, struct trpt_db *db)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	(void)cli;
	if (sqlite3_prepare_v2(trpt_db_handle(db), dkim_sql, -1, &st, NULL) !=
		SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	printf("DKIM of stored reports: %d pass and aligned, %d pass not "
	       "aligned, %d fail, %d none, %d temperror, %d not verified "
	       "(not e-mail, or require = no); %d released by an operator\n",
	    sqlite3_column_int(st, 0), sqlite3_column_int(st, 1),
	    sqlite3_column_int(st, 2), sqlite3_column_int(st, 3),
	    sqlite3_column_int(st, 4), sqlite3_column_int(st, 5),
	    sqlite3_column_int(st, 6));
	printf("DKIM in quarantine: %d refused, %d waiting for a key "
	       "(reprocess retries them)\n",
	    sqlite3_column_int(st, 7) - sqlite3_column_int(st, 8),
	    sqlite3_column_int(st, 8));
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int
trpt_cmd_stats_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_db *db = NULL;
	sqlite3_stmt *st = NULL;
	char first[16], last[16];
	int c, status, rows = 0;

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
	if (sqlite3_prepare_v2(trpt_db_handle(db), stats_sql, -1, &st, NULL) !=
	    SQLITE_OK)
		goto dberr;
	printf("%-28s %-26s %7s %10s %8s %8s  %-10s %-10s\n", "ORGANIZATION",
	    "POLICY DOMAIN", "REPORTS", "SUCCESSFUL", "FAILED", "RATE",
	    "FIRST DAY", "LAST DAY");
	while ((c = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t ok = sqlite3_column_int64(st, 3);
		int64_t bad = sqlite3_column_int64(st, 4);
		const char *dom = (const char *)sqlite3_column_text(st, 1);
		char org[128], domain[128];

		/* Names come from reports: escaped for the terminal. */
		trpt_text_escape(
		    (const char *)sqlite3_column_text(st, 0), org, sizeof(org));
		trpt_text_escape(
		    dom != NULL && dom[0] != '\0' ? dom : "(unknown)", domain,
		    sizeof(domain));
		trpt_datetime_format_day(
		    sqlite3_column_int64(st, 5) * 86400, first, sizeof(first));
		trpt_datetime_format_day(
		    sqlite3_column_int64(st, 6) * 86400, last, sizeof(last));
		/* Names in UTF-8 are padded by the cells they take. */
		trpt_width_fput(stdout, org, 28);
		putchar(' ');
		trpt_width_fput(stdout, domain, 26);
		if (ok + bad > 0)
			printf(" %7d %10" PRId64 " %8" PRId64
			       " %7.2f%%  %-10s %-10s\n",
			    sqlite3_column_int(st, 2), ok, bad,
			    100.0 * (double)ok / (double)(ok + bad), first,
			    last);
		else
			printf(" %7d %10" PRId64 " %8" PRId64
			       " %8s  %-10s %-10s\n",
			    sqlite3_column_int(st, 2), ok, bad, "-", first,
			    last);
		rows++;
	}
	if (c != SQLITE_DONE)
		goto dberr;
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(trpt_db_handle(db),
		"SELECT (SELECT COUNT(*) FROM reports WHERE counted = 1),"
		" (SELECT COUNT(*) FROM quarantine_inputs),"
		" (SELECT COALESCE(SUM(seen_count - 1), 0) FROM reports),"
		" (SELECT COUNT(*) FROM reports WHERE conflict = 1 AND"
		"  counted = 1),"
		" (SELECT COUNT(*) FROM reports WHERE counted = 0)",
		-1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto dberr;
	printf("%d reports stored (%d duplicates received), %d inputs in "
	       "quarantine\n",
	    sqlite3_column_int(st, 0), sqlite3_column_int(st, 2),
	    sqlite3_column_int(st, 1));
	/* Conflicting copies: someone sent other content under a stored
	 * report's id (a forgery, or a sender's correction). */
	if (sqlite3_column_int(st, 3) > 0)
		printf("%d reports have conflicting copies (%d more copies "
		       "kept, not counted above; see export reports)\n",
		    sqlite3_column_int(st, 3), sqlite3_column_int(st, 4));
	sqlite3_finalize(st);
	st = NULL;
	if (dkim_lines(cli, db) != 0)
		goto dberr;
	trpt_db_close(&db);
	(void)rows;
	if ((fflush(stdout) != 0 || ferror(stdout)) &&
	    !trpt_cli_stdout_gone()) {
		trpt_cli_warn("stats: standard output: %s", strerror(errno));
		return TRPT_EXIT_FATAL;
	}
	return TRPT_EXIT_OK;
dberr:
	trpt_cli_warn(
	    "%s: %s", cli->db_path, sqlite3_errmsg(trpt_db_handle(db)));
	sqlite3_finalize(st);
	trpt_db_close(&db);
	return TRPT_EXIT_FATAL;
}
