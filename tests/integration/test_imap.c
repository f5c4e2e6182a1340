/*
 * The IMAP source against a real Dovecot on loopback: incremental fetch,
 * UIDVALIDITY rescans, implicit TLS and STARTTLS with real verification,
 * refused logins and other failures, read_only, the after-actions,
 * interrupted runs (a dropped connection, kill -9), and fetchers sharing
 * a database (the source's lease).
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tests/helpers/testutil.h"
#include "tests/integration/dovecot.h"

static struct trpt_dovecot dc;
static char *tmp; /* per-test directory for config, db and output */

static int
group_setup(void **state)
{
	(void)state;
	trpt_dovecot_start(&dc);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	trpt_dovecot_stop(&dc);
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	tmp = trpt_test_tmpdir();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	trpt_test_rmrf(tmp);
	free(tmp);
	tmp = NULL;
	return 0;
}

static const char *
path(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmp, name);
	return buf[i];
}

static void
write_private(const char *name, const char *text, mode_t mode)
{
	trpt_test_write(path(name), text, strlen(text));
	assert_int_equal(chmod(path(name), mode), 0);
}

/* A config with one [imap "NAME"] section; extra is appended to it. */
static void
write_config(const char *name, const char *host, int port, const char *security,
    const char *mailbox, const char *extra)
{
	char text[2048];

	write_private("pw", TRPT_DOVECOT_PASSWORD "\n", 0600);
	snprintf(text, sizeof(text),
	    "# test configuration\n"
	    "[imap \"%s\"]\n"
	    "host = %s\n"
	    "port = %d\n"
	    "security = %s\n"
	    "username = " TRPT_DOVECOT_USER "\n"
	    "password_file = %s\n"
	    "mailbox = %s\n"
	    "%s"
	    /* Generous: a loaded 2-core machine has taken over 5 s to log in
	     * (stop 27).  The tests of the timeouts set their own. */
	    "connect_timeout = 30\n"
	    /* The corpus mails are DKIM-signed: verifying them would ask the
	     * real DNS (test_dkim covers DKIM against a local server). */
	    "[dkim]\n"
	    "require = no\n",
	    name, host, port, security, path("pw"), mailbox,
	    extra != NULL ? extra : "timeout = 30\n");
	write_private("conf", text, 0600);
}

/* Runs "tlsrpt-collector --db DB --config CONF fetch [source]". */
static int
fetch(const char *source)
{
	const char *argv[] = { "--db", path("db"), "--config", path("conf"),
		"fetch", source, NULL };

	return trpt_run_collector(path("out"), path("err"), argv);
}

static char *
slurp(const char *name)
{
	return trpt_test_slurp(path(name), NULL);
}

static void
assert_contains(const char *name, const char *needle)
{
	char *s = slurp(name);

	if (strstr(s, needle) == NULL)
		fail_msg("%s does not contain \"%s\": %s", name, needle, s);
	free(s);
}

