#include "collector/cmd_alerts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/cmd_check.h"
#include "collector/recheck.h"
#include "common/calendar.h"
#include "common/datetime.h"
#include "report/alert.h"

static void
alerts_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector alerts [--since DATE] [--format "
	    "table|json]\n"
	    "           [--fail-on-alert] [--threshold POINTS] "
	    "[--min-sessions N]\n"
	    "           [--now DATE] [--recheck]\n"
	    "\n"
	    "Looks for what a domain owner should act on:\n"
	    "  drop      a sender's or a domain's daily success rate fell\n"
	    "            THRESHOLD points below its own trailing baseline\n"
	    "            (the 14 days before), on a day with at least\n"
	    "            MIN-SESSIONS sessions; open until it recovers\n"
	    "  recovery  the day the rate came back after a drop\n"
	    "  new-type  a failure type the domain never had before\n"
	    "  silent    a sender that reported regularly went quiet for\n"
	    "            longer than its own rhythm allows (Microsoft\n"
	    "            reports only on days it sent mail)\n"
	    "  testing   an MTA-STS policy in testing mode with failures:\n"
	    "            fix them before switching to enforce\n"
	    "  collection  no report at all arrived for more than\n"
	    "            collection_days days (default 3; 0: off): the\n"
	    "            mailbox, a source or the DNS record is broken\n"
	    "A drop whose data stops for recent_days is closed as \"no\n"
	    "longer reported\".\n"
	    "Each alert shows its evidence (rates, sessions, days, result\n"
	    "types, MX hosts, sending IPs) and per result type the probable\n"
	    "causes and fixes.\n"
	    "\n"
	    "  --since DATE       alerts that lasted until DATE or later, or\n"
	    "                     are still open (default: 30 days ago)\n"
	    "  --format F         table (default) or json\n"
	    "  --fail-on-alert    exit 1 when an alert is open (for cron and\n"
	    "                     monitoring checks)\n"
	    "  --threshold N      drop threshold in percentage points\n"
	    "                     (default 5; [alerts] threshold)\n"
	    "  --min-sessions N   sessions a day needs to be judged\n"
	    "                     (default 50; [alerts] min_sessions)\n"
	    "  --now DATE         judge as of DATE instead of today\n"
	    "  --recheck          check the domains of open alerts live\n"
	    "                     (see check --help; settings in [check]) and\n"
	    "                     add the findings per MX host to the\n"
	    "                     evidence; an alert still closes only when\n"
	    "                     reports confirm the fix\n"
	    "\n"
	    "\n"
	    "[alerts] in the configuration also takes baseline_days,\n"
	    "recent_days, min_history_days, silence_min_days,\n"
	    "silence_min_reports and collection_days.\n"
	    "Exit status: 0 done, 1 an alert is open (with --fail-on-alert),\n"
	    "2 usage, 3 fatal.\n");
}

static int
to_day(const char *opt, const char *s, int64_t now, int64_t *day)
{
	struct trpt_err err;
	int64_t t;

	if (trpt_datetime_parse_user(s, now, &t, &err) != TRPT_OK) {
		trpt_cli_warn("alerts: %s: %s", opt, err.msg);
		return TRPT_EXIT_USAGE;
	}
	*day = trpt_calendar_day(t);
	return TRPT_EXIT_OK;
}

int
trpt_cmd_alerts_config(const struct trpt_cli *cli, struct trpt_alert_config *ac)
{
	struct trpt_err err;

	if (trpt_config_read(cli->cfg, NULL, "alerts", ac, sizeof(*ac), &err) !=
	    TRPT_OK) {
		trpt_cli_warn("alerts: %s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	return TRPT_EXIT_OK;
}

static int
parse_uint(
    const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		goto bad;
	*out = v;
	return TRPT_EXIT_OK;
bad:
	trpt_cli_warn("alerts: %s \"%s\": expected a number from %llu to %llu",
	    opt, s, (unsigned long long)min, (unsigned long long)max);
	return TRPT_EXIT_USAGE;
}

#define RECHECK_MAX 32 /* domains checked by one --recheck */

static int
seen(char **done, size_t n, const char *d)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(done[i], d) == 0)
			return 1;
	return 0;
}

/*
 * The live check of each domain named by an open alert (once), stored as
 * evidence.  A domain whose check cannot run is reported and skipped.
 */
