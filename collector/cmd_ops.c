#include "collector/cmd_ops.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/datetime.h"
#include "report/trend.h"
#include "schema/maintain.h"
#include "schema/store.h"

/*
 * Text from reports and senders shown on a terminal: control characters
 * escaped, so that nothing a stranger sent moves the cursor or forges a
 * line.
 */
static void
put_safe(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static int
parse_id(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0)
		return -1;
	*out = v;
	return 0;
}

/* ---- quarantine ----------------------------------------------------- */

struct qctx {
	int64_t want; /* 0: every input */
	int found;
	int mode; /* 0 list, 1 show, 2 export, 3 drop */
	FILE *out;
	struct trpt_db *db;
	struct trpt_err *err;
};

static int
q_row(void *arg, const struct trpt_quarantined *q)
{
	struct qctx *x = arg;
	char when[32];
	size_t i;
	int rc;

	if (x->want != 0 && q->id != x->want)
		return TRPT_OK;
	x->found = 1;
	trpt_datetime_format(q->origin.received, when, sizeof(when));
	switch (x->mode) {
	case 0:
		fprintf(x->out, "%-6" PRId64 " %s %8zu  ", q->id, when, q->len);
		put_safe(x->out, q->origin.kind);
		fputc(':', x->out);
		put_safe(x->out, q->origin.source);
		if (q->parts[0].part > 0)
			fprintf(x->out, ": part %d", q->parts[0].part);
		fputs(": ", x->out);
		put_safe(x->out, q->parts[0].reason);
		if (q->nparts > 1)
			fprintf(x->out, " (and %zu more part%s)", q->nparts - 1,
			    q->nparts == 2 ? "" : "s");
		fputc('\n', x->out);
		break;
	case 1:
		fprintf(x->out, "id:          %" PRId64 "\n", q->id);
		fprintf(x->out, "received:    %s\n", when);
		fputs("source:      ", x->out);
		put_safe(x->out, q->origin.kind);
		fputc(':', x->out);
		put_safe(x->out, q->origin.source);
		fprintf(x->out, "\nsize:        %zu bytes\n", q->len);
		if (q->origin.message_id != NULL) {
			fputs("message-id:  ", x->out);
			put_safe(x->out, q->origin.message_id);
			fputc('\n', x->out);
		}
		if (q->origin.report_domain != NULL) {
			fputs("tls-report-domain: ", x->out);
			put_safe(x->out, q->origin.report_domain);
			fputc('\n', x->out);
		}
		if (q->origin.filename != NULL) {
			fputs("filename:    ", x->out);
			put_safe(x->out, q->origin.filename);
			fputc('\n', x->out);
		}
		for (i = 0; i < q->nparts; i++) {
			if (q->parts[i].part > 0)
				fprintf(x->out,
				    "reason (part %d): ", q->parts[i].part);
			else
				fputs("reason:      ", x->out);
			put_safe(x->out, q->parts[i].reason);
			fputc('\n', x->out);
		}
		break;
	case 2:
		if (q->len > 0 && fwrite(q->bytes, 1, q->len, x->out) != q->len)
			return trpt_err_set(
			    x->err, TRPT_EIO, "write: %s", strerror(errno));
		break;
	case 3:
		/* Each rejected part; the bytes go with the last. */
		for (i = 0; i < q->nparts; i++)
			if ((rc = trpt_store_quarantine_delete(
				 x->db, q->parts[i].id, x->err)) != TRPT_OK)
				return rc;
		break;
	}
	return x->want != 0 ? TRPT_ENOTFOUND : TRPT_OK; /* stop at the row */
}

static void
quarantine_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector quarantine list\n"
	    "       tlsrpt-collector quarantine show ID\n"
	    "       tlsrpt-collector quarantine export ID [-o FILE]\n"
	    "       tlsrpt-collector quarantine drop ID\n"
	    "\n"
	    "The inputs that were refused, kept with their bytes and the\n"
	    "reason.  list shows one line per input (id, time received, size,\n"
	    "source, reason); show one input in full; export writes its bytes\n"
	    "as received (to standard output, or FILE); drop deletes it.\n"
	    "\"reprocess\" runs them all again after a fix.\n"
	    "Exit status: 0 done, 1 no such ID, 2 usage, 3 fatal.\n");
}

