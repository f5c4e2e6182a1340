#include "collector/cmd_report.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/cmd_alerts.h"
#include "common/calendar.h"
#include "common/datetime.h"
#include "report/alert.h"
#include "report/dash.h"
#include "report/html.h"
#include "report/show.h"
#include "report/trend.h"

static void
report_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector report html -o FILE [--since DATE] "
	    "[--until DATE]\n"
	    "                                [--domain D]\n"
	    "       tlsrpt-collector report show ID\n"
	    "\n"
	    "report show ID prints one stored report (ID is the first column "
	    "of\n"
	    "\"export reports\"): organisation, report-id, date-range, "
	    "totals,\n"
	    "where it came from (file, mailbox, HTTPS client), its DKIM "
	    "verdict\n"
	    "(result, d=, s=, alignment with the submitter or organisation\n"
	    "domain, the key's service type, an operator's release), "
	    "conflicting\n"
	    "copies, its policies and the warnings stored with it.\n"
	    "\n"
	    "report html -o FILE [--since DATE] "
	    "[--until DATE]\n"
	    "                                [--domain D]\n"
	    "\n"
	    "Writes the dashboard's views as one self-contained HTML file "
	    "(inline\n"
	    "style and SVG charts, no script, nothing fetched from "
	    "elsewhere), to\n"
	    "archive, attach or serve anywhere: the overview of every "
	    "domain, then\n"
	    "each domain (alerts with evidence, charts, causes and fixes "
	    "with what\n"
	    "the senders said, senders, MX hosts, latest reports), each "
	    "sender, and\n"
	    "the quarantine.\n"
	    "\n"
	    "  -o FILE        where to write (\"-\": standard output); "
	    "written whole\n"
	    "                 or not at all\n"
	    "  --since DATE   from the UTC day of DATE (YYYY-MM-DD or -Nd); "
	    "default\n"
	    "                 the last 30 days\n"
	    "  --until DATE   to that day, inclusive (default today)\n"
	    "  --domain D     only this policy domain\n"
	    "\n"
	    "Exit status: 0 written, 2 usage, 3 database or I/O failure.\n");
}

static int
parse_day(const char *opt, const char *s, int64_t now, int64_t *day)
{
	struct trpt_err err;
	int64_t t;

	if (trpt_datetime_parse_user(s, now, &t, &err) != TRPT_OK) {
		trpt_cli_warn("report: %s: %s", opt, err.msg);
		return TRPT_EXIT_USAGE;
	}
	*day = trpt_calendar_day(t);
	return TRPT_EXIT_OK;
}

