#include "collector/cmd_trends.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/calendar.h"
#include "common/datetime.h"
#include "report/trend.h"

static void
trends_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector trends [--by DIMS] [--period day|week]\n"
	    "           [--since DATE] [--until DATE] [--domain D]\n"
	    "           [--format table|csv|json]\n"
	    "\n"
	    "Successful and failed sessions and the success rate per period\n"
	    "and group.\n"
	    "\n"
	    "  --by DIMS      comma list of org (the reporting organisation),\n"
	    "                 domain (policy domain), mx (receiving MX host),\n"
	    "                 ip (sending MTA IP), type (result type);\n"
	    "                 default org,domain\n"
	    "  --period P     day (default) or week (ISO weeks, YYYY-Www)\n"
	    "  --since DATE   from the UTC day of DATE (YYYY-MM-DD, a\n"
	    "                 date-time, or -Nd for N days ago); the table\n"
	    "                 shows the last 30 days by default, csv and\n"
	    "                 json everything\n"
	    "  --until DATE   up to the day before DATE\n"
	    "  --domain D     only policy domain D\n"
	    "  --format F     table (default, with a sparkline of the success\n"
	    "                 rate per group on its own scale, the lowest and\n"
	    "                 highest rate after it; groups by mx, ip or type\n"
	    "                 the most failed first; colour on a terminal\n"
	    "                 unless NO_COLOR is set), csv (RFC 4180) or json "
	    "(an\n"
	    "                 array of objects: period, the columns of DIMS,\n"
	    "                 successful, failed, success_rate)\n"
	    "\n"
	    "Counting rules:\n"
	    "  - A report counts on the UTC day its date-range starts; a\n"
	    "    report covering several days counts whole on its first day.\n"
	    "  - Within one report, a domain's sessions are counted once.\n"
	    "    Microsoft reports the same sessions under both a tlsa and an\n"
	    "    sts policy of one domain; when a report has several policies\n"
	    "    for a domain, they are added per policy type and the type\n"
	    "    with the most sessions is counted.\n"
	    "  - With mx, ip or type, failed sessions are split by the\n"
	    "    failure details (types may overlap, RFC 8460 4.3);\n"
	    "    successful sessions, and failures without details, fall in\n"
	    "    the group where those fields are empty.\n"
	    "  - Periods without sessions are left out.  Rows are sorted by\n"
	    "    group, then period.\n");
}

static int
parse_day(const char *opt, const char *s, int64_t now, int64_t *day)
{
	struct trpt_err err;
	int64_t t;

	if (trpt_datetime_parse_user(s, now, &t, &err) != TRPT_OK) {
		trpt_cli_warn("%s: %s", opt, err.msg);
		return TRPT_EXIT_USAGE;
	}
	*day = trpt_calendar_day(t);
	return TRPT_EXIT_OK;
}

int
trpt_cmd_trends_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "by", required_argument, NULL, 'b' },
		{ "period", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "domain", required_argument, NULL, 'd' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_trend_query q;
	enum trpt_trend_format fmt = TRPT_FORMAT_TABLE;
	struct trpt_trend *t = NULL;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	int64_t now = (int64_t)time(NULL), until;
	int c, rc, status, since_set = 0;

	trpt_trend_query_init(&q);
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (trpt_trend_parse_dims(optarg, &q, &err) !=
			    TRPT_OK) {
				trpt_cli_warn("trends: %s", err.msg);
				return TRPT_EXIT_USAGE;
			}
			break;
		case 'p':
			if (strcmp(optarg, "day") == 0)
				q.period = TRPT_PERIOD_DAY;
			else if (strcmp(optarg, "week") == 0)
				q.period = TRPT_PERIOD_WEEK;
			else {
				trpt_cli_warn(
				    "trends: --period \"%s\": expected "
				    "day or week",
				    optarg);
				return TRPT_EXIT_USAGE;
			}
			break;
		case 's':
			if ((status = parse_day("trends: --since", optarg, now,
				 &q.since_day)) != TRPT_EXIT_OK)
				return status;
			since_set = 1;
			break;
		case 'u':
			if ((status = parse_day("trends: --until", optarg, now,
				 &until)) != TRPT_EXIT_OK)
				return status;
			q.until_day = until - 1;
			break;
		case 'd':
			q.domain = trpt_cli_domain_arg(optarg);
			break;
		case 'f':
			if (strcmp(optarg, "table") == 0)
				fmt = TRPT_FORMAT_TABLE;
			else if (strcmp(optarg, "csv") == 0)
				fmt = TRPT_FORMAT_CSV;
			else if (strcmp(optarg, "json") == 0)
				fmt = TRPT_FORMAT_JSON;
			else {
				trpt_cli_warn("trends: --format \"%s\": "
					      "expected table, csv or json",
				    optarg);
				return TRPT_EXIT_USAGE;
			}
			break;
		case 'h':
			trends_usage(stdout);
			return TRPT_EXIT_OK;
		default:
			trends_usage(stderr);
			return TRPT_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		trends_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	/* The table is for reading: the last 30 days (up to --until). */
	if (fmt == TRPT_FORMAT_TABLE && !since_set)
		q.since_day =
		    (q.until_day != TRPT_DAY_MAX ? q.until_day : now / 86400) -
		    29;
	if (fmt == TRPT_FORMAT_TABLE && trpt_cli_color(stdout))
		fmt = TRPT_FORMAT_TABLE_COLOR;
	if ((status = trpt_cli_open_db_read(cli, &db)) != TRPT_EXIT_OK)
		return status;
	rc = trpt_trend_refresh(db, &err);
	if (rc == TRPT_OK)
		rc = trpt_trend_run(db, &q, &t, &err);
	if (rc == TRPT_OK)
		rc = trpt_trend_write(t, fmt, stdout, &err);
	trpt_trend_free(&t);
	trpt_db_close(&db);
	if (rc != TRPT_OK && trpt_cli_stdout_gone())
		return TRPT_EXIT_OK; /* "trends | head" */
	if (rc != TRPT_OK) {
		trpt_cli_warn("trends: %s", err.msg);
		return rc == TRPT_ELIMIT ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
	}
	return TRPT_EXIT_OK;
}
