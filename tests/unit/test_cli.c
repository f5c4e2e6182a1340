/*
 * The tlsrpt-collector binary as a user runs it: exit codes, the one line
 * per rejected input, the summary line, export files.
 */

#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/cli.h"
#include "tests/helpers/testutil.h"

struct ctx {
	char *dir;
	char db[600];
};

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->dir = trpt_test_tmpdir();
	snprintf(c->db, sizeof(c->db), "%s/t.db", c->dir);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	trpt_test_rmrf(c->dir);
	free(c->dir);
	free(c);
	return 0;
}

static int
run(struct ctx *c, const char *args, char **out, char **err)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "'%s' --db '%s' %s", trpt_test_binary(),
	    c->db, args);
	return trpt_test_sh(cmd, out, err);
}

static const char *
root(void)
{
	const char *r = getenv("TRPT_SOURCE_ROOT");

	return r != NULL ? r : ".";
}

static void
test_cli_usage_and_version(void **state)
{
	struct ctx *c = *state;
	char *out, *err;

	assert_int_equal(run(c, "--version", &out, NULL), 0);
	assert_non_null(strstr(out, "tlsrpt-collector "));
	free(out);
	assert_int_equal(run(c, "--help", &out, NULL), 0);
	assert_non_null(strstr(out, "Exit status"));
	assert_non_null(strstr(out, "ingest"));
	free(out);
	assert_int_equal(run(c, "ingest --help", &out, NULL), 0);
	assert_non_null(strstr(out, "usage: tlsrpt-collector ingest"));
	free(out);
	assert_int_equal(run(c, "frobnicate", NULL, &err), 2);
	assert_non_null(strstr(err, "unknown command \"frobnicate\""));
	free(err);
	assert_int_equal(run(c, "", NULL, NULL), 2);
	assert_int_equal(run(c, "ingest", NULL, NULL), 2);
	assert_int_equal(run(c, "export nonsense", NULL, &err), 2);
	free(err);
	assert_int_equal(
	    run(c, "export policies --since tomorrowish", NULL, &err), 2);
	assert_non_null(strstr(err, "bad date"));
	free(err);
}

static void
test_cli_ingest_examples(void **state)
{
	struct ctx *c = *state;
	char args[2048], *out, *err;

	snprintf(args, sizeof(args),
	    "ingest '%s/examples/reports' '%s/examples/mail'", root(), root());
	assert_int_equal(run(c, args, &out, &err), 0);
	assert_string_equal(out, "ingested 4, duplicates 0, rejected 0\n");
	assert_string_equal(err, "");
	free(out);
	free(err);
	assert_int_equal(run(c, args, &out, NULL), 0);
	assert_string_equal(out, "ingested 0, duplicates 4, rejected 0\n");
	free(out);
	assert_int_equal(run(c, "stats", &out, NULL), 0);
	assert_non_null(strstr(out, "Microsoft Corporation"));
	/* sts and tlsa of one report count the sessions once: 512, not 1024 */
	assert_non_null(strstr(out, "       512 "));
	assert_non_null(
	    strstr(out, "4 reports stored (4 duplicates received)"));
	free(out);
	/* export daily: the trends rows, with the sts+tlsa guard */
	assert_int_equal(run(c, "export daily", &out, NULL), 0);
	assert_non_null(strstr(out, "period,organization_name,policy_domain,"
				    "successful,failed,success_rate\r\n"));
	assert_non_null(strstr(out, "2026-11-21,Microsoft Corporation,"
				    "example.com,512,0,1.0000\r\n"));
	free(out);
	assert_int_equal(
	    run(c, "export reports --domain example.org", &out, NULL), 0);
	assert_non_null(strstr(out, "Mail.ru,5f0c2a8e-6b1d-4c7e-9a3f-"
				    "2d8e1b7c4a60@mail.ru,"));
	assert_null(strstr(out, "Google Inc."));
	free(out);
	/* --domain is matched as stored: case and a trailing dot do not
	 * matter */
	assert_int_equal(
	    run(c, "trends --domain EXAMPLE.ORG. --format csv", &out, NULL), 0);
	assert_non_null(strstr(out, "2026-11-21,Mail.ru,example.org,97,3,"));
	free(out);
}