static int64_t
q(const char *sql, ...)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	va_list ap;
	const char *a;
	int64_t v = -1;
	int i = 1;

	assert_int_equal(
	    sqlite3_open_v2(path("db"), &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	/* A collector may be recovering the log of one killed before. */
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	va_start(ap, sql);
	while ((a = va_arg(ap, const char *)) != NULL)
		sqlite3_bind_text(st, i++, a, -1, SQLITE_TRANSIENT);
	va_end(ap);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int
db_exists(void)
{
	struct stat st;

	return stat(path("db"), &st) == 0;
}

/* Appends generated reports TAG-from .. TAG-(to-1); returns their bytes. */
static size_t
append_reports(mailimap *m, const char *mailbox, const char *tag, unsigned from,
    unsigned to)
{
	size_t total = 0;
	unsigned i;

	for (i = from; i < to; i++) {
		size_t len;
		char *mail = trpt_dovecot_report_mail(tag, i, &len);

		trpt_dovecot_append(m, mailbox, mail, len);
		total += len;
		free(mail);
	}
	return total;
}

static const char *const non_reports[] = {
	/* a DMARC aggregate report */
	"From: noreply-dmarc-support@google.com\r\n"
	"To: dmarc@example.org\r\n"
	"Subject: Report domain: example.org Submitter: google.com "
	"Report-ID: 1234\r\n"
	"Message-ID: <dmarc-1@google.com>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: application/zip;\r\n"
	" name=\"google.com!example.org!1772409600!1772495999.zip\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"UEsDBAoAAAAAAAAAIQAAAAAAAAAAAAAAAAAAAAA=\r\n",
	/* a bounce */
	"From: MAILER-DAEMON@example.org\r\n"
	"To: tlsrpt@example.org\r\n"
	"Subject: Undelivered Mail Returned to Sender\r\n"
	"Message-ID: <bounce-1@example.org>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/report; report-type=delivery-status;\r\n"
	" boundary=\"bb\"\r\n"
	"\r\n"
	"--bb\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"Your message could not be delivered.\r\n"
	"--bb\r\n"
	"Content-Type: message/delivery-status\r\n"
	"\r\n"
	"Reporting-MTA: dns; mx.example.org\r\n"
	"\r\n"
	"Final-Recipient: rfc822; nobody@example.com\r\n"
	"Action: failed\r\n"
	"Status: 5.1.1\r\n"
	"--bb--\r\n",
	/* spam */
	"From: winner@lottery.example\r\n"
	"To: tlsrpt@example.org\r\n"
	"Subject: You have won!\r\n"
	"Message-ID: <spam-1@lottery.example>\r\n"
	"\r\n"
	"Send us your bank details.\r\n",
};
#define NNONREPORTS (sizeof(non_reports) / sizeof(non_reports[0]))

/* Claims to be a TLS report, but its JSON is broken: quarantined. */
static const char bad_report[] =
    "From: noreply-smtp-tls-reporting@broken.example\r\n"
    "To: tlsrpt@example.org\r\n"
    "Subject: Report Domain: example.org Submitter: broken.example\r\n"
    "Message-ID: <broken-1@broken.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "TLS-Report-Domain: example.org\r\n"
    "TLS-Report-Submitter: broken.example\r\n"
    "Content-Type: multipart/report; report-type=\"tlsrpt\"; "
    "boundary=\"xx\"\r\n"
    "\r\n"
    "--xx\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "report\r\n"
    "--xx\r\n"
    "Content-Type: application/tlsrpt+json\r\n"
    "Content-Disposition: attachment; filename=\"report.json\"\r\n"
    "\r\n"
    "{\"organization-name\": \"Broken\", \"report-id\": \r\n"
    "--xx--\r\n";

static void
append_non_reports(mailimap *m, const char *mailbox)
{
	size_t i;

	for (i = 0; i < NNONREPORTS; i++)
		trpt_dovecot_append(
		    m, mailbox, non_reports[i], strlen(non_reports[i]));
}

/* The report e-mails of the shared corpus, appended; returns how many. */
static size_t
append_corpus(mailimap *m, const char *mailbox, char ***files)
{
	static const char *const dirs[] = { "real", "quirky" };
	size_t i, n = 0;

	*files = NULL;
	for (i = 0; i < 2; i++) {
		const char *dir = trpt_test_corpus(dirs[i]);
		struct dirent *de;
		DIR *d;

		if (dir == NULL)
			fail_msg("the corpus is needed (TRPT_CORPUS)");
		d = opendir(dir);
		assert_non_null(d);
		while ((de = readdir(d)) != NULL) {
			size_t l = strlen(de->d_name), len;
			char full[1024], *data;

			if (l < 5 || strcmp(de->d_name + l - 4, ".eml") != 0)
				continue;
			snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
			data = trpt_test_slurp(full, &len);
			trpt_dovecot_append(m, mailbox, data, len);
			free(data);
			*files = realloc(*files, (n + 2) * sizeof(**files));
			assert_non_null(*files);
			(*files)[n++] = strdup(full);
			(*files)[n] = NULL;
		}
		closedir(d);
	}
	return n;
}

static void
free_files(char **files)
{
	size_t i;

	for (i = 0; files != NULL && files[i] != NULL; i++)
		free(files[i]);
	free(files);
}

/* --------------------------------------------------------------------- */

/*
 * The corpus e-mails and non-report mail: the reports equal those that
 * "ingest" stores from the same files, non-reports are skipped quietly,
 * the broken report is quarantined with its mailbox and UID, and a second
 * run after more mail takes only the new messages.
 */
static void
test_imap_fetch_incremental(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	char **files = NULL, source[128], *err, *out;
	const char *argv[40];
	uint32_t uids[200];
	size_t ncorpus, n, i, k = 0;
	int64_t base_reports, base_rejected;
	int rc;

	(void)state;
	if (trpt_test_corpus("real") == NULL) {
		/* As the other corpus tests: present in CI (../shared). */
		trpt_dovecot_client_free(&m);
		skip();
	}
	trpt_dovecot_create(m, "inc");
	ncorpus = append_corpus(m, "inc", &files);
	assert_true(ncorpus >= 5);
	append_non_reports(m, "inc");
	trpt_dovecot_append(m, "inc", bad_report, strlen(bad_report));
	n = trpt_dovecot_uids(m, "inc", uids, 200);
	assert_int_equal(n, ncorpus + NNONREPORTS + 1);

	/* The baseline: the same e-mails through "ingest". */
	argv[k++] = "--db";
	argv[k++] = path("base.db");
	argv[k++] = "ingest";
	for (i = 0; i < ncorpus && k < 38; i++)
		argv[k++] = files[i];
	argv[k] = NULL;
	rc = trpt_run_collector(path("bout"), path("berr"), argv);
	assert_true(rc == 0 || rc == 1);
	{
		char *save = strdup(path("db"));

		/* q() reads "db": look at the baseline under that name. */
		assert_int_equal(rename(path("base.db"), save), 0);
		base_reports = q("SELECT count(*) FROM reports", NULL);
		base_rejected = q("SELECT count(*) FROM quarantine", NULL);
		assert_int_equal(unlink(save), 0);
		unlink(path("db-wal"));
		unlink(path("db-shm"));
		free(save);
	}
	assert_true(base_reports >= 5);

	write_config("inc-src", "localhost", dc.port_tls, "tls", "inc", NULL);
	{
		char extra[512];

		snprintf(extra, sizeof(extra), "ca_file = %s\nbatch = 4\n",
		    dc.ca_file);
		write_config(
		    "inc-src", "localhost", dc.port_tls, "tls", "inc", extra);
	}
	rc = fetch(NULL);
	err = slurp("err");
	out = slurp("out");
	assert_int_equal(rc, 1); /* the broken report was rejected */
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), base_reports);
	assert_int_equal(q("SELECT count(*) FROM quarantine WHERE source "
			   "LIKE 'inc-src/inc/%'",
			     NULL),
	    base_rejected + 1);
	/* The broken report is the last UID appended. */
	snprintf(source, sizeof(source), "inc-src/inc/%u", uids[n - 1]);
	assert_int_equal(q("SELECT count(*) FROM quarantine WHERE source = ? "
			   "AND source_kind = 'imap'",
			     source, NULL),
	    1);
	assert_non_null(strstr(err, source));
	assert_non_null(strstr(out, ", skipped 3"));
	/* Quiet: skipped mail is not mentioned without -v. */
	assert_null(strstr(err, "skipped"));
	assert_int_equal(q("SELECT last_uid FROM imap_state WHERE source = "
			   "'inc-src' AND mailbox = 'inc'",
			     NULL),
	    uids[n - 1]);
	assert_int_equal(q("SELECT uidvalidity FROM imap_state WHERE source "
			   "= 'inc-src'",
			     NULL),
	    trpt_dovecot_uidvalidity(m, "inc"));
	free(err);
	free(out);

	/* More mail: only the new messages are fetched. */
	append_reports(m, "inc", "inc", 0, 3);
	append_non_reports(m, "inc");
	rc = fetch("inc-src");
	assert_int_equal(rc, 0);
	out = slurp("out");
	assert_string_equal(
	    out, "ingested 3, duplicates 0, rejected 0, skipped 3\n");
	free(out);
	assert_int_equal(
	    q("SELECT count(*) FROM reports", NULL), base_reports + 3);

	/* Nothing new: nothing fetched. */
	assert_int_equal(fetch(NULL), 0);
	out = slurp("out");
	assert_string_equal(
	    out, "ingested 0, duplicates 0, rejected 0, skipped 0\n");
	free(out);
	free_files(files);
	trpt_dovecot_client_free(&m);
}

