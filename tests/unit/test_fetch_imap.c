/*
 * [imap "NAME"] sections to struct trpt_imap_conf: defaults, every
 * setting, and the refusals (no network; see tests/integration for the
 * source against Dovecot).
 */

#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/config.h"
#include "collector/fetch_imap.h"
#include "tests/helpers/testutil.h"

struct fx {
	char *dir;
	char conf[512];
	char pw[512];
	struct trpt_config *cfg;
	struct trpt_imap_conf ic;
	struct trpt_fetch_imap_owned owned;
	struct trpt_err err;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = trpt_test_tmpdir();
	snprintf(f->conf, sizeof(f->conf), "%s/c.conf", f->dir);
	snprintf(f->pw, sizeof(f->pw), "%s/pw", f->dir);
	trpt_test_write(f->pw, "pa55word\n", 9);
	assert_int_equal(chmod(f->pw, 0600), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	trpt_fetch_imap_conf_clear(&f->owned);
	trpt_config_free(&f->cfg);
	trpt_test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Loads "[imap "src"]\n" + body (with @PW@ for the password file). */
static int
load(struct fx *f, const char *body)
{
	char text[4096], *at;
	const struct trpt_config_section *sec;
	int rc;

	at = strstr(body, "@PW@");
	if (at != NULL)
		snprintf(text, sizeof(text), "[imap \"src\"]\n%.*s%s%s",
		    (int)(at - body), body, f->pw, at + 4);
	else
		snprintf(text, sizeof(text), "[imap \"src\"]\n%s", body);
	trpt_test_write(f->conf, text, strlen(text));
	assert_int_equal(chmod(f->conf, 0600), 0);
	trpt_config_free(&f->cfg);
	trpt_fetch_imap_conf_clear(&f->owned);
	/* Keys, types and bounds are checked as the file loads. */
	rc = trpt_config_load(f->conf, &f->cfg, &f->err);
	if (rc != TRPT_OK)
		return rc;
	sec = trpt_config_find(f->cfg, "imap", "src");
	assert_non_null(sec);
	return trpt_fetch_imap_conf(f->cfg, sec, &f->ic, &f->owned, &f->err);
}

static void
test_fetch_imap_defaults(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "host = imap.example.org\n"
				 "username = u\n"
				 "password_file = @PW@\n"),
	    TRPT_OK);
	assert_string_equal(f->ic.name, "src");
	assert_string_equal(f->ic.host, "imap.example.org");
	assert_int_equal(f->ic.security, TRPT_IMAP_TLS);
	assert_int_equal(f->ic.port, 993);
	assert_null(f->ic.ca_file);
	assert_string_equal(f->ic.password, "pa55word");
	assert_int_equal(f->ic.nmailboxes, 0); /* INBOX */
	assert_int_equal(f->ic.read_only, 1);
	assert_int_equal(f->ic.after, TRPT_IMAP_KEEP);
	assert_int_equal(f->ic.since, 0);
	assert_int_equal(f->ic.connect_timeout, 30);
	assert_int_equal(f->ic.timeout, 60);
	assert_int_equal(f->ic.batch, 100);
}

static void
test_fetch_imap_everything(void **state)
{
	struct fx *f = *state;

	setenv("TRPT_TEST_IMAP_PW", "from-env", 1);
	assert_int_equal(load(f, "host = 127.0.0.1\n"
				 "security = starttls\n"
				 "ca_file = /etc/ca.pem\n"
				 "username = u\n"
				 "password_env = TRPT_TEST_IMAP_PW\n"
				 "mailbox = INBOX\n"
				 "mailbox = Reports/TLS\n"
				 "read_only = false\n"
				 "after = move:Done\n"
				 "since = 2026-01-02\n"
				 "connect_timeout = 3\n"
				 "timeout = 7\n"
				 "batch = 20\n"),
	    TRPT_OK);
	assert_int_equal(f->ic.security, TRPT_IMAP_STARTTLS);
	assert_int_equal(f->ic.port, 143);
	assert_string_equal(f->ic.ca_file, "/etc/ca.pem");
	assert_string_equal(f->ic.password, "from-env");
	assert_int_equal(f->ic.nmailboxes, 2);
	assert_string_equal(f->ic.mailboxes[1], "Reports/TLS");
	assert_int_equal(f->ic.read_only, 0);
	assert_int_equal(f->ic.after, TRPT_IMAP_MOVE);
	assert_string_equal(f->ic.after_folder, "Done");
	assert_int_equal(f->ic.since, 1767312000);
	assert_int_equal(f->ic.connect_timeout, 3);
	assert_int_equal(f->ic.timeout, 7);
	assert_int_equal(f->ic.batch, 20);
	unsetenv("TRPT_TEST_IMAP_PW");
}

