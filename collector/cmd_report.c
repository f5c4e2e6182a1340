#include "collector/cmd_report.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/show.h"

static void
report_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector report show ID\n"
	    "\n"
	    "Prints one stored report (ID is the first column of \"export\n"
	    "reports\"): organisation, report-id, date-range, totals, where\n"
	    "it came from (file, mailbox, HTTPS client), its DKIM verdict\n"
	    "(result, d=, s=, alignment with the submitter or organisation\n"
	    "domain, the key's service type, an operator's release), its\n"
	    "policies and the warnings stored with it.\n"
	    "Exit status: 0 shown, 2 usage or no such report, 3 fatal.\n");
}

int
trpt_cmd_report_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_show *s = NULL;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	long long id;
	char *end;
	int c, rc, status;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			report_usage(stdout);
			return TRPT_EXIT_OK;
		}
		report_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if (optind + 2 != argc || strcmp(argv[optind], "show") != 0) {
		report_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if (!isdigit((unsigned char)argv[optind + 1][0]) ||
	    (id = strtoll(argv[optind + 1], &end, 10)) <= 0 || *end != '\0') {
		trpt_cli_warn(
		    "report show: %s: not a report id", argv[optind + 1]);
		return TRPT_EXIT_USAGE;
	}
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK)
		return status;
	rc = trpt_show_load(db, (int64_t)id, &s, &err);
	if (rc == TRPT_OK)
		rc = trpt_show_print(s, stdout, &err);
	trpt_show_free(&s);
	trpt_db_close(&db);
	if (rc == TRPT_ENOTFOUND) {
		trpt_cli_warn("report show: %s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	if (rc != TRPT_OK) {
		trpt_cli_warn("report show: %s", err.msg);
		return TRPT_EXIT_FATAL;
	}
	return TRPT_EXIT_OK;
}