int
trpt_cmd_quarantine_run(struct trpt_cli *cli, int argc, char **argv)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;
	struct qctx x;
	const char *sub, *output = NULL;
	int64_t id = 0;
	int rc, status, c;

	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (c == 'h') {
			quarantine_usage(stdout);
			return TRPT_EXIT_OK;
		}
		if (c == 'o') {
			output = optarg;
			continue;
		}
		quarantine_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if (optind >= argc) {
		quarantine_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	sub = argv[optind++];
	memset(&x, 0, sizeof(x));
	x.out = stdout;
	if (strcmp(sub, "list") == 0 && optind == argc)
		x.mode = 0;
	else if ((strcmp(sub, "show") == 0 || strcmp(sub, "export") == 0 ||
		     strcmp(sub, "drop") == 0) &&
		 optind + 1 == argc && parse_id(argv[optind], &id) == 0)
		x.mode = sub[0] == 's' ? 1 : sub[0] == 'e' ? 2 : 3;
	else {
		quarantine_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if (output != NULL && x.mode != 2) {
		trpt_cli_warn("quarantine: -o goes with export");
		return TRPT_EXIT_USAGE;
	}
	x.want = id;
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK)
		return status;
	x.db = db;
	x.err = &err;
	{
		if (output != NULL && (x.out = fopen(output, "wbx")) == NULL) {
			trpt_cli_warn(
			    "quarantine: %s: %s", output, strerror(errno));
			trpt_db_close(&db);
			return TRPT_EXIT_FATAL;
		}
		rc = trpt_store_quarantine_each(db, q_row, &x, &err);
		if (rc == TRPT_ENOTFOUND && x.found)
			rc = TRPT_OK;
		if (rc == TRPT_OK && x.want != 0 && !x.found)
			rc = trpt_err_set(&err, TRPT_ENOTFOUND,
			    "quarantine: no input %" PRId64, id);
		if (x.out != stdout && fclose(x.out) != 0 && rc == TRPT_OK)
			rc = trpt_err_set(&err, TRPT_EIO, "quarantine: %s: %s",
			    output, strerror(errno));
		if (rc == TRPT_OK && fflush(stdout) != 0)
			rc = trpt_err_set(&err, TRPT_EIO,
			    "quarantine: standard output: %s", strerror(errno));
	}
	trpt_db_close(&db);
	if (rc == TRPT_ENOTFOUND) {
		trpt_cli_warn("%s", err.msg);
		return TRPT_EXIT_REJECTED;
	}
	if (rc != TRPT_OK) {
		trpt_cli_warn("quarantine: %s", err.msg);
		return trpt_cli_exit_for(rc);
	}
	if (x.mode == 3 && cli->verbose >= 0)
		printf("dropped quarantined input %" PRId64 "\n", id);
	return TRPT_EXIT_OK;
}

/* ---- warnings ------------------------------------------------------- */

static int
w_row(void *arg, const struct trpt_warning_row *w)
{
	char day[16];

	(void)arg;
	trpt_datetime_format_day(w->begin, day, sizeof(day));
	printf("%s  ", day);
	put_safe(stdout, w->org);
	fputs("  ", stdout);
	put_safe(stdout, w->report_id);
	fputs(": ", stdout);
	put_safe(stdout, w->message);
	fputc('\n', stdout);
	return TRPT_OK;
}

