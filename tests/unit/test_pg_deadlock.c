/*
 * Two PostgreSQL writers that create the same new (policy domain, result
 * type) pairs in opposite order do not deadlock in rollup_type_first
 * (migration 0016, kept by triggers on rollup_failures until 0022, by
 * the store's commit since: schema/rollup.c type_first).  Run against a
 * real server started for it by tools/pgcluster.sh (run), like
 * test_sql_pg.
 *
 * The rollup flush upserts rollup_failures in its key order (day, org,
 * domain, ...), so the (domain, type) rows the trigger inserts come in an
 * order of their own per writer.  Writer A (org A) creates d1/T on day w1
 * and d2/T on day w2, writer B (org B) d2/T on day w0 and d1/T on day w3:
 * A meets d1 first, B d2.  The test makes them meet: a third connection
 * holds a lock on a rollup_failures row that A upserts between its two
 * pairs (d9 on day w1), so A stops there; B is let go and runs until it
 * waits on A; then the lock is released.  Without ordering, A then waits
 * on B's d2 and PostgreSQL finds a deadlock (one commit fails, "deadlock
 * detected", TRPT_ETEMP).  All (domain, day) and (domain, week) keys of
 * the two writers differ, and they run in two processes whose pid % 16
 * differ (data_version slots), so nothing else orders them first.
 *
 * Environment (from pgcluster.sh): TRPT_PG_URI.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
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

#include "common/err.h"
#include "schema/db.h"
#include "schema/sql.h"
#include "tests/helpers/testdb.h"
#include "tests/unit/reportgen.h"

#define DAY_W0 20000 /* weeks (day + 3) / 7: 2857 */
#define DAY_W1 20007 /* 2858 */
#define DAY_W2 20014 /* 2859 */
#define DAY_W3 20021 /* 2860 */

static const char *
uri(void)
{
	const char *v = getenv("TRPT_PG_URI");

	if (v == NULL || *v == '\0')
		fail_msg(
		    "TRPT_PG_URI is not set: run through tools/pgcluster.sh "
		    "run");
	return v;
}

