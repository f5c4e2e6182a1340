#include "collector/cmd_export.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/datetime.h"
#include "common/outfile.h"
#include "report/export.h"
#include "report/trend.h"

/* What can be exported, and by which function. */
static const struct table {
	const char *name;
	int (*write)(struct trpt_db *db, const struct trpt_export_filter *f,
	    FILE *out, uint64_t *rows, struct trpt_err *err);
} tables[] = {
	{ "policies", trpt_export_policies_count },
	{ "failures", trpt_export_failures_count },
	{ "reports", trpt_trend_export_reports },
	{ "daily", trpt_trend_export_daily },
};

static void
export_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector export policies|failures|reports|daily\n"
	    "           [--since DATE] [--until DATE] [--domain D] [-o FILE]\n"
	    "\n"
	    "Writes CSV (RFC 4180, UTF-8, header row) for analysts, with the\n"
	    "column names of parsedmarc's SMTP TLS CSV where they overlap:\n"
	    "  policies  one row per policy of each report\n"
	    "  failures  one row per failure detail, with its policy\n"
	    "  reports   one row per report, with its totals\n"
	    "  daily     the trends rows: per day, reporting organisation\n"
	    "            and policy domain, the sessions and success rate\n"
	    "Dates are YYYY-MM-DDTHH:MM:SSZ; lists are joined with '|'.  A "
	    "cell\n"
	    "starting with = + - @ TAB or CR gets a leading ' so that no\n"
	    "spreadsheet evaluates text that a stranger sent us.\n"
	    "\n"
	    "  --since DATE   reports whose range starts at or after DATE\n"
	    "  --until DATE   ... and before DATE (YYYY-MM-DD, a date-time, "
	    "or\n"
	    "                 -Nd for N days ago)\n"
	    "  --domain D     only policy domain D\n"
	    "  -o FILE        write to FILE instead of standard output: a\n"
	    "                 regular file is replaced atomically (a new file\n"
	    "                 beside it, renamed), a FIFO or device written\n"
	    "                 as it is\n");
}

int
trpt_cmd_export_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "domain", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_export_filter filter;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	const char *what, *output = NULL;
	struct trpt_outfile out;
	uint64_t rows = 0;
	int64_t now = (int64_t)time(NULL);
	size_t t;
	int c, rc, status;

	trpt_export_filter_init(&filter);
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'u':
			if (trpt_datetime_parse_user(optarg, now,
				c == 's' ? &filter.since : &filter.until,
				&err) != TRPT_OK) {
				trpt_cli_warn("export: %s", err.msg);
				return TRPT_EXIT_USAGE;
			}
			break;
		case 'd':
			filter.domain = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			export_usage(stdout);
			return TRPT_EXIT_OK;
		default:
			export_usage(stderr);
			return TRPT_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		export_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	what = argv[optind];
	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		if (strcmp(what, tables[t].name) == 0)
			break;
	if (t == sizeof(tables) / sizeof(tables[0])) {
		trpt_cli_warn("export: unknown table \"%s\": expected "
			      "policies, failures, reports or daily",
		    what);
		return TRPT_EXIT_USAGE;
	}
	if ((status = trpt_cli_open_db_read(cli, &db)) != TRPT_EXIT_OK)
		return status;
	if (trpt_outfile_open(output != NULL ? output : "-", &out, &err) !=
	    TRPT_OK) {
		trpt_cli_warn("export: %s", err.msg);
		trpt_db_close(&db);
		return TRPT_EXIT_FATAL;
	}
	rc = tables[t].write(db, &filter, out.f, &rows, &err);
	if (rc == TRPT_OK)
		rc = trpt_outfile_commit(&out, &err);
	else
		trpt_outfile_abort(&out);
	trpt_db_close(&db);
	if (rc != TRPT_OK) {
		if (output == NULL && trpt_cli_stdout_gone())
			return TRPT_EXIT_OK; /* "export ... | head" */
		trpt_cli_warn("export %s: %s", what, err.msg);
		return TRPT_EXIT_FATAL;
	}
	if (output != NULL && cli->verbose >= 0)
		fprintf(stderr, "exported %" PRIu64 " %s rows to %s\n", rows,
		    what, output);
	return TRPT_EXIT_OK;
}
