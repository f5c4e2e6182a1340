/*
 * Benchmark: "tlsrpt-collector fetch" of a Dovecot mailbox of report
 * e-mails against "tlsrpt-collector ingest" of the same e-mails from a
 * Maildir (issue 15 item 5: fetch should be bound by parsing, not by
 * round trips, over TLS as over plain text).
 *
 * N report e-mails (10,000 by default, $TRPT_BENCH_MESSAGES) are written
 * into the Maildir of a Dovecot mailbox and, byte for byte, into a Maildir
 * of their own.  Then, round after round ($TRPT_BENCH_ROUNDS, 3 by
 * default), the real binary runs as a child process, each time into a new
 * database: `ingest` of the Maildir, `fetch` over plain loopback
 * (security = none), `fetch` over implicit TLS (verified against the
 * test CA).  Alternating spreads the noise of this shared machine over
 * the three alike; every other round runs them in the opposite order.
 * For each run: the wall clock from fork to exit and the child's user +
 * system CPU time.  Every run is checked to have stored all N reports.
 * The CPU time of Dovecot's processes for each run (the master's reaped
 * children) is printed too: the wall clock of a fetch is bound by
 * whichever of the two sides is slower.
 *
 * The ratios are fetch messages/s over `ingest` messages/s of the same
 * binary: per round (the runs of one round share its load), then their
 * median, and the ratio of the best runs of all rounds.
 *
 * With $TRPT_BENCH_BASELINE naming another build of the binary (the
 * version before a change), its `ingest` and fetches run in the same
 * rounds, so that before and after are measured alike.  See
 * docs/PERFORMANCE.md.
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

enum mode { INGEST, PLAIN, TLS, INGEST_BASE, PLAIN_BASE, TLS_BASE, NMODES };

static const char *const mode_name[NMODES] = { "ingest of the Maildir",
	"fetch, plain text", "fetch, implicit TLS", "baseline ingest",
	"baseline fetch, plain", "baseline fetch, TLS" };

#define MAX_ROUNDS 64

/* The figures of one mode: each round's and the best. */
struct best {
	double wall, cpu, server;
	long rss_kb;
	double walls[MAX_ROUNDS], cpus[MAX_ROUNDS];
};

/*
 * CPU seconds of the Dovecot master's reaped children (the imap and
 * imap-login processes of the connections that ended, auth): fields
 * cutime and cstime of /proc/PID/stat.
 */
