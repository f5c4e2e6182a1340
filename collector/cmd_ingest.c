#include "collector/cmd_ingest.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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
#ifndef INGEST_BATCH_MS /* a profile build sets it, to batch by count */
#define INGEST_BATCH_MS 200
#endif

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
	    "(same organization-name, report-id and start date, same content)\n"
	    "counts as a duplicate.\n"
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

	/* Most events print nothing (a stored report unless -v): they come
	 * from the store thread, one a report, so the line is only made
	 * when it is printed (the escaping was ~4% of that thread's
	 * instructions, issue 15). */
	switch (ev->kind) {
	case TRPT_EV_REJECTED:
		break;
	case TRPT_EV_STORED:
	case TRPT_EV_DUPLICATE:
		if (!ev->conflict && cli->verbose <= 0)
			return;
		break;
	case TRPT_EV_SKIPPED:
		if (cli->verbose <= 0)
			return;
		break;
	case TRPT_EV_WARNING:
		if (cli->verbose <= 1)
			return;
		break;
	}
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
	struct trpt_dkim_stats ds;

	if (cli->verbose < 0)
		return;
	printf("ingested %" PRIu64 ", duplicates %" PRIu64
	       ", rejected %" PRIu64,
	    p->stats.stored, p->stats.duplicates, p->stats.rejected);
	if (p->stats.conflicts > 0)
		printf(", conflicting copies %" PRIu64, p->stats.conflicts);
	printf("\n");
	if (cli->verbose > 0 && p->dkim != NULL) {
		trpt_dkim_stats(p->dkim, &ds);
		fprintf(stderr,
		    "dkim: %" PRIu64 " e-mails verified, %" PRIu64
		    " key lookups, %" PRIu64 " from the cache, %" PRIu64
		    " DNS queries (%" PRIu64 " failed for now)\n",
		    ds.messages, ds.lookups, ds.cache_hits, ds.dns_queries,
		    ds.dns_temp);
	}
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
	struct trpt_dkim *dkim = NULL;
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
	if ((status = trpt_cli_dkim(cli, &dkim)) != TRPT_EXIT_OK)
		return status;
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK) {
		trpt_dkim_free(&dkim);
		return status;
	}
	trpt_pipeline_init(&p, db, &cli->limits);
	p.dkim = dkim;
	p.on_event = trpt_cmd_ingest_print_event;
	p.arg = cli;
	/* Bulk imports commit in batches: one transaction per report would
	 * write the same B-tree pages to the WAL again for every report. */
	p.batch_max = INGEST_BATCH_MAX;
	p.batch_ms = INGEST_BATCH_MS;
	/* Read and parse the next inputs while a batch is stored, and copy
	 * the log into the database beside them. */
	if ((rc = trpt_pipeline_async_start_with(
		 &p, TRPT_ASYNC_CHECKPOINT, &err)) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		trpt_db_close(&db);
		trpt_dkim_free(&dkim);
		return TRPT_EXIT_FATAL;
	}
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
	trpt_pipeline_async_stop(&p);
	print_summary(cli, &p);
	if (status == TRPT_EXIT_OK && p.stats.rejected > 0)
		status = TRPT_EXIT_REJECTED;
	trpt_db_close(&db);
	trpt_dkim_free(&dkim);
	return status;
}

static void
reprocess_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector reprocess [--accept-unsigned] [ID...]\n"
	    "\n"
	    "Runs quarantined inputs through the pipeline again (all of them,\n"
	    "or the quarantine ids given), after an upgrade, a change of\n"
	    "limits, or when a DKIM key could not be fetched before.  Inputs\n"
	    "that now pass are stored and leave the quarantine; the others\n"
	    "stay, with the new reason.  Prints \"reprocessed N: passed P,\n"
	    "still rejected R\".\n"
	    "\n"
	    "  --accept-unsigned  store the reports of the given ids although\n"
	    "                     their DKIM signature is missing, fails or\n"
	    "                     does not align (an operator's decision,\n"
	    "                     recorded with the report); needs ids\n"
	    "\n"
	    "Exit status: 0 all passed, 1 some still rejected, 2 usage (an\n"
	    "id not in quarantine), 3 fatal.\n");
}

int
trpt_cmd_ingest_reprocess(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "accept-unsigned", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_pipeline p;
	struct trpt_db *db = NULL;
	struct trpt_dkim *dkim = NULL;
	struct trpt_err err;
	uint64_t passed = 0, failed = 0, ok1, bad1;
	int64_t id;
	char *end;
	int c, i, rc, status, accept = 0;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			accept = 1;
			break;
		case 'h':
			reprocess_usage(stdout);
			return TRPT_EXIT_OK;
		default:
			reprocess_usage(stderr);
			return TRPT_EXIT_USAGE;
		}
	}
	for (i = optind; i < argc; i++) {
		if (!isdigit((unsigned char)argv[i][0]) ||
		    strtoll(argv[i], &end, 10) <= 0 || *end != '\0') {
			trpt_cli_warn(
			    "reprocess: %s: not a quarantine id", argv[i]);
			return TRPT_EXIT_USAGE;
		}
	}
	if (accept && optind >= argc) {
		trpt_cli_warn("reprocess: --accept-unsigned needs the "
			      "quarantine ids to release");
		return TRPT_EXIT_USAGE;
	}
	if ((status = trpt_cli_dkim(cli, &dkim)) != TRPT_EXIT_OK)
		return status;
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK) {
		trpt_dkim_free(&dkim);
		return status;
	}
	trpt_pipeline_init(&p, db, &cli->limits);
	p.dkim = dkim;
	p.on_event = trpt_cmd_ingest_print_event;
	p.arg = cli;
	if (accept)
		p.flags |= TRPT_PIPE_ACCEPT_UNSIGNED;
	if (optind >= argc)
		rc = trpt_pipeline_reprocess(&p, &passed, &failed, &err);
	else
		for (rc = TRPT_OK, i = optind; i < argc && rc == TRPT_OK; i++) {
			id = strtoll(argv[i], NULL, 10);
			rc = trpt_pipeline_reprocess_id(
			    &p, id, &ok1, &bad1, &err);
			passed += ok1;
			failed += bad1;
		}
	if (rc == TRPT_ENOTFOUND) {
		trpt_cli_warn("reprocess: %s", err.msg);
		status = TRPT_EXIT_USAGE;
	} else if (rc != TRPT_OK) {
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
	trpt_dkim_free(&dkim);
	return status;
}
