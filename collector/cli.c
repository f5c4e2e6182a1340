#include "collector/cli.h"

#include <ctype.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/cmd_alerts.h"
#include "collector/cmd_check.h"
#include "collector/cmd_check_config.h"
#include "collector/cmd_export.h"
#include "collector/cmd_fetch.h"
#include "collector/cmd_ingest.h"
#include "collector/cmd_migrate_db.h"
#include "collector/cmd_ops.h"
#include "collector/cmd_report.h"
#include "collector/cmd_run.h"
#include "collector/cmd_serve.h"
#include "collector/cmd_stats.h"
#include "collector/cmd_summary.h"
#include "collector/cmd_trends.h"
#include "collector/dashboard.h"
#include "common/text.h"

#ifndef TRPT_VERSION
#error "TRPT_VERSION comes from meson.build (project version)"
#endif
#ifndef TRPT_STATEDIR
#error "TRPT_STATEDIR comes from meson.build (statedir option)"
#endif
#define TRPT_DB_DEFAULT TRPT_STATEDIR "/tlsrpt.db"

struct command {
	const char *name;
	int (*run)(struct trpt_cli *cli, int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "ingest", trpt_cmd_ingest_run,
	    "store reports from files, directories, mbox, Maildir or stdin" },
	{ "reprocess", trpt_cmd_ingest_reprocess,
	    "run quarantined inputs again and store those that now pass" },
	{ "fetch", trpt_cmd_fetch_run,
	    "fetch new reports from the configured IMAP and HTTPS sources" },
	{ "serve", trpt_cmd_serve_run,
	    "receive reports POSTed over HTTPS; the web dashboard" },
	{ "run", trpt_cmd_run_run,
	    "run as a service: receiver, IMAP (IDLE) and pull sources" },
	{ "dashboard-password", trpt_dashboard_password_run,
	    "a password line for the dashboard's password_file" },
	{ "export", trpt_cmd_export_run,
	    "write policies or failures as CSV for analysts" },
	{ "trends", trpt_cmd_trends_run, "success rates per period and group" },
	{ "alerts", trpt_cmd_alerts_run,
	    "drops, new failures, silent senders" },
	{ "check", trpt_cmd_check_run,
	    "test a domain live as senders do (DNS, MTA-STS, STARTTLS, DANE)" },
	{ "summary", trpt_cmd_summary_run, "the weekly summary e-mail" },
	{ "report", trpt_cmd_report_run,
	    "report html: the dashboard's views in one HTML file; report "
	    "show ID: one report, its origin and DKIM verdict" },
	{ "stats", trpt_cmd_stats_run,
	    "what is stored, per reporting organisation and domain" },
	{ "quarantine", trpt_cmd_quarantine_run,
	    "list, show, export or drop refused inputs" },
	{ "warnings", trpt_cmd_warnings_run,
	    "leniencies applied to stored reports" },
	{ "prune", trpt_cmd_prune_run,
	    "drop old raw bytes and reports, keeping the rollups" },
	{ "backup", trpt_cmd_backup_run,
	    "copy the database (SQLite online backup)" },
	{ "migrate-db", trpt_cmd_migrate_db_run,
	    "copy a SQLite database into an empty PostgreSQL database" },
	{ "check-config", trpt_cmd_check_config_run,
	    "check the configuration file and the files it names" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: tlsrpt-collector [--db PATH] [--config FILE] [-v|-q] "
	    "COMMAND [ARGS]\n"
	    "\n"
	    "Collects SMTP TLS reports (RFC 8460) into a SQLite database.\n"
	    "\n"
	    "Options:\n"
	    "  --db PATH       database (default: $TLSRPT_DB, else db in the\n"
	    "                  configuration, else " TRPT_DB_DEFAULT ")\n"
	    "  --config FILE   configuration (default: " TRPT_CONFIG_DEFAULT
	    "\n"
	    "                  when it exists)\n"
	    "  -v, --verbose   say more (repeat for more)\n"
	    "  -q, --quiet     only errors\n"
	    "  -h, --help      this help; COMMAND --help for a command\n"
	    "  -V, --version   print the version\n"
	    "\n"
	    "Commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(
		    f, "  %-12s  %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	    "\n"
	    "Exit status: 0 success; 1 some input was rejected (kept in "
	    "quarantine);\n"
	    "2 usage or configuration error; 3 fatal error (database, I/O, "
	    "network).\n");
}

/* "<3>" under run (journald's priority prefix), else "". */
static const char *warn_prefix = "";

void
trpt_cli_warn_journal(int on)
{
	warn_prefix = on ? "<3>" : "";
}

void
trpt_cli_warn(const char *fmt, ...)
{
	char msg[2048], shown[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages carry text from outside (report fields, server answers,
	 * URLs): one line, no control characters, no credentials. */
	fprintf(stderr, "%stlsrpt-collector: %s\n", warn_prefix,
	    trpt_text_message(msg, shown, sizeof(shown)));
}

int
trpt_cli_split_list(const char *v, char **out, size_t max, size_t *n)
{
	const char *p = v, *e;
	size_t len;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		e = strchr(p, ',');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (*n == max)
			return TRPT_ELIMIT;
		if ((out[*n] = strndup(p, len)) == NULL)
			return TRPT_ENOMEM;
		(*n)++;
		p += len;
	}
	return TRPT_OK;
}