static const struct {
	const char *body;
	const char *reason;
} refused[] = {
	{ "username = u\npassword_file = @PW@\n", "host: missing" },
	{ "host = h\npassword_file = @PW@\n", "username: missing" },
	{ "host = h\nusername = u\n", "exactly one of password_file" },
	{ "host = h\nusername = u\npassword_file = @PW@\n"
	  "password_env = X\n",
	    "exactly one of password_file" },
	{ "host = h\nusername = u\npassword_env = TRPT_UNSET_VAR_X\n",
	    "not set" },
	{ "host = h\nusername = u\npassword_file = /nonexistent/pw\n",
	    "No such file" },
	{ "host = h\nusername = u\npassword_file = @PW@\nsecurity = ssl\n",
	    "expected tls, starttls or none" },
	{ "host = h\nusername = u\npassword_file = @PW@\nsecurity = none\n",
	    "only allowed for loopback" },
	{ "host = h\nusername = u\npassword_file = @PW@\nafter = seen\n",
	    "read_only = false" },
	{ "host = h\nusername = u\npassword_file = @PW@\nread_only = no\n"
	  "after = move:\n",
	    "expected keep, seen, move:FOLDER or delete" },
	{ "host = h\nusername = u\npassword_file = @PW@\nafter = archive\n",
	    "expected keep" },
	{ "host = h\nusername = u\npassword_file = @PW@\nsince = yesterday\n",
	    "since" },
	{ "host = h\nusername = u\npassword_file = @PW@\ntimeout = 0\n",
	    "1 to 3600" },
	{ "host = h\nusername = u\npassword_file = @PW@\nport = 70000\n",
	    "port" },
	{ "host = h\nusername = u\npassword_file = @PW@\nbatch = 0\n",
	    "batch" },
	{ "host = h\nusername = u\npassword_file = @PW@\nhost = g\n",
	    "given more than once" },
	{ "host = h\nusername = u\npassword_file = @PW@\npasword = x\n",
	    "unknown key \"pasword\"" },
	{ "host = h\nusername = u\npassword_file = @PW@\nmailbox =\n",
	    "mailbox = \"\": must not be empty" },
};

static void
test_fetch_imap_refused(void **state)
{
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int rc = load(f, refused[i].body);

		if (rc != TRPT_EINVAL ||
		    strstr(f->err.msg, refused[i].reason) == NULL)
			fail_msg("case %zu: rc %d, \"%s\", wanted \"%s\"", i,
			    rc, f->err.msg, refused[i].reason);
		assert_null(f->owned.password);
	}
}

/* A password file readable by the group is refused. */
static void
test_fetch_imap_password_file_mode(void **state)
{
	struct fx *f = *state;

	assert_int_equal(chmod(f->pw, 0640), 0);
	assert_int_equal(load(f, "host = h\nusername = u\n"
				 "password_file = @PW@\n"),
	    TRPT_EINVAL);
	assert_non_null(strstr(f->err.msg, "readable or writable by group"));
}

static void
test_fetch_imap_loopback_names(void **state)
{
	struct fx *f = *state;
	static const char *const ok[] = { "127.0.0.1", "127.1.2.3", "::1",
		"localhost", "LOCALHOST" };
	static const char *const bad[] = { "128.0.0.1", "10.0.0.1", "::2",
		"localhost.example.org", "mail" };
	char body[512];
	size_t i;

	for (i = 0; i < 5; i++) {
		snprintf(body, sizeof(body),
		    "host = %s\nsecurity = none\nusername = u\n"
		    "password_file = @PW@\n",
		    ok[i]);
		assert_int_equal(load(f, body), TRPT_OK);
		assert_int_equal(f->ic.port, 143);
		snprintf(body, sizeof(body),
		    "host = %s\nsecurity = none\nusername = u\n"
		    "password_file = @PW@\n",
		    bad[i]);
		assert_int_equal(load(f, body), TRPT_EINVAL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_fetch_imap_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fetch_imap_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fetch_imap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fetch_imap_password_file_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fetch_imap_loopback_names, setup, teardown),
	};

	return cmocka_run_group_tests_name("fetch_imap", tests, NULL, NULL);
}