/*
 * Without the corpus too: non-report mail is skipped quietly, the broken
 * report is quarantined under SOURCE/MAILBOX/UID and named on stderr.
 */
static void
test_imap_skip_and_quarantine(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	uint32_t uids[20];
	char source[128], *err;
	size_t n;

	(void)state;
	trpt_dovecot_create(m, "sq");
	append_reports(m, "sq", "sq", 0, 2);
	append_non_reports(m, "sq");
	trpt_dovecot_append(m, "sq", bad_report, strlen(bad_report));
	n = trpt_dovecot_uids(m, "sq", uids, 20);
	assert_int_equal(n, 2 + NNONREPORTS + 1);
	write_config("sq-src", "127.0.0.1", dc.port, "none", "sq", NULL);
	assert_int_equal(fetch(NULL), 1);
	assert_contains(
	    "out", "ingested 2, duplicates 0, rejected 1, skipped 3\n");
	snprintf(source, sizeof(source), "sq-src/sq/%u", uids[n - 1]);
	assert_int_equal(q("SELECT count(*) FROM quarantine WHERE source = ? "
			   "AND source_kind = 'imap'",
			     source, NULL),
	    1);
	assert_int_equal(q("SELECT count(*) FROM quarantine", NULL), 1);
	err = slurp("err");
	assert_non_null(strstr(err, source));
	assert_non_null(strstr(err, "rejected"));
	assert_null(strstr(err, "skipped"));
	free(err);
	trpt_dovecot_client_free(&m);
}

/* A recreated mailbox has a new UIDVALIDITY: rescanned, no report twice. */
static void
test_imap_uidvalidity_rescan(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	uint32_t uv1, uv2;
	char *out;

	(void)state;
	trpt_dovecot_create(m, "uv");
	append_reports(m, "uv", "uv", 0, 3);
	uv1 = trpt_dovecot_uidvalidity(m, "uv");
	write_config("uv-src", "127.0.0.1", dc.port, "none", "uv", NULL);
	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 3);

	trpt_dovecot_delete(m, "uv");
	sleep(1); /* Dovecot's UIDVALIDITY is a timestamp */
	trpt_dovecot_create(m, "uv");
	append_reports(m, "uv", "uv", 0, 4);
	uv2 = trpt_dovecot_uidvalidity(m, "uv");
	assert_int_not_equal(uv1, uv2);
	assert_int_equal(fetch(NULL), 0);
	out = slurp("out");
	assert_string_equal(
	    out, "ingested 1, duplicates 3, rejected 0, skipped 0\n");
	free(out);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 4);
	assert_int_equal(q("SELECT uidvalidity FROM imap_state WHERE source = "
			   "'uv-src'",
			     NULL),
	    uv2);
	trpt_dovecot_client_free(&m);
}

static void
tls_case(const char *mailbox, const char *security, int port)
{
	mailimap *m = trpt_dovecot_client(&dc);
	char extra[512];

	trpt_dovecot_create(m, mailbox);
	append_reports(m, mailbox, mailbox, 0, 2);

	/* The test CA is not in the system store: refused. */
	write_config("tls-src", "localhost", port, security, mailbox, NULL);
	assert_int_equal(fetch(NULL), 3);
	assert_contains("err", "tlsrpt-collector: fetch tls-src: certificate "
			       "of localhost not accepted");
	assert_contains("err", "NOT trusted");
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM imap_state", NULL), 0);

	/* The right CA but the wrong name (the certificate names only
	 * localhost): refused. */
	snprintf(extra, sizeof(extra), "ca_file = %s\n", dc.ca_file);
	write_config("tls-src", "127.0.0.1", port, security, mailbox, extra);
	assert_int_equal(fetch(NULL), 3);
	assert_contains("err", "certificate of 127.0.0.1 not accepted");
	assert_contains("err", "name in the certificate does not match");
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 0);

	/* The right CA and name: accepted. */
	write_config("tls-src", "localhost", port, security, mailbox, extra);
	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 2);
	trpt_dovecot_client_free(&m);
}

static void
test_imap_implicit_tls(void **state)
{
	(void)state;
	tls_case("tls", "tls", dc.port_tls);
}

static void
test_imap_starttls(void **state)
{
	(void)state;
	tls_case("stls", "starttls", dc.port);
}

static void
test_imap_wrong_password(void **state)
{
	(void)state;
	write_config("pw-src", "127.0.0.1", dc.port, "none", "INBOX", NULL);
	write_private("pw", "not-the-password\n", 0600);
	assert_int_equal(fetch(NULL), 3);
	assert_contains(
	    "err", "tlsrpt-collector: fetch pw-src: login as reports refused");
}

static void
test_imap_failures(void **state)
{
	struct trpt_proxy *px;
	int port = trpt_dovecot_free_port();

	(void)state;
	/* Nothing listens. */
	write_config("dead", "127.0.0.1", port, "none", "INBOX", NULL);
	assert_int_equal(fetch(NULL), 3);
	assert_contains("err", "fetch dead: connect to 127.0.0.1 port");
	assert_contains("err", "Connection refused");

	/* A server that never says anything: the timeout ends it. */
	px = trpt_proxy_start(dc.port, 1, 1);
	write_config("mute", "127.0.0.1", trpt_proxy_port(px), "none", "INBOX",
	    "timeout = 1\n");
	assert_int_equal(fetch(NULL), 3);
	assert_contains("err", "fetch mute:");
	assert_contains("err", "timed out after 1 s");
	trpt_proxy_stop(&px);

	/* The same during the TLS handshake (implicit TLS). */
	px = trpt_proxy_start(dc.port_tls, 1, 1);
	write_config("mute-tls", "localhost", trpt_proxy_port(px), "tls",
	    "INBOX", "timeout = 1\n");
	assert_int_equal(fetch(NULL), 3);
	assert_contains("err", "fetch mute-tls: TLS handshake with localhost");
	assert_contains("err", "timed out after 1 s");
	trpt_proxy_stop(&px);

	/* A mailbox that does not exist. */
	write_config(
	    "nobox", "127.0.0.1", dc.port, "none", "nonexistent", NULL);
	assert_int_equal(fetch(NULL), 3);
	assert_contains("err", "fetch nobox: mailbox \"nonexistent\"");
	assert_int_equal(q("SELECT count(*) FROM imap_state", NULL), 0);
}