static void
test_cli_rejection_lines_and_exit(void **state)
{
	struct ctx *c = *state;
	char args[2048], path[700], *out, *err;

	snprintf(path, sizeof(path), "%s/junk.txt", c->dir);
	trpt_test_write(path, "hello\n", 6);
	/* A path that does not exist is a usage error, found before
	 * anything is stored (it was quarantined as a rejected input). */
	snprintf(args, sizeof(args),
	    "ingest '%s' '%s/tests/fixtures/bad/count-negative.json' "
	    "'%s/no-such-file'",
	    path, root(), c->dir);
	assert_int_equal(run(c, args, &out, &err), 2);
	assert_string_equal(out, "");
	assert_non_null(
	    strstr(err, "no-such-file: no such file or directory\n"));
	assert_null(strstr(err, "rejected"));
	free(out);
	free(err);
	assert_int_equal(access(c->db, F_OK), -1); /* nothing opened */
	snprintf(args, sizeof(args),
	    "ingest '%s' '%s/tests/fixtures/bad/count-negative.json'", path,
	    root());
	assert_int_equal(run(c, args, &out, &err), 1);
	assert_string_equal(out, "ingested 0, duplicates 0, rejected 2\n");
	/* One line per problem, naming the input and the reason. */
	assert_non_null(strstr(err, "junk.txt: rejected: not a TLS report"));
	assert_non_null(strstr(err,
	    "count-negative.json: rejected: "
	    "policies[0].summary.total-successful-session-count: negative "
	    "count (-1)\n"));
	free(out);
	free(err);
	/* reprocess: nothing has changed, both stay */
	assert_int_equal(run(c, "reprocess", &out, NULL), 1);
	assert_non_null(
	    strstr(out, "reprocessed 2: passed 0, still rejected 2"));
	free(out);
}

static void
test_cli_stdin_and_export(void **state)
{
	struct ctx *c = *state;
	char cmd[4096], csv[700], *out, *err;

	snprintf(cmd, sizeof(cmd),
	    "'%s' --db '%s' ingest - < "
	    "'%s/tests/fixtures/lenient/base.json'",
	    trpt_test_binary(), c->db, root());
	assert_int_equal(trpt_test_sh(cmd, &out, NULL), 0);
	assert_string_equal(out, "ingested 1, duplicates 0, rejected 0\n");
	free(out);
	snprintf(csv, sizeof(csv), "%s/out.csv", c->dir);
	snprintf(cmd, sizeof(cmd), "export failures -o '%s'", csv);
	assert_int_equal(run(c, cmd, NULL, &err), 0);
	assert_non_null(strstr(err, "exported 1 failures rows"));
	free(err);
	out = trpt_test_slurp(csv, NULL);
	assert_non_null(strstr(out, "report_id,organization_name,begin_date"));
	assert_non_null(strstr(out, "r-0001,Example Sender,"
				    "2026-11-01T00:00:00Z,"));
	free(out);
	assert_int_equal(
	    run(c, "export policies --domain nowhere.example", &out, NULL), 0);
	assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
	free(out);
}

static void
test_cli_fatal_database(void **state)
{
	struct ctx *c = *state;
	char cmd[2048], *err;

	(void)c;
	snprintf(cmd, sizeof(cmd),
	    "'%s' --db /nonexistent-dir/x.db ingest '%s/examples'",
	    trpt_test_binary(), root());
	assert_int_equal(trpt_test_sh(cmd, NULL, &err), 3);
	assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
	free(err);
}

static void
test_cli_config_permissions(void **state)
{
	struct ctx *c = *state;
	char conf[700], args[1024], *err;

	snprintf(args, sizeof(args), "ingest '%s/examples/reports'", root());
	assert_int_equal(run(c, args, NULL, NULL), 0); /* a database */
	snprintf(conf, sizeof(conf), "%s/c.conf", c->dir);
	trpt_test_write(conf, "[limits]\nmax_message = 1k\n", 26);
	chmod(conf, 0644);
	snprintf(args, sizeof(args), "--config '%s' stats", conf);
	assert_int_equal(run(c, args, NULL, &err), 2);
	assert_non_null(strstr(err, "readable or writable by group or others"));
	free(err);
	chmod(conf, 0600);
	assert_int_equal(run(c, args, NULL, NULL), 0);
	trpt_test_write(conf, "[limits]\nmax_mesage = 1k\n", 25);
	assert_int_equal(run(c, args, NULL, &err), 2);
	assert_non_null(strstr(err, "line 2: unknown key \"max_mesage\""));
	free(err);
	/* The configured limit applies. */
	trpt_test_write(conf, "[limits]\nmax_message = 100\n", 27);
	snprintf(args, sizeof(args),
	    "--config '%s' ingest '%s/tests/fixtures/lenient/base.json'", conf,
	    root());
	assert_int_equal(run(c, args, NULL, &err), 1);
	assert_non_null(strstr(err, "larger than the limit of 100 bytes"));
	free(err);
}

