/*
 * The configuration tables (collector/config.c): every section and key is
 * checked once as the file loads, against its type, minimum and maximum;
 * unknown keys are refused in every section; defaults come through
 * trpt_config_read.
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

#include "collector/config.h"
#include "tests/helpers/testutil.h"

struct fx {
	char *dir;
	char path[512];
	struct trpt_config *cfg;
	struct trpt_err err;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = trpt_test_tmpdir();
	snprintf(f->path, sizeof(f->path), "%s/c.conf", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	trpt_config_free(&f->cfg);
	trpt_test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static int
load(struct fx *f, const char *text)
{
	trpt_test_write(f->path, text, strlen(text));
	assert_int_equal(chmod(f->path, 0600), 0);
	trpt_config_free(&f->cfg);
	return trpt_config_load(f->path, &f->cfg, &f->err);
}

#define IMAP_OK "host = h\nusername = u\npassword_env = X\n"

/* Each case is refused as the file loads, whatever command reads it. */
static const struct {
	const char *text;
	const char *reason;
} refused[] = {
	/* an unknown key, in every section */
	{ "[limits]\nmax_mesage = 1k\n",
	    "line 2: unknown key \"max_mesage\" in [limits]" },
	{ "[serve]\ntiemout = 3\n", "unknown key \"tiemout\" in [serve]" },
	{ "[alerts]\nthreshhold = 3\n",
	    "unknown key \"threshhold\" in [alerts]" },
	{ "[summary]\nsmtp = x\n", "unknown key \"smtp\" in [summary]" },
	{ "[imap \"a\"]\n" IMAP_OK "pasword = x\n",
	    "line 5: unknown key \"pasword\" in [imap \"a\"]" },
	{ "[https \"a\"]\nurl = https://x/\nretry = 1\n",
	    "unknown key \"retry\" in [https \"a\"]" },
	{ "stray = 1\n[limits]\n",
	    "line 1: unknown key \"stray\" in the top of the file" },
	/* sections */
	{ "[limit]\nmax_message = 1k\n", "line 1: unknown section [limit]" },
	{ "[serve]\nthreads = 2\n[alerts]\n[serve]\nthreads = 3\n",
	    "line 4: [serve] given twice (first on line 1)" },
	{ "[imap \"a\"]\n" IMAP_OK "[imap \"a\"]\n" IMAP_OK,
	    "[imap \"a\"] given twice" },
	{ "[imap]\n" IMAP_OK, "[imap] needs a name" },
	{ "[serve \"x\"]\nthreads = 2\n", "[serve] takes no name" },
	/* minima, which no reader checked before */
	{ "[alerts]\nsilence_min_reports = 1\n",
	    "silence_min_reports = \"1\": expected a number from 2 to 10000" },
	{ "[alerts]\nbaseline_days = 2\n", "from 3 to 365" },
	{ "[alerts]\nthreshold = 0\n", "whole number from 1 to 100" },
	{ "[serve]\nthreads = 0\n",
	    "threads = \"0\": expected a number from 1" },
	{ "[serve]\nidle_timeout = 0\n", "from 1 to 3600" },
	{ "[serve]\nmax_connections_per_client = 0\n", "from 1 to 100000" },
	{ "[limits]\nmax_depth = 0\n",
	    "max_depth = \"0\": expected a number from 1 to 2048" },
	{ "[https \"a\"]\nurl = https://x/\nmax_size = 0\n", "from 1 to 4G" },
	{ "[check]\nmax_policy = 100\n", "from 256 to 1M" },
	{ "[check]\nsmtp_prt = 25\n", "unknown key \"smtp_prt\" in [check]" },
	{ "[dkim]\nrequire = maybe\n", "expected no, warn or yes" },
	{ "[dkim]\ntimeout = 0\n", "from 1 to 60" },
	{ "[dashboard]\ntls_cert = /c.pem\n", "tls_cert and tls_key go" },
	{ "[dashboard]\nlisten = :8461\npassword = x\n",
	    "unknown key \"password\" in [dashboard]" },
	/* maxima and types */
	{ "[limits]\nmax_message = 5G\n", "from 1 to 4G" },
	{ "[serve]\nthreads = 65\n", "from 1 to 64" },
	{ "[serve]\nthreads = -1\n", "from 1 to 64" },
	{ "[serve]\nthreads = 4x\n", "from 1 to 64" },
	{ "[serve]\ntrust_proxy = maybe\n", "expected true or false" },
	{ "[summary]\nstarttls = sometimes\n", "expected required, yes or no" },
	{ "[imap \"a\"]\n" IMAP_OK "security = ssl\n",
	    "expected tls, starttls or none" },
	{ "[serve]\nlisten =\n", "listen = \"\": must not be empty" },
	{ "[serve]\npath = /a\npath = /b\npath = /c\npath = /d\npath = "
	  "/e\npath = /f\npath = /g\npath = /h\npath = /i\n",
	    "given 9 times; at most 8" },
	/* a key that does not repeat */
	{ "[serve]\nthreads = 2\nthreads = 3\n",
	    "line 3: [serve] threads: given more than once" },
	/* required keys and rules across keys */
	{ "[imap \"a\"]\nusername = u\npassword_env = X\n",
	    "[imap \"a\"] host: missing" },
	{ "[https \"a\"]\nretries = 1\n", "url: missing" },
	{ "[https \"a\"]\nurl = http://x/\n", "must start with https://" },
	{ "[serve]\ntls_cert = /c.pem\n", "tls_cert and tls_key go together" },
	{ "[imap \"a\"]\n" IMAP_OK "after = seen\n", "read_only = false" },
};