static void
test_imap_config_refused(void **state)
{
	(void)state;
	/* A configuration readable by others. */
	write_config("cfg", "127.0.0.1", dc.port, "none", "INBOX", NULL);
	assert_int_equal(chmod(path("conf"), 0644), 0);
	assert_int_equal(fetch(NULL), 2);
	assert_contains("err", "readable or writable by group or others");
	assert_false(db_exists());

	/* A password file readable by the group. */
	write_config("cfg", "127.0.0.1", dc.port, "none", "INBOX", NULL);
	assert_int_equal(chmod(path("pw"), 0640), 0);
	assert_int_equal(fetch(NULL), 2);
	assert_contains("err", "password_file");
	assert_contains("err", "chmod 600");
	assert_false(db_exists());

	/* Clear text to a host that is not loopback. */
	write_config("cfg", "imap.example.org", 143, "none", "INBOX", NULL);
	assert_int_equal(fetch(NULL), 2);
	assert_contains("err", "only allowed for loopback");
	assert_false(db_exists());

	/* An after-action on a read-only source. */
	write_config(
	    "cfg", "127.0.0.1", dc.port, "none", "INBOX", "after = delete\n");
	assert_int_equal(fetch(NULL), 2);
	assert_contains("err", "read_only = false");
	assert_false(db_exists());

	/* An unknown source name. */
	write_config("cfg", "127.0.0.1", dc.port, "none", "INBOX", NULL);
	assert_int_equal(fetch("other"), 2);
	assert_contains("err", "no source \"other\"");
	assert_false(db_exists());
}

/*
 * On a terminal, a progress line (messages done of total, reports
 * stored) is redrawn in place; elsewhere there is none.
 */