static int
write_out(const char *path, const char *data, size_t len)
{
	char tmp[4096];
	FILE *f;
	int ok;

	if (strcmp(path, "-") == 0) {
		ok = fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0;
		if (!ok)
			trpt_cli_warn(
			    "report: standard output: %s", strerror(errno));
		return ok ? TRPT_EXIT_OK : TRPT_EXIT_FATAL;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((f = fopen(tmp, "w")) == NULL) {
		trpt_cli_warn("report: %s: %s", tmp, strerror(errno));
		return TRPT_EXIT_FATAL;
	}
	ok = fwrite(data, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	if (ok && rename(tmp, path) != 0)
		ok = 0;
	if (!ok) {
		trpt_cli_warn("report: %s: %s", path, strerror(errno));
		unlink(tmp);
		return TRPT_EXIT_FATAL;
	}
	return TRPT_EXIT_OK;
}

/* The overview, each domain, each sender and the quarantine. */
static int
build(struct trpt_dash *d, struct trpt_html *h, struct trpt_err *err)
{
	char **names = NULL, title[160];
	size_t n = 0, i;
	int rc;

	snprintf(title, sizeof(title), "TLS reports %s",
	    d->domain != NULL ? d->domain : "");
	trpt_dash_begin(h, d, title);
	if ((rc = trpt_dash_overview(d, h, err)) != TRPT_OK ||
	    (rc = trpt_dash_domains(d, &names, &n, err)) != TRPT_OK)
		goto out;
	for (i = 0; i < n; i++)
		if ((rc = trpt_dash_domain(d, names[i], h, err)) != TRPT_OK)
			goto out;
	trpt_dash_names_free(names, n);
	names = NULL;
	n = 0;
	if ((rc = trpt_dash_senders(d, &names, &n, err)) != TRPT_OK)
		goto out;
	for (i = 0; i < n; i++)
		if ((rc = trpt_dash_sender(d, names[i], h, err)) != TRPT_OK)
			goto out;
	if (d->domain == NULL &&
	    (rc = trpt_dash_quarantine(d, h, err)) != TRPT_OK)
		goto out;
	trpt_dash_end(h);
out:
	trpt_dash_names_free(names, n);
	return rc;
}

static int
report_html(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "domain", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_alert_config ac;
	struct trpt_alerts *alerts = NULL;
	struct trpt_dash d;
	struct trpt_html h;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	const char *output = NULL;
	char *page = NULL;
	size_t len = 0;
	int64_t now = (int64_t)time(NULL), today = now / 86400, asof;
	int c, rc, status, since_set = 0;

	memset(&d, 0, sizeof(d));
	d.static_file = 1;
	d.until_day = today;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 's':
			if ((status = parse_day("--since", optarg, now,
				 &d.since_day)) != TRPT_EXIT_OK)
				return status;
			since_set = 1;
			break;
		case 'u':
			if ((status = parse_day("--until", optarg, now,
				 &d.until_day)) != TRPT_EXIT_OK)
				return status;
			break;
		case 'd':
			d.domain = trpt_cli_domain_arg(optarg);
			break;
		case 'h':
			report_usage(stdout);
			return TRPT_EXIT_OK;
		default:
			report_usage(stderr);
			return TRPT_EXIT_USAGE;
		}
	}
	if (optind != argc || output == NULL) {
		if (output == NULL)
			trpt_cli_warn("report html: -o FILE is needed");
		report_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if (!since_set)
		d.since_day = d.until_day - 29;
	if (d.since_day > d.until_day) {
		trpt_cli_warn("report html: --since is after --until");
		return TRPT_EXIT_USAGE;
	}
	trpt_alert_config_init(&ac);
	if ((status = trpt_cmd_alerts_config(cli, &ac)) != TRPT_EXIT_OK)
		return status;
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK)
		return status;
	d.db = db;
	asof = d.until_day + 1 < today ? d.until_day + 1 : today;
	trpt_html_init(&h, TRPT_HTML_MAX_PAGE);
	rc = trpt_trend_refresh(db, &err);
	if (rc == TRPT_OK)
		rc = trpt_alert_detect(
		    db, &ac, d.since_day, asof, &alerts, &err);
	d.alerts = alerts;
	if (rc == TRPT_OK)
		rc = build(&d, &h, &err);
	if (rc == TRPT_OK)
		rc = trpt_html_finish(&h, &page, &len, &err);
	else
		trpt_html_free(&h);
	trpt_alert_free(&alerts);
	trpt_db_close(&db);
	if (rc != TRPT_OK) {
		trpt_cli_warn("report html: %s", err.msg);
		return trpt_cli_exit_for(rc);
	}
	status = write_out(output, page, len);
	free(page);
	return status;
}

/* report show ID: argv[0] is "show". */
static int
report_show(struct trpt_cli *cli, int argc, char **argv)
{
	struct trpt_report_detail *s = NULL;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	long long id;
	char *end;
	int rc, status;

	if (argc != 2) {
		report_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if (!isdigit((unsigned char)argv[1][0]) ||
	    (id = strtoll(argv[1], &end, 10)) <= 0 || *end != '\0') {
		trpt_cli_warn("report show: %s: not a report id", argv[1]);
		return TRPT_EXIT_USAGE;
	}
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK)
		return status;
	rc = trpt_report_detail_load(db, (int64_t)id, &s, &err);
	if (rc == TRPT_OK)
		rc = trpt_show_print(s, stdout, &err);
	trpt_report_detail_free(&s);
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

int
trpt_cmd_report_run(struct trpt_cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "html") == 0)
		return report_html(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return report_show(cli, argc - 1, argv + 1);
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		report_usage(stdout);
		return TRPT_EXIT_OK;
	}
	report_usage(stderr);
	return TRPT_EXIT_USAGE;
}
