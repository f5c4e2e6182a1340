#pragma once
/*
 * Command-line front end: global options, the command table, and what the
 * commands share (database, configuration, limits, messages, exit codes).
 */

#include <stdio.h>

#include "collector/config.h"
#include "common/limits.h"
#include "ingest/dkim.h"
#include "schema/db.h"

/* Exit status of every command (documented in --help and the README). */
enum trpt_exit {
	TRPT_EXIT_OK = 0,       /* done, nothing rejected */
	TRPT_EXIT_REJECTED = 1, /* done, some input rejected (or an alert
				   open, with alerts --fail-on-alert) */
	TRPT_EXIT_USAGE = 2,    /* bad command line or configuration */
	TRPT_EXIT_FATAL = 3     /* database, I/O or network failure */
};

struct trpt_cli {
	const char *db_path;
	struct trpt_config *cfg;
	struct trpt_limits limits;
	int verbose; /* -1 with -q, 0 by default, 1+ with -v */
};

/* Runs the program; returns the exit status.  Only main() exits. */
int trpt_cli_main(int argc, char **argv);

/* Opens cli->db_path, printing the error; returns TRPT_EXIT_OK or FATAL. */
int trpt_cli_open_db(const struct trpt_cli *cli, struct trpt_db **out);

/*
 * With on, trpt_cli_warn prefixes its lines with journald's "<3>" (error)
 * priority, as every line of the run command has one.
 */
void trpt_cli_warn_journal(int on);

/*
 * For commands that only read: the database must exist ("no database at
 * PATH", TRPT_EXIT_USAGE); a read-only file is opened read-only.
 */
int trpt_cli_open_db_read(const struct trpt_cli *cli, struct trpt_db **out);

/*
 * 1 when standard output is a pipe whose reader has gone ("trends | head"):
 * a failed write there ends the command quietly, with status 0.
 */
int trpt_cli_stdout_gone(void);

/*
 * One line on stderr: "tlsrpt-collector: <message>", with control
 * characters escaped and credentials in URLs hidden (trpt_text_message).
 */
void trpt_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Splits a comma-separated value ("a@x, b@y") into trimmed, non-empty,
 * newly allocated items appended to out[*n] (at most max in all).
 * Returns TRPT_OK, TRPT_ELIMIT past max, or TRPT_ENOMEM; the items added
 * before a failure stay in out for the caller to free.
 */
int trpt_cli_split_list(const char *v, char **out, size_t max, size_t *n);

/*
 * Normalises a --domain argument in place as stored policy domains are:
 * lower case, without a trailing dot.  Returns s.
 */
char *trpt_cli_domain_arg(char *s);

/*
 * The DKIM verifier configured by [dkim] (require, nameserver, timeout,
 * cache), for the pipelines of ingest, reprocess, fetch and serve; *out is
 * NULL with require = no.  Prints the error; returns TRPT_EXIT_OK or
 * TRPT_EXIT_USAGE (a bad setting) or TRPT_EXIT_FATAL.
 */
int trpt_cli_dkim(const struct trpt_cli *cli, struct trpt_dkim **out);

/*
 * 1 when f is a terminal that takes colours: not redirected, NO_COLOR
 * unset (https://no-color.org), TERM set and not "dumb".
 */
int trpt_cli_color(FILE *f);

/* Maps a trpt_rc to an exit status: usage errors 2, everything else 3. */
int trpt_cli_exit_for(int rc);
