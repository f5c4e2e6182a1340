/*
 * The WAL write buffer (schema/walbuf.c): a commit's frames reach the
 * log in a few writes instead of two a page, and every commit is in the
 * file when it returns: another connection that does not go through the
 * buffer sees it, so does a process started after one killed right after
 * its commit, and a write that fails (the file size limit) fails the
 * commit, leaving the database as it was.
 */

#include <sys/resource.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "schema/db.h"
#include "schema/sql.h"
#include "schema/walbuf.h"
#include "tests/helpers/testutil.h"

#define ROW_SQL                                                                \
	"INSERT INTO wb (k, v) VALUES (hex(randomblob(16)), "                  \
	"randomblob(900))"

/* n rows in one transaction on db (opened through the buffer). */
static int
insert_rows(struct trpt_db *db, int n, struct trpt_err *err)
{
	int i, rc;

	if ((rc = trpt_db_begin(db, err)) != TRPT_OK)
		return rc;
	for (i = 0; i < n; i++)
		if ((rc = trpt_sql_exec(db, ROW_SQL, err)) != TRPT_OK) {
			trpt_db_rollback(db);
			return rc;
		}
	return trpt_db_commit(db, err);
}

static struct trpt_db *
open_db(const char *path)
{
	struct trpt_db *db;
	struct trpt_err err;

	if (trpt_db_open(path, &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	if (trpt_sql_exec(db,
		"CREATE TABLE IF NOT EXISTS wb (k TEXT PRIMARY KEY, v BLOB)",
		&err) != TRPT_OK)
		fail_msg("%s", err.msg);
	return db;
}

/* Rows of wb as another connection sees them: SQLite's own VFS, no
 * buffer of ours, a handle of its own. */
static int64_t
rows_seen(const char *path)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) ==
		SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT count(*) FROM wb", -1, &st, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static void
test_walbuf_commit_in_file(void **state)
{
	struct trpt_walbuf_stats before, after;
	struct trpt_db *db;
	struct trpt_err err;
	char *dir = trpt_test_tmpdir(), path[4200];
	unsigned long long in, out;

	(void)state;
	snprintf(path, sizeof(path), "%s/wb.db", dir);
	db = open_db(path);
	trpt_walbuf_stats(&before);
	assert_int_equal(insert_rows(db, 200, &err), TRPT_OK);
	trpt_walbuf_stats(&after);
	in = after.writes_in - before.writes_in;
	out = after.writes_out - before.writes_out;
	/* 200 rows of ~1 kB: more than 50 pages, two writes each without
	 * the buffer; through it, one write per 124 kB. */
	assert_true(in > 100);
	assert_true(out > 0 && out <= 3);
	/* In the file once the commit returns: no close, no checkpoint. */
	assert_int_equal(rows_seen(path), 200);
	/* Small commits too, one after the other. */
	assert_int_equal(insert_rows(db, 1, &err), TRPT_OK);
	assert_int_equal(rows_seen(path), 201);
	assert_int_equal(insert_rows(db, 3, &err), TRPT_OK);
	assert_int_equal(rows_seen(path), 204);
	trpt_db_close(&db);
	assert_int_equal(rows_seen(path), 204);
	trpt_test_rmrf(dir);
	free(dir);
}

/* A process killed (SIGKILL) right after its commits returned, with the
 * database still open: every commit is there. */
static void
test_walbuf_killed_after_commit(void **state)
{
	struct trpt_db *db;
	struct trpt_err err;
	char *dir = trpt_test_tmpdir(), path[4200];
	pid_t pid;
	int status, i;

	(void)state;
	snprintf(path, sizeof(path), "%s/wb.db", dir);
	db = open_db(path);
	trpt_db_close(&db);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		db = open_db(path);
		for (i = 0; i < 5; i++)
			if (insert_rows(db, 37, &err) != TRPT_OK)
				_exit(2);
		raise(SIGKILL);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(rows_seen(path), 5 * 37);
	trpt_test_rmrf(dir);
	free(dir);
}

/*
 * The log cannot grow (RLIMIT_FSIZE, SIGXFSZ ignored: write fails with
 * EFBIG) while the buffer holds a commit: the commit fails, nothing of
 * it is seen, and the database takes the next commit once it can.
 */
static void
test_walbuf_write_fails(void **state)
{
	struct trpt_db *db;
	struct trpt_err err;
	struct rlimit rl;
	char *dir = trpt_test_tmpdir(), path[4200], wal[4300];
	pid_t pid;
	int status;

	(void)state;
	snprintf(path, sizeof(path), "%s/wb.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	db = open_db(path);
	assert_int_equal(insert_rows(db, 10, &err), TRPT_OK);
	trpt_db_close(&db);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		db = open_db(path);
		signal(SIGXFSZ, SIG_IGN);
		/* Room for the log's header and a few pages, not 300 rows. */
		rl.rlim_cur = 64 * 1024;
		rl.rlim_max = RLIM_INFINITY;
		if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(4);
		rl.rlim_cur = 64 * 1024;
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(4);
		/* The commit must fail, and say so. */
		if (insert_rows(db, 300, &err) == TRPT_OK)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(rows_seen(path), 10);
	db = open_db(path);
	assert_int_equal(insert_rows(db, 300, &err), TRPT_OK);
	trpt_db_close(&db);
	assert_int_equal(rows_seen(path), 310);
	trpt_test_rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walbuf_commit_in_file),
		cmocka_unit_test(test_walbuf_killed_after_commit),
		cmocka_unit_test(test_walbuf_write_fails),
	};

	return cmocka_run_group_tests_name("walbuf", tests, NULL, NULL);
}
