#include "collector/cmd_ingest.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/text.h"
#include "ingest/files.h"
#include "ingest/pipeline.h"

/*
 * A batch is committed after this many inputs or milliseconds, whichever
 * comes first: short enough that another writer (a second ingest, serve)
 * waits well under its busy timeout, long enough to write each B-tree page
 * once per batch rather than once per report.
 */
#define INGEST_BATCH_MAX 1000
#define INGEST_BATCH_MS  200

static void
ingest_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector ingest PATH... | -\n"
	    "\n"
	    "Stores every TLS report found in PATH: a report (.json or gzip),\n"
	    "a report e-mail, an mbox, a Maildir or any directory (walked\n"
	    "recursively), or standard input for \"-\".  Inputs are "
	    "recognised\n"
	    "by their bytes, never by their names.  A report already stored\n"
	    "(same organization-name and report-id) counts as a duplicate.\n"
	    "Rejected inputs are kept in quarantine with the reason; run\n"
	    "\"reprocess\" after a fix.\n"
	    "\n"
	    "Prints one line per rejected input on stderr,\n"
	    "  PATH[: message N][: part N]: rejected: REASON\n"
	    "and ends with \"ingested N, duplicates D, rejected R\".\n"
	    "Exit status: 0 nothing rejected, 1 some input rejected, 2 usage,\n"
	    "3 fatal (database, I/O).\n");
}

void
trpt_cmd_ingest_print_event(void *arg, const struct trpt_event *ev)
{
	const struct trpt_cli *cli = arg;
	char where[64] = "";
	char part[32] = "";
	char src[1024], reason[1024], id[512], org[512];

	if (ev->message > 0)
		snprintf(where, sizeof(where), ": message %d", ev->message);
	if (ev->part > 0)
		snprintf(part, sizeof(part), ": part %d", ev->part);
	/* Every field may come from the input: one line each, escaped. */
	trpt_text_message(ev->source, src, sizeof(src));
	trpt_text_message(ev->reason, reason, sizeof(reason));
	trpt_text_escape(ev->report_id, id, sizeof(id));
	trpt_text_escape(ev->org, org, sizeof(org));
	switch (ev->kind) {
	case TRPT_EV_REJECTED:
		fprintf(
		    stderr, "%s%s%s: rejected: %s\n", src, where, part, reason);
		break;
	case TRPT_EV_STORED:
	case TRPT_EV_DUPLICATE:
		if (ev->conflict) /* shown always: it may be a forgery */
			fprintf(stderr,
			    "%s%s%s: conflicting copy of report %s from %s "
			    "stored: its content differs from the copy stored "
			    "before\n",
			    src, where, part, id, org);
		else if (cli->verbose > 0)
			fprintf(stderr, "%s%s%s: %s report %s from %s\n", src,
			    where, part,
			    ev->kind == TRPT_EV_STORED ? "stored" : "duplicate",
			    id, org);
		break;
	case TRPT_EV_SKIPPED:
		if (cli->verbose > 0)
			fprintf(
			    stderr, "%s%s: skipped: %s\n", src, where, reason);
		break;
	case TRPT_EV_WARNING:
		if (cli->verbose > 1)
			fprintf(stderr, "%s%s%s: warning: %s\n", src, where,
			    part, reason);
		break;
	}
}

static void
print_summary(const struct trpt_cli *cli, const struct trpt_pipeline *p)
{
	if (cli->verbose < 0)
		return;
	printf("ingested %" PRIu64 ", duplicates %" PRIu64
	       ", rejected %" PRIu64,
	    p->stats.stored, p->stats.duplicates, p->stats.rejected);
	if (p->stats.conflicts > 0)
		printf(", conflicting copies %" PRIu64, p->stats.conflicts);
	printf("\n");
}

static int
only_help(int argc, char **argv, void (*help)(FILE *))
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			help(stdout);
			return TRPT_EXIT_OK;
		}
		help(stderr);
		return TRPT_EXIT_USAGE;
	}
	return -1;
}

int
trpt_cmd_ingest_run(struct trpt_cli *cli, int argc, char **argv)
{
	struct trpt_pipeline p;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	int i, rc, status;

	if ((rc = only_help(argc, argv, ingest_usage)) >= 0)
		return rc;
	if (optind >= argc) {
		ingest_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	/* A path that does not exist is a mistyped argument, not an input
	 * to quarantine: refuse the run before anything is stored. */
	for (i = optind; i < argc; i++)
		if (strcmp(argv[i], "-") != 0 && access(argv[i], F_OK) != 0 &&
		    errno == ENOENT) {
			trpt_cli_warn(
			    "ingest: %s: no such file or directory", argv[i]);
			return TRPT_EXIT_USAGE;
		}
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK)
		return status;
	trpt_pipeline_init(&p, db, &cli->limits);
	p.on_event = trpt_cmd_ingest_print_event;
	p.arg = cli;
	/* Bulk imports commit in batches: one transaction per report would
	 * write the same B-tree pages to the WAL again for every report. */
	p.batch_max = INGEST_BATCH_MAX;
	p.batch_ms = INGEST_BATCH_MS;
	for (i = optind; i < argc; i++) {
		rc = trpt_files_ingest(&p, argv[i], &err);
		if (rc != TRPT_OK) {
			trpt_cli_warn("%s", err.msg);
			status = TRPT_EXIT_FATAL;
			break;
		}
	}
	if ((rc = trpt_pipeline_flush(&p, &err)) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		status = TRPT_EXIT_FATAL;
	}
	print_summary(cli, &p);
	if (status == TRPT_EXIT_OK && p.stats.rejected > 0)
		status = TRPT_EXIT_REJECTED;
	trpt_db_close(&db);
	return status;
}

static void
reprocess_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector reprocess\n"
	    "\n"
	    "Runs every quarantined input through the pipeline again, after\n"
	    "an upgrade or a change of limits.  Inputs that now pass are\n"
	    "stored and leave the quarantine; the others stay, with the new\n"
	    "reason.  Prints \"reprocessed N: passed P, still rejected R\".\n"
	    "Exit status: 0 all passed, 1 some still rejected, 3 fatal.\n");
}

int
trpt_cmd_ingest_reprocess(struct trpt_cli *cli, int argc, char **argv)
{
	struct trpt_pipeline p;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	uint64_t passed = 0, failed = 0;
	int rc, status;

	if ((rc = only_help(argc, argv, reprocess_usage)) >= 0)
		return rc;
	if (optind < argc) {
		reprocess_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK)
		return status;
	trpt_pipeline_init(&p, db, &cli->limits);
	p.on_event = trpt_cmd_ingest_print_event;
	p.arg = cli;
	rc = trpt_pipeline_reprocess(&p, &passed, &failed, &err);
	if (rc != TRPT_OK) {
		trpt_cli_warn("reprocess: %s", err.msg);
		status = TRPT_EXIT_FATAL;
	} else if (failed > 0)
		status = TRPT_EXIT_REJECTED;
	if (cli->verbose >= 0)
		printf("reprocessed %" PRIu64 ": passed %" PRIu64
		       ", still rejected %" PRIu64 " (new reports %" PRIu64
		       ", duplicates %" PRIu64 ")\n",
		    passed + failed, passed, failed, p.stats.stored,
		    p.stats.duplicates);
	trpt_db_close(&db);
	return status;
}