static void
test_imap_progress_line(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	char buf[65536], db[512], conf[512];
	const char *argv[] = { "--db", db, "--config", conf, "fetch", NULL };
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int master, slave, rc;

	(void)state;
	trpt_dovecot_create(m, "prog");
	append_reports(m, "prog", "prog", 0, 30);
	write_config(
	    "prog-src", "127.0.0.1", dc.port, "none", "prog", "batch = 5\n");
	snprintf(db, sizeof(db), "%s", path("db"));
	snprintf(conf, sizeof(conf), "%s", path("conf"));
	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	{
		/* stderr on the terminal, stdout to a file */
		int saved = dup(2);

		assert_true(saved >= 0);
		assert_true(dup2(slave, 2) >= 0);
		pid = trpt_spawn_collector(path("out"), NULL, argv);
		assert_true(dup2(saved, 2) >= 0);
		close(saved);
	}
	close(slave);
	for (;;) {
		n = read(master, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break; /* EIO once the child has closed the terminal */
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(master);
	rc = trpt_wait_collector(pid);
	assert_int_equal(rc, 0);
	if (strstr(buf, "prog-src/prog: 30 of 30 messages, 30 reports "
			"stored") == NULL ||
	    strstr(buf, "\r\033[K") == NULL)
		fail_msg("no progress line on the terminal: %s", buf);
	assert_contains(
	    "out", "ingested 30, duplicates 0, rejected 0, skipped 0\n");

	/* Not a terminal: no progress line. */
	append_reports(m, "prog", "prog", 30, 40);
	assert_int_equal(fetch(NULL), 0);
	{
		char *e = slurp("err");

		assert_string_equal(e, "");
		free(e);
	}
	trpt_dovecot_client_free(&m);
}

/*
 * A hostile server that answers STARTTLS and, in the same packet, adds a
 * response in clear text (the injection of CVE-2020-15953).  Only a fake
 * server can misbehave so; the client must refuse the connection.
 */
static void *
injecting_server(void *arg)
{
	int lfd = *(int *)arg, fd;
	char line[256], reply[512];
	size_t n = 0;
	ssize_t r;

	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	if (write(fd, "* OK fake server ready\r\n", 24) != 24)
		goto out;
	while (n < sizeof(line) - 1) {
		r = read(fd, line + n, 1);
		if (r <= 0)
			goto out;
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	line[strcspn(line, " ")] = '\0'; /* the tag */
	n = (size_t)snprintf(reply, sizeof(reply),
	    "%s OK Begin TLS negotiation now\r\n"
	    "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n",
	    line);
	if (write(fd, reply, n) != (ssize_t)n)
		goto out;
	while (read(fd, line, sizeof(line)) > 0)
		;
out:
	close(fd);
	return NULL;
}

static void
test_imap_starttls_injection(void **state)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	pthread_t th;
	int lfd;

	(void)state;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(pthread_create(&th, NULL, injecting_server, &lfd), 0);
	write_config("inject", "localhost", ntohs(sa.sin_port), "starttls",
	    "INBOX", NULL);
	assert_int_equal(fetch(NULL), 3);
	pthread_join(th, NULL);
	close(lfd);
	assert_contains("err", "fetch inject: server sent data after its "
			       "STARTTLS answer; refusing the connection");
}

/* The annotated example passes --check once its password file exists. */
static void
test_imap_example_config(void **state)
{
	const char *root = getenv("TRPT_SOURCE_ROOT");
	char src[1024], line[1200], *text, *p, *e;
	const char *argv[] = { "--config", NULL, "fetch", "--check", NULL };
	size_t len;
	int rc;

	(void)state;
	assert_non_null(root);
	snprintf(src, sizeof(src), "%s/examples/tlsrpt-collector.conf", root);
	text = trpt_test_slurp(src, &len);
	write_private("pw", "secret\n", 0600);
	/* Point password_file at a file that exists. */
	p = strstr(text, "\npassword_file = ");
	assert_non_null(p);
	e = strchr(p + 1, '\n');
	assert_non_null(e);
	*p = '\0';
	snprintf(line, sizeof(line), "\npassword_file = %s", path("pw"));
	{
		FILE *f = fopen(path("conf"), "w");

		assert_non_null(f);
		fputs(text, f);
		fputs(line, f);
		fputs(e, f);
		fclose(f);
	}
	assert_int_equal(chmod(path("conf"), 0600), 0);
	argv[1] = path("conf");
	rc = trpt_run_collector(path("out"), path("err"), argv);
	assert_int_equal(rc, 0);
	assert_contains("out", "1 source, configuration valid");
	assert_false(db_exists());
	free(text);
}

/*
 * A message over max_message is not fetched: if its header claims a TLS
 * report, the header is quarantined with the reason and its UID; other
 * big mail is skipped.  Either way the next run does not ask again.
 */
static void
test_imap_oversized(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	char big[3000], source[128], text[4096];
	uint32_t uids[10];
	size_t n;

	(void)state;
	trpt_dovecot_create(m, "big");
	append_reports(m, "big", "big", 0, 2);
	memset(big, 'x', sizeof(big));
	memcpy(big, "To: tlsrpt@example.org\r\nSubject: big\r\n\r\n", 40);
	trpt_dovecot_append(m, "big", big, sizeof(big));
	n = trpt_dovecot_uids(m, "big", uids, 10);
	assert_int_equal(n, 3);
	write_config("big-src", "127.0.0.1", dc.port, "none", "big", NULL);
	{
		char *c = slurp("conf");

		snprintf(
		    text, sizeof(text), "[limits]\nmax_message = 1k\n%s", c);
		free(c);
		write_private("conf", text, 0600);
	}
	assert_int_equal(fetch(NULL), 1);
	assert_contains(
	    "out", "ingested 0, duplicates 0, rejected 2, skipped 1\n");
	assert_contains("err", "exceeds max_message (1024 bytes)");
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 0);
	snprintf(source, sizeof(source), "big-src/big/%u", uids[0]);
	assert_int_equal(q("SELECT count(*) FROM quarantine WHERE source = ? "
			   "AND reason LIKE '%exceeds max_message%' AND "
			   "size < 1024",
			     source, NULL),
	    1);
	assert_int_equal(q("SELECT last_uid FROM imap_state", NULL), uids[2]);
	assert_int_equal(fetch(NULL), 0);
	assert_contains(
	    "out", "ingested 0, duplicates 0, rejected 0, skipped 0\n");
	trpt_dovecot_client_free(&m);
}

/*
 * since = DATE limits the first backfill by INTERNALDATE; later runs take
 * every new message, whatever its date.
 */
static void
test_imap_since(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	const char *argv[] = { "-v", "--db", NULL, "--config", NULL, "fetch",
		NULL };
	unsigned i;

	(void)state;
	trpt_dovecot_create(m, "since");
	for (i = 0; i < 4; i++) {
		size_t len;
		char *mail = trpt_dovecot_report_mail("since", i, &len);

		if (i < 2)
			trpt_dovecot_append_dated(
			    m, "since", mail, len, 2025, 6, 1);
		else
			trpt_dovecot_append_dated(
			    m, "since", mail, len, 2026, 3, 2);
		free(mail);
	}
	write_config("since-src", "127.0.0.1", dc.port, "none", "since",
	    "since = 2026-01-01\n");
	argv[2] = path("db");
	argv[4] = path("conf");
	assert_int_equal(trpt_run_collector(path("out"), path("err"), argv), 0);
	assert_contains(
	    "out", "ingested 2, duplicates 0, rejected 0, skipped 0\n");
	assert_contains("err", "since-src: 2 messages, 2 older than since");
	assert_int_equal(q("SELECT count(*) FROM reports WHERE report_id IN "
			   "('since-2', 'since-3')",
			     NULL),
	    2);

	/* Not a backfill any more: an old-dated newcomer is taken. */
	{
		size_t len;
		char *mail = trpt_dovecot_report_mail("since", 9, &len);

		trpt_dovecot_append_dated(m, "since", mail, len, 2024, 1, 1);
		free(mail);
	}
	assert_int_equal(fetch(NULL), 0);
	assert_contains(
	    "out", "ingested 1, duplicates 0, rejected 0, skipped 0\n");
	trpt_dovecot_client_free(&m);
}

/* read_only (the default): no flag set, nothing moved or removed. */
static void
test_imap_read_only(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	uint32_t uids[20];
	size_t n, i;

	(void)state;
	trpt_dovecot_create(m, "ro");
	append_reports(m, "ro", "ro", 0, 3);
	append_non_reports(m, "ro");
	write_config("ro-src", "127.0.0.1", dc.port, "none", "ro", NULL);
	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 3);
	n = trpt_dovecot_uids(m, "ro", uids, 20);
	assert_int_equal(n, 3 + NNONREPORTS);
	for (i = 0; i < n; i++) {
		assert_false(trpt_dovecot_has_flag(m, "ro", uids[i], "\\Seen"));
		assert_false(
		    trpt_dovecot_has_flag(m, "ro", uids[i], "\\Deleted"));
	}
	trpt_dovecot_client_free(&m);
}

/* after = seen: reports get \Seen, other mail stays unseen. */
static void
test_imap_after_seen(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	uint32_t uids[20];
	size_t n, i;

	(void)state;
	trpt_dovecot_create(m, "seen");
	append_reports(m, "seen", "seen", 0, 3);
	append_non_reports(m, "seen");
	write_config("seen-src", "127.0.0.1", dc.port, "none", "seen",
	    "read_only = false\nafter = seen\n");
	assert_int_equal(fetch(NULL), 0);
	n = trpt_dovecot_uids(m, "seen", uids, 20);
	assert_int_equal(n, 3 + NNONREPORTS);
	for (i = 0; i < n; i++)
		assert_int_equal(
		    trpt_dovecot_has_flag(m, "seen", uids[i], "\\Seen"), i < 3);
	trpt_dovecot_client_free(&m);
}

