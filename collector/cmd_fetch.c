#include "collector/cmd_fetch.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "collector/cmd_ingest.h"
#include "collector/fetch_https.h"
#include "collector/fetch_imap.h"
#include "ingest/pipeline.h"

/*
 * One entry per section type that names a source.  check (may be NULL)
 * validates a section before anything is opened or fetched; run fetches.
 * Both return an enum trpt_exit and print their own failure line.
 */
struct fetcher {
	const char *type;
	int (*check)(
	    struct trpt_cli *cli, const struct trpt_config_section *sec);
	int (*run)(struct trpt_cli *cli, const struct trpt_config_section *sec,
	    struct trpt_pipeline *p);
};

static const struct fetcher fetchers[] = {
	{ "imap", trpt_fetch_imap_check, trpt_fetch_imap_run },
	{ "https", trpt_fetch_https_check, trpt_fetch_https_run },
};

#define NFETCHERS (sizeof(fetchers) / sizeof(fetchers[0]))

static void
fetch_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector [--config FILE] fetch [--check] "
	    "[SOURCE...]\n"
	    "\n"
	    "Runs the sources of the configuration file once: every [imap "
	    "\"NAME\"]\n"
	    "section, or only those named.  The configuration is --config "
	    "FILE,\n"
	    "else $TLSRPT_CONFIG, else " TRPT_CONFIG_DEFAULT ";\n"
	    "see examples/tlsrpt-collector.conf.  --check only validates it\n"
	    "(keys, values, password files) without any network access.\n"
	    "\n"
	    "Each run takes only the messages that arrived since the last "
	    "one\n"
	    "(per mailbox, by UID).  Mail that is not a TLS report is skipped "
	    "and\n"
	    "counted; a message that claims to be one but fails is kept in\n"
	    "quarantine as \"SOURCE/MAILBOX/UID\".  On a terminal a progress "
	    "line\n"
	    "is shown.  Ends with \"ingested N, duplicates D, rejected R, "
	    "skipped S\".\n"
	    "\n"
	    "Exit status: 0 done, 1 some input rejected, 2 usage or "
	    "configuration\n"
	    "error, 3 a source failed (connection, timeout, certificate, "
	    "login,\n"
	    "mailbox, database): one line names the source and the cause.\n");
}

static const struct fetcher *
fetcher_for(const char *type)
{
	size_t i;

	for (i = 0; i < NFETCHERS; i++)
		if (strcmp(fetchers[i].type, type) == 0)
			return &fetchers[i];
	return NULL;
}

/* The source section called name, of any fetchable type, or NULL. */
static const struct trpt_config_section *
find_source(const struct trpt_config *cfg, const char *name)
{
	const struct trpt_config_section *sec;
	size_t i;

	for (i = 0; i < trpt_config_count(cfg); i++) {
		sec = trpt_config_at(cfg, i);
		if (fetcher_for(sec->type) != NULL &&
		    strcmp(sec->name, name) == 0)
			return sec;
	}
	return NULL;
}

static int
worse(int a, int b)
{
	return a > b ? a : b;
}

int
trpt_cmd_fetch_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "check", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct trpt_config_section *sec;
	struct trpt_pipeline p;
	struct trpt_db *db = NULL;
	struct trpt_dkim *dkim = NULL;
	size_t i, nsources = 0;
	int c, status, st, check_only = 0;

	while ((c = getopt_long(argc, argv, "+hn", opts, NULL)) != -1) {
		if (c == 'h') {
			fetch_usage(stdout);
			return TRPT_EXIT_OK;
		}
		if (c == 'n') {
			check_only = 1;
			continue;
		}
		fetch_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	/* Every named source must exist before anything is fetched. */
	for (c = optind; c < argc; c++)
		if (find_source(cli->cfg, argv[c]) == NULL) {
			trpt_cli_warn("fetch: no source \"%s\" in %s", argv[c],
			    trpt_config_path(cli->cfg));
			return TRPT_EXIT_USAGE;
		}
	for (i = 0; i < trpt_config_count(cli->cfg); i++)
		if (fetcher_for(trpt_config_at(cli->cfg, i)->type) != NULL)
			nsources++;
	if (nsources == 0) {
		trpt_cli_warn("fetch: no [imap \"NAME\"] source in %s",
		    trpt_config_path(cli->cfg));
		return TRPT_EXIT_USAGE;
	}
	/* A configuration error in any source stops the run before the
	 * database is opened: nothing is half done. */
	for (i = 0; i < trpt_config_count(cli->cfg); i++) {
		const struct fetcher *f;

		sec = trpt_config_at(cli->cfg, i);
		f = fetcher_for(sec->type);
		if (f != NULL && f->check != NULL &&
		    (st = f->check(cli, sec)) != TRPT_EXIT_OK)
			return st;
	}
	/* [dkim] too, so that --check covers what fetch uses. */
	if ((status = trpt_cli_dkim(cli, &dkim)) != TRPT_EXIT_OK)
		return status;
	if (check_only) {
		trpt_dkim_free(&dkim);
		if (cli->verbose >= 0)
			printf("%s: %zu source%s, configuration valid\n",
			    trpt_config_path(cli->cfg), nsources,
			    nsources == 1 ? "" : "s");
		return TRPT_EXIT_OK;
	}
	if ((status = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK) {
		trpt_dkim_free(&dkim);
		return status;
	}
	trpt_pipeline_init(&p, db, &cli->limits);
	p.dkim = dkim;
	p.flags |= TRPT_PIPE_SKIP_NON_REPORTS;
	p.on_event = trpt_cmd_ingest_print_event;
	p.arg = cli;
	if (optind < argc) {
		for (c = optind; c < argc; c++) {
			sec = find_source(cli->cfg, argv[c]);
			st = fetcher_for(sec->type)->run(cli, sec, &p);
			status = worse(status, st);
		}
	} else {
		for (i = 0; i < trpt_config_count(cli->cfg); i++) {
			sec = trpt_config_at(cli->cfg, i);
			if (fetcher_for(sec->type) == NULL)
				continue;
			st = fetcher_for(sec->type)->run(cli, sec, &p);
			status = worse(status, st);
		}
	}
	if (cli->verbose >= 0)
		printf("ingested %" PRIu64 ", duplicates %" PRIu64
		       ", rejected %" PRIu64 ", skipped %" PRIu64 "\n",
		    p.stats.stored, p.stats.duplicates, p.stats.rejected,
		    p.stats.skipped);
	if (status == TRPT_EXIT_OK && p.stats.rejected > 0)
		status = TRPT_EXIT_REJECTED;
	trpt_db_close(&db);
	trpt_dkim_free(&dkim);
	return status;
}
