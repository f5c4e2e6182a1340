#include "collector/cmd_migrate_db.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "schema/copy.h"
#include "schema/db.h"

static void
migrate_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector migrate-db --from FILE.db --to "
	    "postgresql://USER@HOST/DB\n"
	    "\n"
	    "Copies every table of the SQLite database FILE.db into the\n"
	    "database named by --to (PostgreSQL; a SQLite path works too),\n"
	    "which must be empty: it is created at this version's schema,\n"
	    "filled in one transaction (a failure leaves it empty), and its\n"
	    "row counts are checked against the source before the commit.\n"
	    "FILE.db is first brought to this version's schema when it is\n"
	    "older.  Stop the collectors writing FILE.db first: what they\n"
	    "store after the copy began is not copied.  The password of the\n"
	    "PostgreSQL user comes from a password file (PGPASSFILE,\n"
	    "~/.pgpass, or passfile= in the URI), never from the URI.\n");
}

static void
progress(void *arg, const char *table, int64_t rows)
{
	const struct trpt_cli *cli = arg;

	if (cli->verbose >= 0)
		printf("%-20s %lld rows\n", table, (long long)rows);
}

int
trpt_cmd_migrate_db_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_db *from = NULL, *to = NULL;
	const char *src = NULL, *dst = NULL;
	struct trpt_err err;
	int c, rc, tables = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			src = optarg;
			break;
		case 't':
			dst = optarg;
			break;
		case 'h':
			migrate_usage(stdout);
			return TRPT_EXIT_OK;
		default:
			migrate_usage(stderr);
			return TRPT_EXIT_USAGE;
		}
	}
	if (optind != argc || src == NULL || dst == NULL || *src == '\0' ||
	    *dst == '\0') {
		trpt_cli_warn("usage: tlsrpt-collector migrate-db --from "
			      "FILE.db --to postgresql://USER@HOST/DB");
		return TRPT_EXIT_USAGE;
	}
	if (trpt_db_is_uri(src)) {
		trpt_cli_warn("migrate-db: --from must be a SQLite file, not "
			      "a PostgreSQL URI");
		return TRPT_EXIT_USAGE;
	}
	if (strcmp(src, dst) == 0) {
		trpt_cli_warn("migrate-db: --from and --to are the same "
			      "database");
		return TRPT_EXIT_USAGE;
	}
	if ((rc = trpt_db_open_existing(src, &from, &err)) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return rc == TRPT_ENOTFOUND ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
	}
	if ((rc = trpt_db_open(dst, &to, &err)) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		trpt_db_close(&from);
		return trpt_cli_exit_for(rc);
	}
	rc = trpt_copy_db(from, to, progress, cli, &tables, &err);
	if (rc == TRPT_OK && cli->verbose >= 0)
		printf("copied %d tables from %s to %s\n", tables,
		    trpt_db_path(from), trpt_db_path(to));
	trpt_db_close(&to);
	trpt_db_close(&from);
	if (rc != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return trpt_cli_exit_for(rc);
	}
	return TRPT_EXIT_OK;
}
