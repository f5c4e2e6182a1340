/*
 * Benchmark: "tlsrpt-collector fetch" of a Dovecot mailbox of report
 * e-mails (10,000 by default, $TRPT_BENCH_MESSAGES to change), over
 * loopback without TLS, into a new database.  Prints messages per second
 * (wall clock of the whole command, from exec to exit, including the
 * login, the database commits and the state updates) and the peak
 * resident set size of the collector (getrusage of the child).  A second
 * mailbox of a tenth of the size is fetched first, to show that memory
 * does not grow with the mailbox.  See docs/BENCHMARKS.md.
 */

#include <sys/stat.h>

#include <setjmp.h>
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

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The mails are written into the Maildir directly (APPEND costs Dovecot
 * some 10 ms each), then Dovecot indexes the mailbox once, as it would
 * have been long before a real fetch: the timing covers the fetch alone.
 */
static void
fill(
    const struct trpt_dovecot *dc, mailimap *m, const char *mailbox, unsigned n)
{
	uint32_t *uids = calloc(n + 1, sizeof(*uids));

	assert_non_null(uids);
	trpt_dovecot_fill_maildir(dc, mailbox, mailbox, n);
	assert_int_equal(trpt_dovecot_uids(m, mailbox, uids, n + 1), n);
	assert_false(trpt_dovecot_has_flag(m, mailbox, uids[n - 1], "\\Seen"));
	free(uids);
}

static int64_t
count_reports(const char *db)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t n = -1;

	assert_int_equal(
	    sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(
			     h, "SELECT count(*) FROM reports", -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

/* Runs one fetch of mailbox into a fresh database; returns seconds. */
static double
run(const struct trpt_dovecot *dc, const char *dir, const char *mailbox,
    long *rss_kb, double *cpu, int64_t *reports)
{
	char conf[512], db[512], pw[512], text[1024], out[512], err[512];
	const char *argv[] = { "--db", db, "--config", conf, "fetch", NULL };
	double t0, t1;
	pid_t pid;
	int rc;

	snprintf(conf, sizeof(conf), "%s/%s.conf", dir, mailbox);
	snprintf(db, sizeof(db), "%s/%s.db", dir, mailbox);
	snprintf(pw, sizeof(pw), "%s/pw", dir);
	snprintf(out, sizeof(out), "%s/%s.out", dir, mailbox);
	snprintf(err, sizeof(err), "%s/%s.err", dir, mailbox);
	trpt_test_write(
	    pw, TRPT_DOVECOT_PASSWORD "\n", strlen(TRPT_DOVECOT_PASSWORD) + 1);
	assert_int_equal(chmod(pw, 0600), 0);
	snprintf(text, sizeof(text),
	    "[imap \"%s\"]\nhost = 127.0.0.1\nport = %d\nsecurity = none\n"
	    "username = " TRPT_DOVECOT_USER "\npassword_file = %s\n"
	    "mailbox = %s\n",
	    mailbox, dc->port, pw, mailbox);
	trpt_test_write(conf, text, strlen(text));
	assert_int_equal(chmod(conf, 0600), 0);
	t0 = now();
	pid = trpt_spawn_collector(out, err, argv);
	rc = trpt_wait_collector_rusage(pid, rss_kb, cpu);
	t1 = now();
	if (rc != 0) {
		char *e = trpt_test_slurp(err, NULL);

		fail_msg("fetch exited %d: %s", rc, e);
	}
	*reports = count_reports(db);
	return t1 - t0;
}

static void
bench_imap_fetch(void **state)
{
	struct trpt_dovecot dc;
	const char *env = getenv("TRPT_BENCH_MESSAGES");
	unsigned n = env != NULL ? (unsigned)strtoul(env, NULL, 10) : 10000;
	char *dir = trpt_test_tmpdir();
	mailimap *m;
	long rss_small = 0, rss = 0;
	int64_t reports_small = 0, reports = 0;
	double t0, t_fill, t_small, t, cpu_small = 0, cpu = 0;

	(void)state;
	assert_true(n >= 10);
	trpt_dovecot_start(&dc);
	m = trpt_dovecot_client(&dc);
	t0 = now();
	fill(&dc, m, "small", n / 10);
	fill(&dc, m, "large", n);
	t_fill = now() - t0;
	trpt_dovecot_client_free(&m);

	t_small =
	    run(&dc, dir, "small", &rss_small, &cpu_small, &reports_small);
	t = run(&dc, dir, "large", &rss, &cpu, &reports);
	assert_int_equal(reports_small, n / 10);
	assert_int_equal(reports, n);

	printf("# setup: %u + %u messages written and indexed in %.1f s\n",
	    n / 10, n, t_fill);
	printf("# fetch %u messages: %.2f s, %.0f messages/s, "
	       "CPU %.2f s, peak RSS %.1f MiB\n",
	    n / 10, t_small, (double)(n / 10) / t_small, cpu_small,
	    (double)rss_small / 1024.0);
	printf("# fetch %u messages: %.2f s, %.0f messages/s, "
	       "CPU %.2f s, peak RSS %.1f MiB\n",
	    n, t, (double)n / t, cpu, (double)rss / 1024.0);
	fflush(stdout);
	trpt_dovecot_stop(&dc);
	trpt_test_rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bench_imap_fetch),
	};

	return cmocka_run_group_tests_name("bench-imap", tests, NULL, NULL);
}