/* after = delete: report messages are expunged, other mail stays. */
static void
test_imap_after_delete(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	uint32_t uids[20];

	(void)state;
	trpt_dovecot_create(m, "del");
	append_reports(m, "del", "del", 0, 3);
	append_non_reports(m, "del");
	write_config("del-src", "127.0.0.1", dc.port, "none", "del",
	    "read_only = false\nafter = delete\n");
	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 3);
	assert_int_equal(trpt_dovecot_uids(m, "del", uids, 20), NNONREPORTS);
	trpt_dovecot_client_free(&m);
}

/*
 * after = delete when the database cannot commit (another writer holds
 * it past the busy timeout): the run fails and no message is touched;
 * the next run stores and deletes them all.
 */
static void
test_imap_after_delete_db_locked(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	uint32_t uids[20];
	sqlite3 *db;
	size_t i;

	(void)state;
	trpt_dovecot_create(m, "lock");
	write_config("lock-src", "127.0.0.1", dc.port, "none", "lock",
	    "read_only = false\nafter = delete\n");
	assert_int_equal(fetch(NULL), 0); /* empty: creates db and state */
	append_reports(m, "lock", "lock", 0, 3);

	assert_int_equal(sqlite3_open(path("db"), &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(fetch(NULL), 3);
	assert_int_equal(
	    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* The lease of the source is the first write: the run stops
	 * there, before any message is fetched. */
	assert_contains("err", "fetch lock-src: lease: ");
	assert_contains("err", "locked");
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 0);
	assert_int_equal(q("SELECT last_uid FROM imap_state", NULL), 0);
	assert_int_equal(trpt_dovecot_uids(m, "lock", uids, 20), 3);
	for (i = 0; i < 3; i++)
		assert_false(
		    trpt_dovecot_has_flag(m, "lock", uids[i], "\\Deleted"));

	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 3);
	assert_int_equal(trpt_dovecot_uids(m, "lock", uids, 20), 0);
	trpt_dovecot_client_free(&m);
}

/*
 * after = move through a connection dropped mid-fetch: at the drop, every
 * moved message has its report committed and nothing is half done; the
 * clean run that follows moves the rest and stores each report once.
 */
static void
test_imap_after_move_dropped(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	struct trpt_proxy *px;
	uint32_t uids[80];
	int64_t stored, moved;
	char extra[256];
	size_t bytes;
	int rc;

	(void)state;
	trpt_dovecot_create(m, "mv");
	trpt_dovecot_create(m, "mv-done");
	bytes = append_reports(m, "mv", "mv", 0, 40);
	append_non_reports(m, "mv");
	px = trpt_proxy_start(dc.port, bytes / 2, 0);
	snprintf(extra, sizeof(extra),
	    "read_only = false\nafter = move:mv-done\nbatch = 5\n");
	write_config(
	    "mv-src", "127.0.0.1", trpt_proxy_port(px), "none", "mv", extra);
	rc = fetch(NULL);
	assert_true(trpt_proxy_cut_done(px));
	trpt_proxy_stop(&px);
	assert_int_equal(rc, 3);
	assert_contains("err", "fetch mv-src:");
	assert_contains("err", "connection closed by the server");
	stored = q("SELECT count(*) FROM reports", NULL);
	moved = (int64_t)trpt_dovecot_uids(m, "mv-done", uids, 80);
	assert_true(stored > 0 && stored < 40);
	/* A message is moved only after its report is committed; at most
	 * the batch in hand at the drop (batch = 5: one transaction, then
	 * one MOVE) is committed but not moved. */
	assert_true(moved <= stored && stored - moved <= 5);
	assert_int_equal(trpt_dovecot_uids(m, "mv", uids, 80),
	    40 + NNONREPORTS - (size_t)moved);

	/* The clean run. */
	write_config("mv-src", "127.0.0.1", dc.port, "none", "mv", extra);
	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 40);
	assert_int_equal(q("SELECT max(seen_count) FROM reports", NULL),
	    1 + (stored > moved ? 1 : 0));
	assert_int_equal(trpt_dovecot_uids(m, "mv-done", uids, 80), 40);
	assert_int_equal(trpt_dovecot_uids(m, "mv", uids, 80), NNONREPORTS);
	trpt_dovecot_client_free(&m);
}

/*
 * kill -9 while the collector waits in the middle of a fetch: what was
 * committed stays, and the next run completes without storing anything
 * twice.
 */
static void
test_imap_kill9(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	struct trpt_proxy *px;
	int64_t stored, last;
	char db[512], conf[512];
	const char *argv[] = { "--db", db, "--config", conf, "fetch", NULL };
	size_t bytes;
	pid_t pid;
	int i, rc;

	(void)state;
	trpt_dovecot_create(m, "k9");
	bytes = append_reports(m, "k9", "k9", 0, 40);
	px = trpt_proxy_start(dc.port, bytes / 2, 1);
	write_config("k9-src", "127.0.0.1", trpt_proxy_port(px), "none", "k9",
	    "batch = 5\n");
	snprintf(db, sizeof(db), "%s", path("db"));
	snprintf(conf, sizeof(conf), "%s", path("conf"));
	pid = trpt_spawn_collector(path("out"), path("err"), argv);
	for (i = 0; i < 200 && !trpt_proxy_cut_done(px); i++)
		usleep(20000);
	assert_true(trpt_proxy_cut_done(px));
	usleep(300000); /* let it commit what it has and block */
	kill(pid, SIGKILL);
	rc = trpt_wait_collector(pid);
	trpt_proxy_stop(&px);
	assert_int_equal(rc, 128 + SIGKILL);
	stored = q("SELECT count(*) FROM reports", NULL);
	last =
	    q("SELECT last_uid FROM imap_state WHERE source = 'k9-src'", NULL);
	assert_true(stored > 0 && stored < 40);
	/* Each message holds one report, UIDs start at 1, and the kill
	 * came while waiting: every committed message is recorded. */
	assert_int_equal(last, stored);

	write_config("k9-src", "127.0.0.1", dc.port, "none", "k9", NULL);
	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 40);
	assert_int_equal(q("SELECT max(seen_count) FROM reports", NULL), 1);
	trpt_dovecot_client_free(&m);
}

