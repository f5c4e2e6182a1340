/*
 * WAL checkpoints beside a writer (schema/checkpoint.c, used by serve): a
 * passive checkpoint on a connection of its own sees the log the writer
 * left, the writer no longer checkpoints inside its commits, a restart
 * starts the log over without truncating a log under 256 MB, the log and
 * the database file are synced beside the writer on request, and an
 * in-memory database has nothing to do.
 */

#include <sys/stat.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "schema/checkpoint.h"
#include "schema/db.h"
#include "schema/sql.h"
#include "tests/helpers/testutil.h"

static void
write_rows(struct trpt_db *db, int n)
{
	struct trpt_err err;
	int i;

	for (i = 0; i < n; i++)
		if (trpt_sql_exec(db,
			"INSERT INTO http_state (source, url, fetched_at)"
			" VALUES (hex(randomblob(16)), hex(randomblob(400)), "
			"0)",
			&err) != TRPT_OK)
			fail_msg("%s", err.msg);
}

static void
test_checkpoint_beside_writer(void **state)
{
	struct trpt_checkpoint *c = NULL;
	struct trpt_db *db;
	struct trpt_err err;
	char *dir = trpt_test_tmpdir(), path[4200];
	int frames;

	(void)state;
	snprintf(path, sizeof(path), "%s/ck.db", dir);
	if (trpt_db_open(path, &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(trpt_checkpoint_new(db, &c, &err), TRPT_OK);
	assert_non_null(c);
	/* The writer leaves the log to the checkpointer: it grows past the
	 * 4,000 pages at which the writer would have checkpointed itself
	 * (every commit writes at least two pages). */
	write_rows(db, 3000);
	assert_int_equal(trpt_checkpoint_passive(c, &frames, &err), TRPT_OK);
	assert_in_range(frames, 5001, INT_MAX);
	/* A restart on the writer: the next commit starts the log over.
	 * That commit's frames are the pages one row changes: a random key
	 * now and then splits leaves and their parents (20 pages were seen
	 * once in ~10 runs), so the bound only tells a log started over from
	 * one that went on past its 5,001 frames. */
	assert_int_equal(trpt_checkpoint_restart(db, &err), TRPT_OK);
	write_rows(db, 1);
	assert_int_equal(trpt_checkpoint_passive(c, &frames, &err), TRPT_OK);
	assert_in_range(frames, 1, 200);
	trpt_checkpoint_free(&c);
	assert_null(c);
	assert_int_equal(trpt_checkpoint_writer(db, &err), TRPT_OK);
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

/*
 * A reader holding a snapshot keeps RESTART from finishing: that is said
 * (TRPT_ETEMP, naming the database), not taken for a log started over;
 * once the reader is gone the next RESTART finishes and the log starts
 * over.
 */
static void
test_checkpoint_restart_busy(void **state)
{
	struct trpt_checkpoint *c = NULL;
	struct trpt_db *db = NULL, *reader = NULL;
	struct trpt_stmt *st = NULL;
	struct trpt_err err;
	char *dir = trpt_test_tmpdir(), path[4200];
	int frames;

	(void)state;
	snprintf(path, sizeof(path), "%s/busy.db", dir);
	if (trpt_db_open(path, &db, &err) != TRPT_OK ||
	    trpt_db_open(path, &reader, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(trpt_checkpoint_new(db, &c, &err), TRPT_OK);
	/* The writer waits 100 ms for the reader, not the default 5 s. */
	trpt_db_set_busy_timeout(db, 100);
	write_rows(db, 50);
	assert_int_equal(trpt_sql_exec(reader, "BEGIN", &err), TRPT_OK);
	assert_int_equal(trpt_sql_prepare(reader,
			     "SELECT count(*) FROM http_state", &st, &err),
	    TRPT_OK);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_int_equal(trpt_sql_int(st, 0), 50);
	trpt_sql_finalize(&st);
	write_rows(db, 50);

	memset(&err, 0, sizeof(err));
	assert_int_equal(trpt_checkpoint_restart(db, &err), TRPT_ETEMP);
	assert_int_equal(err.code, TRPT_ETEMP);
	assert_non_null(strstr(err.msg, "busy.db"));
	assert_non_null(strstr(err.msg, "could not finish"));
	/* The log was not started over. */
	write_rows(db, 1);
	assert_int_equal(trpt_checkpoint_passive(c, &frames, &err), TRPT_OK);
	assert_in_range(frames, 101, INT_MAX);

	assert_int_equal(trpt_sql_exec(reader, "COMMIT", &err), TRPT_OK);
	assert_int_equal(trpt_checkpoint_restart(db, &err), TRPT_OK);
	write_rows(db, 1);
	assert_int_equal(trpt_checkpoint_passive(c, &frames, &err), TRPT_OK);
	assert_in_range(frames, 1, 19);
	trpt_checkpoint_free(&c);
	trpt_db_close(&reader);
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

/*
 * A log that grew past 64 MB keeps its size when it starts over: the
 * writer would otherwise truncate it inside the commit after the restart,
 * with every POST of serve waiting (and allocate the blocks again as it
 * grows).  Fails with a journal_size_limit of 64 MB (the log is cut to
 * exactly 67,108,864 bytes).
 */
static void
test_checkpoint_log_kept(void **state)
{
	struct trpt_checkpoint *c = NULL;
	struct trpt_db *db;
	struct trpt_err err;
	char *dir = trpt_test_tmpdir(), path[4200], wal[4300];
	struct stat st;
	off_t grown;
	int frames;

	(void)state;
	snprintf(path, sizeof(path), "%s/kept.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (trpt_db_open(path, &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(trpt_checkpoint_new(db, &c, &err), TRPT_OK);
	/* No checkpoint meanwhile: one that caught up would let the next
	 * commit start the log over. */
	do {
		write_rows(db, 1000);
		assert_int_equal(stat(wal, &st), 0);
	} while (st.st_size <= 70 * 1000 * 1000);
	grown = st.st_size;
	assert_int_equal(trpt_checkpoint_restart(db, &err), TRPT_OK);
	write_rows(db, 1);
	assert_int_equal(trpt_checkpoint_passive(c, &frames, &err), TRPT_OK);
	assert_in_range(frames, 1, 19); /* started over */
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size == grown);
	trpt_checkpoint_free(&c);
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

/*
 * Syncs counted by the kind of file (SQLITE_OPEN_MAIN_DB, SQLITE_OPEN_WAL):
 * a VFS made the default before the first database opens (main), so that
 * schema/walbuf.c's wraps it.  Its files are the default VFS's own, with
 * their methods (one table for the database, another for the other
 * files) copied and xSync and xClose replaced.
 */
static sqlite3_vfs count_vfs, *real_vfs;
static struct {
	const sqlite3_io_methods *real;
	sqlite3_io_methods copy;
} io[4];
static struct {
	sqlite3_file *f;
	const sqlite3_io_methods *real;
	int flags;
} files[64];
static int db_syncs, wal_syncs;

static const sqlite3_io_methods *
real_io(sqlite3_file *f, int close)
{
	const sqlite3_io_methods *m = NULL;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i].f == f) {
			m = files[i].real;
			if (close)
				files[i].f = NULL;
			else if (files[i].flags & SQLITE_OPEN_MAIN_DB)
				db_syncs++;
			else if (files[i].flags & SQLITE_OPEN_WAL)
				wal_syncs++;
		}
	if (m == NULL)
		abort();
	return m;
}

static int
count_sync(sqlite3_file *f, int flags)
{
	return real_io(f, 0)->xSync(f, flags);
}

static int
count_close(sqlite3_file *f)
{
	return real_io(f, 1)->xClose(f);
}

static int
count_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
    int *out)
{
	size_t i, j;
	int rc;

	(void)vfs;
	rc = real_vfs->xOpen(real_vfs, name, f, flags, out);
	if (rc != SQLITE_OK || f->pMethods == NULL)
		return rc;
	for (j = 0; j < sizeof(io) / sizeof(io[0]); j++)
		if (io[j].real == NULL || io[j].real == f->pMethods)
			break;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i].f == NULL)
			break;
	if (j == sizeof(io) / sizeof(io[0]) ||
	    i == sizeof(files) / sizeof(files[0]))
		abort(); /* more than this test opens */
	if (io[j].real == NULL) {
		io[j].real = f->pMethods;
		io[j].copy = *f->pMethods;
		io[j].copy.xSync = count_sync;
		io[j].copy.xClose = count_close;
	}
	files[i].f = f;
	files[i].real = f->pMethods;
	files[i].flags = flags;
	f->pMethods = &io[j].copy;
	return rc;
}

static void
count_syncs_register(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	count_vfs = *real_vfs;
	count_vfs.zName = "trpt-test-count";
	count_vfs.xOpen = count_open;
	if (sqlite3_vfs_register(&count_vfs, 1) != SQLITE_OK)
		abort();
}

/*
 * trpt_checkpoint_sync syncs the log and the database file from the
 * checkpointer's connection (the RESTART after it then finds little left
 * to write), and the RESTART still starts the log over.  Fails with a
 * trpt_checkpoint_sync that syncs nothing (no sync counted).
 */
static void
test_checkpoint_sync(void **state)
{
	struct trpt_checkpoint *c = NULL;
	struct trpt_db *db;
	struct trpt_err err;
	char *dir = trpt_test_tmpdir(), path[4200];
	int frames;

	(void)state;
	snprintf(path, sizeof(path), "%s/sync.db", dir);
	if (trpt_db_open(path, &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(trpt_checkpoint_new(db, &c, &err), TRPT_OK);
	write_rows(db, 200);
	assert_int_equal(trpt_checkpoint_passive(c, &frames, &err), TRPT_OK);
	assert_in_range(frames, 201, INT_MAX);
	write_rows(db, 200);
	db_syncs = wal_syncs = 0;
	assert_int_equal(trpt_checkpoint_sync(c, &err), TRPT_OK);
	assert_int_equal(wal_syncs, 1);
	assert_int_equal(db_syncs, 1);
	/* The restart after it still copies the rest and starts the log
	 * over. */
	assert_int_equal(trpt_checkpoint_restart(db, &err), TRPT_OK);
	write_rows(db, 1);
	assert_int_equal(trpt_checkpoint_passive(c, &frames, &err), TRPT_OK);
	assert_in_range(frames, 1, 19);
	assert_int_equal(trpt_checkpoint_sync(c, &err), TRPT_OK);
	assert_int_equal(trpt_checkpoint_sync(NULL, &err), TRPT_OK);
	trpt_checkpoint_free(&c);
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

static void
test_checkpoint_memory(void **state)
{
	struct trpt_checkpoint *c = (struct trpt_checkpoint *)&c;
	struct trpt_db *db;
	struct trpt_err err;
	int frames = 7;

	(void)state;
	if (trpt_db_open(":memory:", &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(trpt_checkpoint_new(db, &c, &err), TRPT_OK);
	assert_null(c);
	assert_int_equal(trpt_checkpoint_passive(c, &frames, &err), TRPT_OK);
	assert_int_equal(frames, 0);
	assert_int_equal(trpt_checkpoint_sync(c, &err), TRPT_OK);
	assert_int_equal(trpt_sql_sync_files(db, &err), TRPT_OK);
	trpt_checkpoint_free(&c);
	trpt_db_close(&db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkpoint_beside_writer),
		cmocka_unit_test(test_checkpoint_restart_busy),
		cmocka_unit_test(test_checkpoint_log_kept),
		cmocka_unit_test(test_checkpoint_sync),
		cmocka_unit_test(test_checkpoint_memory),
	};

	count_syncs_register();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