/*
 * Every section is checked whatever the command (fetch --check approved
 * unknown keys in [serve] and [alerts]); check-config also reads the files
 * the sections name.
 */
static void
test_cli_check_config(void **state)
{
	struct ctx *c = *state;
	char conf[700], pw[700], args[1600], text[1024], *out, *err;

	snprintf(conf, sizeof(conf), "%s/c.conf", c->dir);
	snprintf(pw, sizeof(pw), "%s/pw", c->dir);
	trpt_test_write(pw, "secret\n", 7);
	chmod(pw, 0600);
	trpt_test_write(conf, "[serve]\ntiemout = 3\n", 20);
	chmod(conf, 0600);
	snprintf(args, sizeof(args), "--config '%s' check-config", conf);
	assert_int_equal(run(c, args, NULL, &err), 2);
	assert_non_null(
	    strstr(err, "line 2: unknown key \"tiemout\" in [serve]"));
	free(err);
	snprintf(args, sizeof(args), "--config '%s' fetch --check", conf);
	assert_int_equal(run(c, args, NULL, &err), 2);
	assert_non_null(strstr(err, "unknown key \"tiemout\""));
	free(err);
	trpt_test_write(conf, "[alerts]\nsilence_min_reports = 0\n", 33);
	snprintf(args, sizeof(args), "--config '%s' alerts", conf);
	assert_int_equal(run(c, args, NULL, &err), 2);
	assert_non_null(strstr(err, "from 2 to 10000"));
	free(err);
	/* A valid file, then a password file others may read. */
	snprintf(text, sizeof(text),
	    "[alerts]\nthreshold = 5\n[summary]\nsmtp_url = smtp://h\n"
	    "password_file = %s\n[https \"p\"]\nurl = https://x/\n",
	    pw);
	trpt_test_write(conf, text, strlen(text));
	snprintf(args, sizeof(args), "--config '%s' check-config", conf);
	assert_int_equal(run(c, args, &out, NULL), 0);
	assert_non_null(strstr(out, "3 sections, configuration valid"));
	free(out);
	chmod(pw, 0644);
	assert_int_equal(run(c, args, NULL, &err), 2);
	assert_non_null(strstr(err, "[summary] password_file"));
	assert_non_null(strstr(err, "readable or writable by group"));
	free(err);
	/* Without a file there is nothing to check. */
	snprintf(args, sizeof(args), "env -u TLSRPT_CONFIG '%s' check-config",
	    trpt_test_binary());
	assert_int_equal(trpt_test_sh(args, NULL, &err), 2);
	assert_non_null(strstr(err, "no configuration file"));
	free(err);
}

/* Recipient lists: trimmed, empty items skipped, capped, appended. */
static void
test_cli_split_list(void **state)
{
	char *out[3] = { NULL, NULL, NULL };
	size_t n = 0, i;

	(void)state;
	assert_int_equal(
	    trpt_cli_split_list(" a@x.example ,, b@y.example\t,", out, 3, &n),
	    TRPT_OK);
	assert_int_equal(n, 2);
	assert_string_equal(out[0], "a@x.example");
	assert_string_equal(out[1], "b@y.example");
	assert_int_equal(
	    trpt_cli_split_list("c@z, d@w", out, 3, &n), TRPT_ELIMIT);
	assert_int_equal(n, 3);
	assert_string_equal(out[2], "c@z");
	for (i = 0; i < n; i++)
		free(out[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_split_list),
		cmocka_unit_test_setup_teardown(
		    test_cli_usage_and_version, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cli_ingest_examples, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cli_rejection_lines_and_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cli_stdin_and_export, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cli_fatal_database, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cli_config_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cli_check_config, setup, teardown),
	};
	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