/*
 * kill -9 at varied points of a fast fetch (parse ahead: the reading
 * thread hands the messages to the pipeline's parse and store threads,
 * and the store thread saves the UID in each batch's transaction): the
 * saved UID always equals the reports committed (each message holds one
 * report, UIDs 1..N in order), neither ahead of a commit nor behind it,
 * so the next run refetches only what was not committed and stores
 * nothing twice.
 */
static void
test_imap_kill9_parse_ahead(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	static const int64_t targets[] = { 1, 400, 900, 1400 };
	char db[512], conf[512];
	const char *argv[] = { "--db", db, "--config", conf, "fetch", NULL };
	int64_t stored = 0, last, n = 2000;
	size_t i;
	pid_t pid;
	int rc, cut = 0;

	(void)state;
	trpt_dovecot_create(m, "kp0");
	write_config(
	    "kp-src", "127.0.0.1", dc.port, "none", "kp0", "batch = 50\n");
	assert_int_equal(fetch(NULL), 0); /* the database, migrated */
	trpt_dovecot_fill_maildir(&dc, "kp", "kp", (unsigned)n);
	write_config(
	    "kp-src", "127.0.0.1", dc.port, "none", "kp", "batch = 50\n");
	snprintf(db, sizeof(db), "%s", path("db"));
	snprintf(conf, sizeof(conf), "%s", path("conf"));
	srand((unsigned)time(NULL));
	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		pid = trpt_spawn_collector(path("out"), path("err"), argv);
		while ((stored = q("SELECT count(*) FROM reports", NULL)) <
			   targets[i] &&
		       stored < n)
			usleep(1000);
		/* Not only right after a commit: anywhere in a batch. */
		usleep((useconds_t)(rand() % 20000));
		kill(pid, SIGKILL);
		rc = trpt_wait_collector(pid);
		assert_true(rc == 128 + SIGKILL || rc == 0);
		stored = q("SELECT count(*) FROM reports", NULL);
		last = q("SELECT coalesce(max(last_uid), 0) FROM imap_state "
			 "WHERE source = 'kp-src' AND mailbox = 'kp'",
		    NULL);
		print_message("# kill %zu: %lld stored, last_uid %lld\n", i,
		    (long long)stored, (long long)last);
		assert_int_equal(last, stored);
		assert_int_equal(
		    q("SELECT max(seen_count) FROM reports", NULL), 1);
		if (rc != 0 && stored < n)
			cut++;
	}
	assert_true(cut > 0); /* at least one kill came mid-fetch */
	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), n);
	assert_int_equal(q("SELECT max(seen_count) FROM reports", NULL), 1);
	assert_int_equal(q("SELECT last_uid FROM imap_state WHERE mailbox = "
			   "'kp'",
			     NULL),
	    n);
	trpt_dovecot_client_free(&m);
}

/* Runs sql (no rows) on the test's database. */
static void
db_exec(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path("db"), &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

/*
 * Two fetchers of one source against one database (issue 14): while the
 * first holds the source's lease (its connection stalled mid-fetch), a
 * second says the source is busy and touches nothing; once the first has
 * failed and let go, the next run stores the rest, every report once.
 */
static void
test_imap_lease_busy(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	struct trpt_proxy *px;
	char db[512], conf[512], holder[300], host[256];
	const char *argv[] = { "--db", db, "--config", conf, "fetch", NULL };
	int64_t stored;
	size_t bytes;
	pid_t pid;
	int i;

	(void)state;
	trpt_dovecot_create(m, "ls");
	bytes = append_reports(m, "ls", "ls", 0, 40);
	px = trpt_proxy_start(dc.port, bytes / 2, 1);
	write_config("ls-src", "127.0.0.1", trpt_proxy_port(px), "none", "ls",
	    "batch = 5\ntimeout = 3\n");
	snprintf(db, sizeof(db), "%s", path("db"));
	snprintf(conf, sizeof(conf), "%s", path("conf"));
	pid = trpt_spawn_collector(path("out1"), path("err1"), argv);
	for (i = 0; i < 200 && !trpt_proxy_cut_done(px); i++)
		usleep(20000);
	assert_true(trpt_proxy_cut_done(px));
	usleep(300000); /* let it commit what it has and block */
	stored = q("SELECT count(*) FROM reports", NULL);
	assert_true(stored > 0 && stored < 40);
	assert_true(gethostname(host, sizeof(host)) == 0);
	snprintf(holder, sizeof(holder), "%s:%d", host, (int)pid);
	assert_int_equal(q("SELECT count(*) FROM imap_lease WHERE source = "
			   "'ls-src' AND holder = ?",
			     holder, NULL),
	    1);

	/* The second fetcher, straight to Dovecot: busy, one line. */
	write_config("ls-src", "127.0.0.1", dc.port, "none", "ls",
	    "batch = 5\ntimeout = 3\n");
	assert_int_equal(fetch(NULL), 0);
	assert_contains("err", "fetch ls-src: source is busy: another "
			       "fetcher (");
	assert_contains("err", holder);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), stored);

	/* The first times out, fails and lets go of the lease. */
	assert_int_equal(trpt_wait_collector(pid), 3);
	trpt_proxy_stop(&px);
	assert_int_equal(q("SELECT count(*) FROM imap_lease", NULL), 0);

	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 40);
	assert_int_equal(q("SELECT max(seen_count) FROM reports", NULL), 1);
	assert_int_equal(q("SELECT last_uid FROM imap_state", NULL), 40);
	trpt_dovecot_client_free(&m);
}

/*
 * `run` (the daemon) fetches through the parse-ahead pipeline, as
 * `fetch`: with its connection stalled mid-answer, the messages that came
 * are committed with their UID within a batch's 200 ms, without waiting
 * for the answer to end or for `batch` messages (50 here, more than
 * came).  Before, `run` stored on the reading thread in batches of
 * `batch`, so nothing was committed until the 30 s timeout.
 */