static struct trpt_db *
open_uri(void)
{
	struct trpt_db *db = NULL;
	struct trpt_err err = { 0 };

	if (trpt_db_open(uri(), &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	return db;
}

/* One report of org on day: one policy of domain failing with type. */
static int
store_one(struct trpt_db *db, struct gen *g, const char *org, int64_t day,
    const char *domain, const char *type)
{
	gen_begin(g, org, day);
	gen_policy(g, "sts", domain, 10, 5, 0);
	gen_failure(g, type, "mx.example.net", "192.0.2.1", 5);
	return gen_end(g, db);
}

/* A writer's reports in one transaction, in the order given. */
struct writer {
	const char *org;
	int n;
	struct {
		int64_t day;
		const char *domain, *type;
	} r[3];
};

static const struct writer writer_a = { "A", 3,
	{ { DAY_W1, "d1.example", "T" }, { DAY_W1, "d9.example", "X" },
	    { DAY_W2, "d2.example", "T" } } };
static const struct writer writer_b = { "B", 2,
	{ { DAY_W0, "d2.example", "T" }, { DAY_W3, "d1.example", "T" } } };

/* In a child process: stores w's reports in one transaction once a byte
 * arrives on fd; the exit status says how it went (2: TRPT_ETEMP). */
static void
child(const struct writer *w, int fd)
{
	struct trpt_db *db = NULL;
	struct trpt_err err = { 0 };
	struct gen g = { 0 };
	char c;
	int i, rc;

	if (read(fd, &c, 1) != 1)
		_exit(0); /* not wanted after all */
	if ((rc = trpt_db_open(uri(), &db, &err)) != TRPT_OK ||
	    (rc = trpt_db_begin(db, &err)) != TRPT_OK)
		goto out;
	for (i = 0; i < w->n; i++)
		if ((rc = store_one(db, &g, w->org, w->r[i].day, w->r[i].domain,
			 w->r[i].type)) != TRPT_OK)
			goto out;
	rc = trpt_db_commit(db, &err);
out:
	if (rc != TRPT_OK)
		fprintf(stderr, "# writer %s: %s\n", w->org, err.msg);
	trpt_db_close(&db);
	_exit(rc == TRPT_OK ? 0 : rc == TRPT_ETEMP ? 2 : 1);
}

struct proc {
	pid_t pid;
	int go; /* write end of its pipe */
};

static struct proc
spawn(const struct writer *w)
{
	struct proc p;
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	p.pid = fork();
	assert_true(p.pid >= 0);
	if (p.pid == 0) {
		close(fds[1]);
		child(w, fds[0]);
	}
	close(fds[0]);
	p.go = fds[1];
	return p;
}

static void
release(struct proc *p)
{
	assert_int_equal(write(p->go, "g", 1), 1);
	close(p->go);
	p->go = -1;
}

static int
reap(struct proc *p)
{
	int status = 0;

	if (p->go >= 0)
		close(p->go);
	while (waitpid(p->pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Waits until n backends of this database wait for a lock (60 s at most:
 * a bound for a stuck run, not a measurement). */
static void
wait_lock_waiters(struct trpt_db *watch, int64_t n)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int64_t got = 0;
	int i;

	for (i = 0; i < 6000; i++) {
		got = trpt_test_db_int(watch,
		    "SELECT count(*) FROM pg_stat_activity WHERE datname ="
		    " current_database() AND wait_event_type = 'Lock'");
		if (got == n)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("%lld backends wait for a lock, not %lld", (long long)got,
	    (long long)n);
}

static void
test_pg_type_first_no_deadlock(void **state)
{
	struct trpt_db *db = open_uri(), *holder = open_uri();
	struct trpt_db *watch = open_uri();
	struct trpt_stmt *st = NULL;
	struct trpt_err err = { 0 };
	struct gen g = { 0 };
	struct proc a, b;
	int ra, rb;

	(void)state;
	g.seq = 100; /* report ids other than the writers' */
	/* The row that holds A up, committed before. */
	assert_int_equal(
	    store_one(db, &g, "A", DAY_W1, "d9.example", "X"), TRPT_OK);
	assert_int_equal(trpt_db_begin(holder, &err), TRPT_OK);
	assert_int_equal(
	    trpt_sql_prepare(holder,
		"SELECT failed FROM rollup_failures WHERE org = 'A'"
		" AND domain = 'd9.example' FOR UPDATE",
		&st, &err),
	    TRPT_OK);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	trpt_sql_finalize(&st);

	a = spawn(&writer_a);
	b = spawn(&writer_b);
	/* Other data_version slots: else B would wait for A's commit there. */
	while (b.pid % 16 == a.pid % 16) {
		reap(&b);
		b = spawn(&writer_b);
	}
	release(&a);
	wait_lock_waiters(watch, 1); /* A, on the held row */
	release(&b);
	wait_lock_waiters(watch, 2); /* B, on A */
	trpt_db_rollback(holder);
	ra = reap(&a);
	rb = reap(&b);
	assert_int_equal(ra, 0);
	assert_int_equal(rb, 0);
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT count(*) FROM reports"), 6);
	assert_int_equal(trpt_test_db_int(db,
			     "SELECT first_day FROM rollup_type_first WHERE"
			     " domain = 'd1.example' AND result_type = 'T'"),
	    DAY_W1);
	assert_int_equal(trpt_test_db_int(db,
			     "SELECT first_day FROM rollup_type_first WHERE"
			     " domain = 'd2.example' AND result_type = 'T'"),
	    DAY_W0);
	trpt_db_close(&watch);
	trpt_db_close(&holder);
	trpt_db_close(&db);
}

/*
 * Pairs go 32 to a statement, the spare rows of the last one repeating its
 * last pair: 41 pairs of one batch (a statement of 32, then 9 pairs in one
 * of 32 rows; the first test had 3 and 2 in one of 8), each with its
 * earliest day in the batch, as the triggers alone give.
 */
static void
test_pg_type_first_many_pairs(void **state)
{
	struct trpt_db *db = open_uri();
	struct trpt_err err = { 0 };
	struct gen g = { 0 };
	char dom[41][32];
	int i;

	(void)state;
	g.seq = 1000;
	assert_int_equal(trpt_db_begin(db, &err), TRPT_OK);
	for (i = 0; i < 41; i++) {
		snprintf(dom[i], sizeof(dom[i]), "many%02d.example", i);
		assert_int_equal(
		    store_one(db, &g, "M", DAY_W2 + i % 3, dom[i], "T"),
		    TRPT_OK);
	}
	assert_int_equal(
	    store_one(db, &g, "M", DAY_W0, "many40.example", "T"), TRPT_OK);
	assert_int_equal(trpt_db_commit(db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT count(*) FROM rollup_type_first WHERE"
				 " domain LIKE 'many%'"),
	    41);
	assert_int_equal(
	    trpt_test_db_int(db,
		"SELECT count(*) FROM rollup_type_first t WHERE domain LIKE"
		" 'many%' AND first_day = (SELECT min(day) FROM"
		" rollup_failures f WHERE f.domain = t.domain AND"
		" f.result_type = t.result_type)"),
	    41);
	assert_int_equal(
	    trpt_test_db_int(db, "SELECT first_day FROM rollup_type_first WHERE"
				 " domain = 'many40.example'"),
	    DAY_W0);
	trpt_db_close(&db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pg_type_first_no_deadlock),
		cmocka_unit_test(test_pg_type_first_many_pairs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