int
trpt_cmd_warnings_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_db *db = NULL;
	struct trpt_err err;
	int64_t since = 0;
	int c, rc, status;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 's') {
			if (trpt_datetime_parse_user(optarg,
				(int64_t)time(NULL), &since, &err) != TRPT_OK) {
				trpt_cli_warn("warnings: --since: %s", err.msg);
				return TRPT_EXIT_USAGE;
			}
			continue;
		}
		fprintf(c == 'h' ? stdout : stderr,
		    "usage: tlsrpt-collector warnings [--since DATE]\n"
		    "\n"
		    "The leniencies applied to stored reports (dates without\n"
		    "an offset, totals that disagree with the details, "
		    "unknown\n"
		    "keys, ...): one line per warning, with the report's day,\n"
		    "organisation and report-id.\n");
		return c == 'h' ? TRPT_EXIT_OK : TRPT_EXIT_USAGE;
	}
	if (optind != argc) {
		trpt_cli_warn("warnings: no arguments expected");
		return TRPT_EXIT_USAGE;
	}
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK)
		return status;
	rc = trpt_maintain_warnings_each(db, since, w_row, NULL, &err);
	trpt_db_close(&db);
	if (rc == TRPT_OK && fflush(stdout) != 0)
		rc = trpt_err_set(
		    &err, TRPT_EIO, "standard output: %s", strerror(errno));
	if (rc != TRPT_OK) {
		trpt_cli_warn("warnings: %s", err.msg);
		return trpt_cli_exit_for(rc);
	}
	return TRPT_EXIT_OK;
}

/* ---- prune, backup -------------------------------------------------- */

int
trpt_cmd_prune_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "before", required_argument, NULL, 'b' },
		{ "reports", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_prune_counts pc;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	int64_t before = 0;
	int c, rc, status, reports = 0, have = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (trpt_datetime_parse_user(optarg,
				(int64_t)time(NULL), &before,
				&err) != TRPT_OK) {
				trpt_cli_warn("prune: --before: %s", err.msg);
				return TRPT_EXIT_USAGE;
			}
			have = 1;
			break;
		case 'r':
			reports = 1;
			break;
		default:
			fprintf(c == 'h' ? stdout : stderr,
			    "usage: tlsrpt-collector prune --before DATE "
			    "[--reports]\n"
			    "\n"
			    "Keeps the database small.  Drops the raw bytes of "
			    "inputs\n"
			    "received before DATE (their hash, size and "
			    "provenance\n"
			    "stay); with --reports also the reports whose day "
			    "is\n"
			    "before DATE, their policies, failures and "
			    "warnings.  The\n"
			    "daily rollups (trends, alerts, summaries) are "
			    "kept.  Then\n"
			    "VACUUM gives the space back.  DATE is YYYY-MM-DD, "
			    "a\n"
			    "date-time or -Nd.  Prints what was dropped.\n");
			return c == 'h' ? TRPT_EXIT_OK : TRPT_EXIT_USAGE;
		}
	}
	if (!have || optind != argc) {
		trpt_cli_warn("prune: give --before DATE");
		return TRPT_EXIT_USAGE;
	}
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK)
		return status;
	rc = trpt_maintain_prune(db, before, reports, &pc, &err);
	trpt_db_close(&db);
	if (rc != TRPT_OK) {
		trpt_cli_warn("prune: %s", err.msg);
		return trpt_cli_exit_for(rc);
	}
	if (cli->verbose >= 0)
		printf("pruned: raw bytes of %" PRId64 " inputs, %" PRId64
		       " reports, %" PRId64 " inputs without reports\n",
		    pc.raw_emptied, pc.reports_deleted, pc.raw_deleted);
	return TRPT_EXIT_OK;
}

int
trpt_cmd_backup_run(struct trpt_cli *cli, int argc, char **argv)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;
	int rc, status;

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		printf("usage: tlsrpt-collector backup PATH\n"
		       "\n"
		       "Copies the database to PATH (which must not exist) "
		       "with\n"
		       "SQLite's online backup: the service may go on "
		       "writing\n"
		       "meanwhile.  PATH appears only once complete.\n");
		return TRPT_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-') {
		trpt_cli_warn("usage: tlsrpt-collector backup PATH");
		return TRPT_EXIT_USAGE;
	}
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK)
		return status;
	rc = trpt_maintain_backup(db, argv[1], &err);
	trpt_db_close(&db);
	if (rc != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return rc == TRPT_EINVAL ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
	}
	if (cli->verbose >= 0)
		printf("backup written to %s\n", argv[1]);
	return TRPT_EXIT_OK;
}