static int
recheck_open(const struct trpt_cli *cli, struct trpt_db *db,
    const struct trpt_alerts *a, struct trpt_err *err)
{
	struct trpt_check_config cc;
	char *done[RECHECK_MAX];
	const struct trpt_alert *al;
	struct trpt_err e1;
	const char *d;
	size_t i, j, n = 0;
	int rc;

	trpt_check_config_init(&cc);
	if ((rc = trpt_cmd_check_config(cli, &cc, err)) != TRPT_OK)
		return rc;
	for (i = 0; i < a->n && n < RECHECK_MAX; i++) {
		al = &a->v[i];
		if (!al->open || al->kind == TRPT_ALERT_SILENT ||
		    al->kind == TRPT_ALERT_RECOVERY)
			continue;
		for (j = 0; j < (al->sender ? al->others.n : 1); j++) {
			d = al->sender ? al->others.v[j].name : al->subject;
			if (d[0] == '\0' || seen(done, n, d) ||
			    n == RECHECK_MAX)
				continue;
			done[n++] = (char *)d;
			rc = trpt_recheck_domain(
			    db, NULL, &cc, d, al->sender ? NULL : &al->mx, &e1);
			if (rc == TRPT_EDB || rc == TRPT_ENOMEM) {
				*err = e1;
				return rc;
			}
			if (rc != TRPT_OK)
				trpt_cli_warn(
				    "alerts: recheck %s: %s", d, e1.msg);
		}
	}
	return TRPT_OK;
}

int
trpt_cmd_alerts_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "fail-on-alert", no_argument, NULL, 'F' },
		{ "threshold", required_argument, NULL, 't' },
		{ "min-sessions", required_argument, NULL, 'm' },
		{ "now", required_argument, NULL, 'n' },
		{ "recheck", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_alert_config ac;
	enum trpt_trend_format fmt = TRPT_FORMAT_TABLE;
	struct trpt_alerts *a = NULL;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	const char *since_arg = NULL, *now_arg = NULL;
	int64_t now = (int64_t)time(NULL), today, since;
	uint64_t v, threshold = 0, min_sessions = 0;
	int c, rc, status, fail_on_alert = 0, recheck = 0;

	trpt_alert_config_init(&ac);
	if ((status = trpt_cmd_alerts_config(cli, &ac)) != TRPT_EXIT_OK)
		return status;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			since_arg = optarg;
			break;
		case 'n':
			now_arg = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "table") == 0)
				fmt = TRPT_FORMAT_TABLE;
			else if (strcmp(optarg, "json") == 0)
				fmt = TRPT_FORMAT_JSON;
			else {
				trpt_cli_warn("alerts: --format \"%s\": "
					      "expected table or json",
				    optarg);
				return TRPT_EXIT_USAGE;
			}
			break;
		case 'F':
			fail_on_alert = 1;
			break;
		case 'R':
			recheck = 1;
			break;
		case 't':
			if ((status = parse_uint("--threshold", optarg, 1, 100,
				 &v)) != TRPT_EXIT_OK)
				return status;
			threshold = v;
			break;
		case 'm':
			if ((status = parse_uint("--min-sessions", optarg, 1,
				 UINT64_C(1) << 53, &v)) != TRPT_EXIT_OK)
				return status;
			min_sessions = v;
			break;
		case 'h':
			alerts_usage(stdout);
			return TRPT_EXIT_OK;
		default:
			alerts_usage(stderr);
			return TRPT_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		alerts_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if (threshold != 0)
		ac.drop_threshold = (double)threshold / 100.0;
	if (min_sessions != 0)
		ac.min_sessions = (int64_t)min_sessions;
	today = now / 86400;
	if (now_arg != NULL) {
		if ((status = to_day("--now", now_arg, now, &today)) !=
		    TRPT_EXIT_OK)
			return status;
		now = today * 86400;
	}
	since = today - 30;
	if (since_arg != NULL && (status = to_day("--since", since_arg, now,
				      &since)) != TRPT_EXIT_OK)
		return status;
	if ((status = trpt_cli_open_db_read(cli, &db)) != TRPT_EXIT_OK)
		return status;
	rc = trpt_trend_refresh(db, &err);
	if (rc == TRPT_OK)
		rc = trpt_alert_detect(db, &ac, since, today, &a, &err);
	if (rc == TRPT_OK && recheck && trpt_alert_open_count(a) > 0) {
		rc = recheck_open(cli, db, a, &err);
		trpt_alert_free(&a);
		if (rc == TRPT_OK) /* again, with the new evidence */
			rc = trpt_alert_detect(db, &ac, since, today, &a, &err);
	}
	if (rc == TRPT_OK)
		rc = trpt_alert_write(a,
		    fmt == TRPT_FORMAT_TABLE && trpt_cli_color(stdout)
			? TRPT_FORMAT_TABLE_COLOR
			: fmt,
		    stdout, &err);
	trpt_db_close(&db);
	if (rc != TRPT_OK) {
		trpt_alert_free(&a);
		if (trpt_cli_stdout_gone())
			return TRPT_EXIT_OK; /* "alerts | head" */
		trpt_cli_warn("alerts: %s", err.msg);
		return TRPT_EXIT_FATAL;
	}
	status = fail_on_alert && trpt_alert_open_count(a) > 0
		     ? TRPT_EXIT_REJECTED
		     : TRPT_EXIT_OK;
	trpt_alert_free(&a);
	return status;
}