char *
trpt_cli_domain_arg(char *s)
{
	size_t n = strlen(s), i;

	while (n > 0 && s[n - 1] == '.')
		s[--n] = '\0';
	for (i = 0; i < n; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	return s;
}

int
trpt_cli_exit_for(int rc)
{
	return rc == TRPT_EINVAL ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
}

int
trpt_cli_open_db(const struct trpt_cli *cli, struct trpt_db **out)
{
	struct trpt_err err;

	if (trpt_db_open(cli->db_path, out, &err) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return TRPT_EXIT_FATAL;
	}
	return TRPT_EXIT_OK;
}

int
trpt_cli_stdout_gone(void)
{
	struct pollfd p = { STDOUT_FILENO, POLLOUT, 0 };

	/* A pipe whose reader has closed polls as an error. */
	return poll(&p, 1, 0) == 1 && (p.revents & POLLERR) != 0;
}

int
trpt_cli_open_db_read(const struct trpt_cli *cli, struct trpt_db **out)
{
	struct trpt_err err;
	int rc;

	if ((rc = trpt_db_open_existing(cli->db_path, out, &err)) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return rc == TRPT_ENOTFOUND ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
	}
	return TRPT_EXIT_OK;
}

int
trpt_cli_dkim(const struct trpt_cli *cli, struct trpt_dkim **out)
{
	struct trpt_conf_dkim k;
	struct trpt_dkim_config dc;
	struct trpt_err err;
	int rc;

	*out = NULL;
	trpt_dkim_config_default(&dc);
	if ((rc = trpt_config_read(
		 cli->cfg, NULL, "dkim", &k, sizeof(k), &err)) != TRPT_OK)
		goto bad;
	dc.require = (enum trpt_dkim_require)k.require;
	dc.nameserver = k.nameserver;
	dc.timeout_ms = k.timeout * 1000;
	dc.cache_max = k.cache;
	if (dc.require == TRPT_DKIM_REQUIRE_NO)
		return TRPT_EXIT_OK;
	if ((rc = trpt_dkim_new(&dc, out, &err)) != TRPT_OK)
		goto bad;
	return TRPT_EXIT_OK;
bad:
	trpt_cli_warn("%s", err.msg);
	return rc == TRPT_EINVAL ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
}

static int
load_config(struct trpt_cli *cli, const char *path)
{
	struct trpt_err err;
	int rc;

	if (path == NULL) {
		path = getenv("TLSRPT_CONFIG");
		if (path == NULL && access(TRPT_CONFIG_DEFAULT, F_OK) == 0)
			path = TRPT_CONFIG_DEFAULT;
	}
	if (path == NULL)
		rc = trpt_config_empty(&cli->cfg, &err);
	else
		rc = trpt_config_load(path, &cli->cfg, &err);
	if (rc == TRPT_OK)
		rc = trpt_config_limits(cli->cfg, &cli->limits, &err);
	if (rc != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return rc == TRPT_ENOMEM ? TRPT_EXIT_FATAL : TRPT_EXIT_USAGE;
	}
	return TRPT_EXIT_OK;
}

int
trpt_cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_cli cli;
	const char *config_path = NULL;
	size_t i;
	int c, rc;

	memset(&cli, 0, sizeof(cli));
	trpt_limits_default(&cli.limits);

	/* "+" stops at the command name: its options are its own. */
	while ((c = getopt_long(argc, argv, "+d:c:vqhV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cli.db_path = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'v':
			cli.verbose++;
			break;
		case 'q':
			cli.verbose = -1;
			break;
		case 'h':
			usage(stdout);
			return TRPT_EXIT_OK;
		case 'V':
			printf("tlsrpt-collector %s\n", TRPT_VERSION);
			return TRPT_EXIT_OK;
		default:
			usage(stderr);
			return TRPT_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		trpt_cli_warn(
		    "unknown command \"%s\" (see --help)", argv[optind]);
		return TRPT_EXIT_USAGE;
	}
	if ((rc = load_config(&cli, config_path)) != TRPT_EXIT_OK) {
		trpt_config_free(&cli.cfg);
		return rc;
	}
	/* --db, else $TLSRPT_DB, else db in the configuration, else the
	 * state directory of the installed service: never a database that
	 * happens to be in the current directory. */
	if (cli.db_path == NULL || cli.db_path[0] == '\0')
		cli.db_path = getenv("TLSRPT_DB");
	if (cli.db_path == NULL || cli.db_path[0] == '\0')
		cli.db_path = trpt_config_db(cli.cfg);
	if (cli.db_path == NULL || cli.db_path[0] == '\0')
		cli.db_path = TRPT_DB_DEFAULT;
	argc -= optind;
	argv += optind;
	optind = 0; /* reset getopt for the command (glibc: 0 reinitialises) */
	rc = commands[i].run(&cli, argc, argv);
	trpt_config_free(&cli.cfg);
	return rc;
}

int
trpt_cli_color(FILE *f)
{
	const char *term = getenv("TERM"), *no = getenv("NO_COLOR");

	return isatty(fileno(f)) && (no == NULL || no[0] == '\0') &&
	       term != NULL && strcmp(term, "dumb") != 0;
}
