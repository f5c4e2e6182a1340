#include "collector/cmd_check_config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/fetch_https.h"
#include "collector/fetch_imap.h"
#include "common/buf.h"

#define PEM_MAX (1024 * 1024)

static void
check_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector [--config FILE] check-config\n"
	    "\n"
	    "Checks the configuration file: every section and key is known,\n"
	    "every value has its type and lies within its bounds, no key or\n"
	    "section is given twice, required keys are there; then that the\n"
	    "password, token and TLS files it names can be read (and are not\n"
	    "readable by group or others).  No network, no database.\n"
	    "\n"
	    "Exit status: 0 valid; 2 a problem (one line names the file, line\n"
	    "and key) or no configuration file; 3 out of memory.\n");
}

static int
read_file(const char *what, const char *path)
{
	struct trpt_err err;
	char *buf = NULL;
	size_t len;

	if (trpt_buf_read_file(path, PEM_MAX, &buf, &len, &err) != TRPT_OK) {
		trpt_cli_warn("%s: %s", what, err.msg);
		return TRPT_EXIT_USAGE;
	}
	explicit_bzero(buf, len);
	free(buf);
	return TRPT_EXIT_OK;
}

static int
check_serve(const struct trpt_cli *cli)
{
	struct trpt_conf_serve s;
	struct trpt_err err;
	int rc;

	if (trpt_config_read(cli->cfg, NULL, "serve", &s, sizeof(s), &err) !=
	    TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	if (s.tls_cert != NULL &&
	    ((rc = read_file("[serve] tls_cert", s.tls_cert)) != 0 ||
		(rc = read_file("[serve] tls_key", s.tls_key)) != 0))
		return rc;
	return TRPT_EXIT_OK;
}

static int
check_summary(const struct trpt_cli *cli)
{
	struct trpt_conf_summary s;
	struct trpt_err err;
	char *pw = NULL;

	if (trpt_config_read(cli->cfg, NULL, "summary", &s, sizeof(s), &err) !=
	    TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	if (s.password_file == NULL)
		return TRPT_EXIT_OK;
	if (trpt_config_read_secret_file(s.password_file, &pw, &err) !=
	    TRPT_OK) {
		trpt_cli_warn("[summary] password_file: %s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	explicit_bzero(pw, strlen(pw));
	free(pw);
	return TRPT_EXIT_OK;
}

int
trpt_cmd_check_config_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct trpt_config_section *sec;
	size_t i, n;
	int c, st;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			check_usage(stdout);
			return TRPT_EXIT_OK;
		}
		check_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if (optind != argc) {
		check_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	/* The tables were checked as the file loaded: what is left are the
	 * files the sections name. */
	if (strcmp(trpt_config_path(cli->cfg), "(none)") == 0) {
		trpt_cli_warn(
		    "check-config: no configuration file (--config "
		    "FILE, $TLSRPT_CONFIG or " TRPT_CONFIG_DEFAULT ")");
		return TRPT_EXIT_USAGE;
	}
	n = trpt_config_count(cli->cfg);
	for (i = 0; i < n; i++) {
		sec = trpt_config_at(cli->cfg, i);
		if (strcmp(sec->type, "imap") == 0)
			st = trpt_fetch_imap_check(cli, sec);
		else if (strcmp(sec->type, "https") == 0)
			st = trpt_fetch_https_check(cli, sec);
		else if (strcmp(sec->type, "serve") == 0)
			st = check_serve(cli);
		else if (strcmp(sec->type, "summary") == 0)
			st = check_summary(cli);
		else
			st = TRPT_EXIT_OK;
		if (st != TRPT_EXIT_OK)
			return st;
	}
	if (cli->verbose >= 0)
		printf("%s: %zu section%s, configuration valid\n",
		    trpt_config_path(cli->cfg), n, n == 1 ? "" : "s");
	return TRPT_EXIT_OK;
}