static double
children_cpu(pid_t pid)
{
	char path[64], buf[2048], *p;
	unsigned long long cu = 0, cs = 0;
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name in parentheses, from field 3. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (field = 2; *p != '\0' && field < 17; p++)
		if (*p == ' ') {
			field++;
			if (field == 16)
				cu = strtoull(p + 1, NULL, 10);
			else if (field == 17)
				cs = strtoull(p + 1, NULL, 10);
		}
	return (double)(cu + cs) / (double)sysconf(_SC_CLK_TCK);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* The same mails as the Dovecot mailbox, in a Maildir of their own. */
static void
write_maildir(const char *dir, unsigned n)
{
	char path[600], name[128];
	unsigned i;

	snprintf(path, sizeof(path), "%s/maildir", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/maildir/cur", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	for (i = 0; i < n; i++) {
		size_t len;
		char *mail = trpt_dovecot_report_mail("bench", i, &len);

		trpt_dovecot_maildir_name(name, sizeof(name), i, mail, len);
		snprintf(path, sizeof(path), "%s/maildir/cur/%s", dir, name);
		trpt_test_write(path, mail, len);
		free(mail);
	}
}

static void
write_conf(const struct trpt_dovecot *dc, const char *dir)
{
	char conf[512], pw[512], text[2048];

	snprintf(pw, sizeof(pw), "%s/pw", dir);
	trpt_test_write(
	    pw, TRPT_DOVECOT_PASSWORD "\n", strlen(TRPT_DOVECOT_PASSWORD) + 1);
	assert_int_equal(chmod(pw, 0600), 0);
	snprintf(text, sizeof(text),
	    "[imap \"plain\"]\nhost = 127.0.0.1\nport = %d\nsecurity = none\n"
	    "username = " TRPT_DOVECOT_USER "\npassword_file = %s\n"
	    "mailbox = bench\n"
	    "[imap \"tls\"]\nhost = localhost\nport = %d\nsecurity = tls\n"
	    "ca_file = %s\n"
	    "username = " TRPT_DOVECOT_USER "\npassword_file = %s\n"
	    "mailbox = bench\n",
	    dc->port, pw, dc->port_tls, dc->ca_file, pw);
	snprintf(conf, sizeof(conf), "%s/conf", dir);
	trpt_test_write(conf, text, strlen(text));
	assert_int_equal(chmod(conf, 0600), 0);
}

/* One run of mode into a new database; keeps the best figures. */
static void
run(const struct trpt_dovecot *dc, const char *dir, enum mode mode, unsigned n,
    unsigned round, struct best *b)
{
	char conf[512], db[512], maildir[512], out[512], err[512], cmd[1700];
	const char *fetch_argv[] = { "--db", db, "--config", conf, "fetch",
		mode == PLAIN || mode == PLAIN_BASE ? "plain" : "tls", NULL };
	int base = mode >= INGEST_BASE,
	    ingest = mode == INGEST || mode == INGEST_BASE;
	const char *binary = getenv("TRPT_BINARY");
	const char *ingest_argv[] = { "-q", "--db", db, "--config", conf,
		"ingest", maildir, NULL };
	double t0, t, cpu = 0, s0, server;
	long rss = 0;
	pid_t pid;
	int rc;

	snprintf(conf, sizeof(conf), "%s/conf", dir);
	snprintf(db, sizeof(db), "%s/run.db", dir);
	snprintf(maildir, sizeof(maildir), "%s/maildir", dir);
	snprintf(out, sizeof(out), "%s/run.out", dir);
	snprintf(err, sizeof(err), "%s/run.err", dir);
	snprintf(
	    cmd, sizeof(cmd), "rm -f '%s' '%s-wal' '%s-shm'; sync", db, db, db);
	assert_int_equal(trpt_test_sh(cmd, NULL, NULL), 0);
	s0 = children_cpu(dc->pid);
	if (base)
		assert_int_equal(
		    setenv("TRPT_BINARY", getenv("TRPT_BENCH_BASELINE"), 1), 0);
	t0 = now();
	pid = trpt_spawn_collector(out, err, ingest ? ingest_argv : fetch_argv);
	if (base)
		assert_int_equal(setenv("TRPT_BINARY", binary, 1), 0);
	rc = trpt_wait_collector_rusage(pid, &rss, &cpu);
	t = now() - t0;
	/* The imap process ends with the LOGOUT: reaped by now, or soon. */
	usleep(200000);
	server = children_cpu(dc->pid) - s0;
	if (rc != 0) {
		char *e = trpt_test_slurp(err, NULL);

		fail_msg("%s exited %d: %s", mode_name[mode], rc, e);
	}
	assert_int_equal(count_reports(db), n);
	printf("#   %-24s %6.2f s  %7.0f messages/s  CPU %5.2f s, Dovecot "
	       "%5.2f s\n",
	    mode_name[mode], t, (double)n / t, cpu, server);
	fflush(stdout);
	b->walls[round] = t;
	b->cpus[round] = cpu;
	if (b->wall == 0 || t < b->wall)
		b->wall = t;
	if (b->cpu == 0 || cpu < b->cpu)
		b->cpu = cpu;
	if (b->server == 0 || server < b->server)
		b->server = server;
	if (rss > b->rss_kb)
		b->rss_kb = rss;
}

static unsigned
env_unsigned(const char *name, unsigned def)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? (unsigned)strtoul(v, NULL, 10) : def;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(const double *v, unsigned n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* fetch mode k against the ingest of the same binary: per round, the
 * median of those, and best against best. */
static void
print_ratios(const struct best *best, int k, unsigned rounds)
{
	const struct best *in = &best[k >= INGEST_BASE ? INGEST_BASE : INGEST];
	double wall[MAX_ROUNDS], cpu[MAX_ROUNDS];
	unsigned i;

	printf("# ratio %s / its ingest, per round (wall):", mode_name[k]);
	for (i = 0; i < rounds; i++) {
		wall[i] = in->walls[i] / best[k].walls[i];
		cpu[i] = in->cpus[i] / best[k].cpus[i];
		printf(" %.2f", wall[i]);
	}
	printf("\n#   median %.2f (wall), %.2f (CPU); best of rounds %.2f "
	       "(wall), %.2f (CPU)\n",
	    median(wall, rounds), median(cpu, rounds), in->wall / best[k].wall,
	    in->cpu / best[k].cpu);
}

static void
bench_imap_fetch(void **state)
{
	struct trpt_dovecot dc;
	struct best best[NMODES];
	unsigned n = env_unsigned("TRPT_BENCH_MESSAGES", 10000);
	unsigned rounds = env_unsigned("TRPT_BENCH_ROUNDS", 3);
	char *dir = trpt_test_tmpdir();
	uint32_t *uids;
	mailimap *m;
	double t0;
	unsigned i;
	int k,
	    nmodes = getenv("TRPT_BENCH_BASELINE") != NULL ? NMODES : TLS + 1;

	(void)state;
	assert_true(n >= 10 && rounds >= 1 && rounds <= MAX_ROUNDS);
	memset(best, 0, sizeof(best));
	trpt_dovecot_start(&dc);
	write_conf(&dc, dir);

	/* The mails are written into Dovecot's Maildir directly (APPEND
	 * costs Dovecot some 10 ms each), then Dovecot indexes the mailbox
	 * once, as it would have been long before a real fetch: the timing
	 * covers the fetch alone. */
	t0 = now();
	trpt_dovecot_fill_maildir(&dc, "bench", "bench", n);
	write_maildir(dir, n);
	m = trpt_dovecot_client(&dc);
	uids = calloc(n + 1, sizeof(*uids));
	assert_non_null(uids);
	assert_int_equal(trpt_dovecot_uids(m, "bench", uids, n + 1), n);
	free(uids);
	trpt_dovecot_client_free(&m);
	printf("# setup: %u messages written twice and indexed in %.1f s\n", n,
	    now() - t0);

	for (i = 0; i < rounds; i++) {
		printf("# round %u of %u\n", i + 1, rounds);
		for (k = 0; k < nmodes; k++) {
			int mk = i % 2 ? nmodes - 1 - k : k;

			run(&dc, dir, (enum mode)mk, n, i, &best[mk]);
		}
	}

	printf("# best of %u rounds, %u messages (median wall, CPU):\n", rounds,
	    n);
	for (k = 0; k < nmodes; k++)
		printf("# %-24s %6.2f s  %7.0f messages/s  CPU %5.2f s "
		       "(%7.0f messages/CPU-s)  Dovecot CPU %5.2f s  peak RSS "
		       "%.1f MiB  (median %.2f s, CPU %.2f s)\n",
		    mode_name[k], best[k].wall, (double)n / best[k].wall,
		    best[k].cpu, (double)n / best[k].cpu, best[k].server,
		    (double)best[k].rss_kb / 1024.0,
		    median(best[k].walls, rounds),
		    median(best[k].cpus, rounds));
	for (k = PLAIN; k < nmodes; k++)
		if (k != INGEST_BASE)
			print_ratios(best, k, rounds);
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