static void
test_config_refused(void **state)
{
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int rc = load(f, refused[i].text);

		if (rc != TRPT_EINVAL ||
		    strstr(f->err.msg, refused[i].reason) == NULL)
			fail_msg("case %zu: rc %d, \"%s\", wanted \"%s\"", i,
			    rc, f->err.msg, refused[i].reason);
		assert_null(f->cfg);
	}
}

/* Absent sections and keys give the defaults. */
static void
test_config_defaults(void **state)
{
	struct fx *f = *state;
	struct trpt_conf_serve s;
	struct trpt_alert_config a;
	struct trpt_conf_summary m;
	struct trpt_limits l;
	long cores;

	assert_int_equal(trpt_config_empty(&f->cfg, &f->err), TRPT_OK);
	assert_int_equal(
	    trpt_config_read(f->cfg, NULL, "serve", &s, sizeof(s), &f->err),
	    TRPT_OK);
	assert_string_equal(s.rx.listen, "127.0.0.1:8460");
	/* A thread a core, 2 to 8. */
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	assert_int_equal(s.rx.threads, cores < 2 ? 2 : cores > 8 ? 8 : cores);
	assert_int_equal(s.rx.max_per_client, 16);
	assert_int_equal(s.paths.n, 0);
	assert_int_equal(s.drain_timeout, 30);
	assert_int_equal(s.busy_timeout, 5000);
	assert_null(s.tls_cert);
	assert_int_equal(
	    trpt_config_read(f->cfg, NULL, "alerts", &a, sizeof(a), &f->err),
	    TRPT_OK);
	assert_int_equal(a.silence_min_reports, 5);
	assert_int_equal(a.baseline_days, 14);
	assert_int_equal(
	    trpt_config_read(f->cfg, NULL, "summary", &m, sizeof(m), &f->err),
	    TRPT_OK);
	assert_int_equal(m.starttls, 0); /* required */
	assert_int_equal(m.to.n, 0);
	assert_int_equal(trpt_config_limits(f->cfg, &l, &f->err), TRPT_OK);
	assert_int_equal(l.max_message, 25u * 1024 * 1024);
	/* The wrong struct for a section is refused, never overrun. */
	assert_int_equal(
	    trpt_config_read(f->cfg, NULL, "serve", &a, sizeof(a), &f->err),
	    TRPT_EINVAL);
	assert_int_equal(
	    trpt_config_read(f->cfg, NULL, "nosuch", &a, sizeof(a), &f->err),
	    TRPT_EINVAL);
}

/* Written values reach the structs, typed. */
static void
test_config_values(void **state)
{
	struct fx *f = *state;
	struct trpt_conf_serve s;
	struct trpt_alert_config a;
	struct trpt_conf_summary m;
	struct trpt_conf_https h;
	struct trpt_limits l;

	assert_int_equal(load(f, "[limits]\nmax_message = 2M\nmax_depth = 10\n"
				 "[serve]\nlisten = :0\npath = /a\npath = /b\n"
				 "threads = 2\ntrust_proxy = yes\n"
				 "busy_timeout = 0\n"
				 "[alerts]\nthreshold = 7\n"
				 "silence_min_reports = 2\n"
				 "[summary]\nto = a@x, b@x\nto = c@x\n"
				 "starttls = no\n"
				 "[https \"p\"]\nurl = HTTPS://x/i\n"
				 "max_size = 1k\nretries = 0\n"),
	    TRPT_OK);
	assert_int_equal(trpt_config_limits(f->cfg, &l, &f->err), TRPT_OK);
	assert_int_equal(l.max_message, 2 * 1024 * 1024);
	assert_int_equal(l.max_depth, 10);
	assert_int_equal(l.max_json, 50u * 1024 * 1024);
	assert_int_equal(
	    trpt_config_read(f->cfg, NULL, "serve", &s, sizeof(s), &f->err),
	    TRPT_OK);
	assert_string_equal(s.rx.listen, ":0");
	assert_int_equal(s.paths.n, 2);
	assert_string_equal(trpt_config_list_at(&s.paths, 1), "/b");
	assert_null(trpt_config_list_at(&s.paths, 2));
	assert_int_equal(s.rx.threads, 2);
	assert_int_equal(s.rx.trust_proxy, 1);
	assert_int_equal(s.busy_timeout, 0);
	assert_int_equal(s.rx.idle_timeout, 30);
	assert_int_equal(
	    trpt_config_read(f->cfg, NULL, "alerts", &a, sizeof(a), &f->err),
	    TRPT_OK);
	assert_true(a.drop_threshold > 0.0699 && a.drop_threshold < 0.0701);
	assert_int_equal(a.silence_min_reports, 2);
	assert_int_equal(
	    trpt_config_read(f->cfg, NULL, "summary", &m, sizeof(m), &f->err),
	    TRPT_OK);
	assert_int_equal(m.to.n, 2);
	assert_int_equal(m.starttls, 1); /* none */
	assert_int_equal(
	    trpt_config_read(f->cfg, trpt_config_find(f->cfg, "https", "p"),
		"https", &h, sizeof(h), &f->err),
	    TRPT_OK);
	assert_int_equal(h.max_size, 1024);
	assert_int_equal(h.retries, 0);
	assert_int_equal(h.timeout, 60);
}

/*
 * A line longer than inih reads is refused with its number; it was parsed
 * in pieces before, each piece as a line of its own.
 */
static void
test_config_long_line(void **state)
{
	struct fx *f = *state;
	char text[1200];

	snprintf(
	    text, sizeof(text), "[summary]\nsmtp_url = smtp://h/%900s\n", "x");
	assert_int_equal(load(f, text), TRPT_EINVAL);
	assert_non_null(strstr(f->err.msg, "line 2: longer than"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_config_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_values, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_long_line, setup, teardown),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