static void
test_imap_run_parse_ahead(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	struct trpt_proxy *px;
	char db[512], conf[512];
	const char *argv[] = { "--db", db, "--config", conf, "run", NULL };
	int64_t stored = 0;
	size_t bytes;
	pid_t pid;
	int i;

	(void)state;
	trpt_dovecot_create(m, "rp");
	bytes = append_reports(m, "rp", "rp", 0, 40);
	px = trpt_proxy_start(dc.port, bytes / 2, 1);
	write_config("rp-src", "127.0.0.1", trpt_proxy_port(px), "none", "rp",
	    "batch = 50\ntimeout = 30\nidle = no\n");
	snprintf(db, sizeof(db), "%s", path("db"));
	snprintf(conf, sizeof(conf), "%s", path("conf"));
	pid = trpt_spawn_collector(path("out"), path("err"), argv);
	for (i = 0; i < 500 && !trpt_proxy_cut_done(px); i++)
		usleep(20000);
	assert_true(trpt_proxy_cut_done(px));
	/* Well before the 30 s timeout (200 ms are enough when idle). */
	for (i = 0; i < 500 && stored == 0; i++) {
		usleep(20000);
		if (access(db, F_OK) == 0)
			stored = q("SELECT count(*) FROM reports", NULL);
	}
	print_message("# stalled run: %lld stored after %d ms\n",
	    (long long)stored, i * 20);
	assert_true(stored > 0 && stored < 40);
	/* The saved UID is that of the last committed message (the UIDs
	 * of this new mailbox are 1..40). */
	assert_int_equal(q("SELECT last_uid FROM imap_state WHERE source = "
			   "'rp-src' AND mailbox = 'rp'",
			     NULL),
	    q("SELECT count(*) FROM reports", NULL));
	kill(pid, SIGKILL);
	(void)trpt_wait_collector(pid);
	trpt_proxy_stop(&px);

	write_config("rp-src", "127.0.0.1", dc.port, "none", "rp", NULL);
	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 40);
	assert_int_equal(q("SELECT max(seen_count) FROM reports", NULL), 1);
	trpt_dovecot_client_free(&m);
}

/*
 * Two fetchers started at the same moment on one mailbox and one
 * database: between them every message is processed once (a message
 * processed twice would show as a report seen twice).
 */
static void
test_imap_lease_concurrent(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	char db[512], conf[512];
	const char *argv[] = { "--db", db, "--config", conf, "fetch", NULL };
	pid_t a, b;

	(void)state;
	trpt_dovecot_create(m, "lc");
	write_config("lc-src", "127.0.0.1", dc.port, "none", "lc", NULL);
	assert_int_equal(fetch(NULL), 0); /* the database, migrated */
	append_reports(m, "lc", "lc", 0, 120);
	snprintf(db, sizeof(db), "%s", path("db"));
	snprintf(conf, sizeof(conf), "%s", path("conf"));
	a = trpt_spawn_collector(path("out1"), path("err1"), argv);
	b = trpt_spawn_collector(path("out2"), path("err2"), argv);
	assert_int_equal(trpt_wait_collector(a), 0);
	assert_int_equal(trpt_wait_collector(b), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 120);
	assert_int_equal(q("SELECT max(seen_count) FROM reports", NULL), 1);
	assert_int_equal(q("SELECT last_uid FROM imap_state", NULL), 120);
	assert_int_equal(q("SELECT count(*) FROM imap_lease", NULL), 0);
	trpt_dovecot_client_free(&m);
}

/*
 * A lease held by a fetcher elsewhere is respected until it ends, then
 * taken over (a crashed holder); one held by a process of this host that
 * no longer runs is taken over at once.
 */
static void
test_imap_lease_expired(void **state)
{
	mailimap *m = trpt_dovecot_client(&dc);
	char sql[700], host[256];
	time_t now = time(NULL);
	pid_t dead;

	(void)state;
	trpt_dovecot_create(m, "le");
	write_config("le-src", "127.0.0.1", dc.port, "none", "le", NULL);
	assert_int_equal(fetch(NULL), 0); /* the database, migrated */
	append_reports(m, "le", "le", 0, 3);

	snprintf(sql, sizeof(sql),
	    "INSERT INTO imap_lease (source, holder, expires_at) VALUES "
	    "('le-src', 'elsewhere.example:4242', %lld)",
	    (long long)now + 600);
	db_exec(sql);
	assert_int_equal(fetch(NULL), 0);
	assert_contains("err", "fetch le-src: source is busy: another fetcher "
			       "(elsewhere.example:4242) holds it until ");
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 0);

	/* Its holder crashed: once the lease has ended, it is taken. */
	snprintf(sql, sizeof(sql), "UPDATE imap_lease SET expires_at = %lld",
	    (long long)now - 1);
	db_exec(sql);
	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 3);
	assert_int_equal(q("SELECT count(*) FROM imap_lease", NULL), 0);

	/* A dead process of this host: taken at once. */
	dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(trpt_wait_collector(dead), 0);
	assert_true(gethostname(host, sizeof(host)) == 0);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO imap_lease (source, holder, expires_at) VALUES "
	    "('le-src', '%s:%d', %lld)",
	    host, (int)dead, (long long)now + 600);
	db_exec(sql);
	append_reports(m, "le", "le", 3, 5);
	assert_int_equal(fetch(NULL), 0);
	assert_int_equal(q("SELECT count(*) FROM reports", NULL), 5);
	assert_int_equal(q("SELECT count(*) FROM imap_lease", NULL), 0);
	trpt_dovecot_client_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_imap_fetch_incremental, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_skip_and_quarantine, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_uidvalidity_rescan, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_implicit_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_starttls, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_wrong_password, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_config_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_example_config, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_progress_line, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_oversized, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_since, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_starttls_injection, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_after_delete_db_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_after_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_after_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_after_move_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_kill9, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_kill9_parse_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_lease_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_run_parse_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_lease_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imap_lease_expired, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name(
	    "imap", tests, group_setup, group_teardown);
}
