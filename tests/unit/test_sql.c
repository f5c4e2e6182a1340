/*
 * The database driver (schema/sql.h): placeholders, NULLs, blobs with NUL
 * bytes, 64-bit integers, the statement cache, errors.  Written against
 * the driver only, so it holds for every database behind it.
 */

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/sql.h"
#include "tests/helpers/testdb.h"

static const char create_sql[] =
    "CREATE TABLE t (id BIGINT PRIMARY KEY, s TEXT, b "
    "%s, n BIGINT)";

static int
setup(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err = { 0 };
	char sql[256];

	if (trpt_test_db_connect(&db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	snprintf(sql, sizeof(sql), create_sql,
	    trpt_sql_dialect(db) == TRPT_SQL_PG ? "BYTEA" : "BLOB");
	if (trpt_sql_exec(db, sql, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	*state = db;
	return 0;
}

static int
teardown(void **state)
{
	struct trpt_db *db = *state;

	trpt_db_close(&db);
	return 0;
}

static const char insert_sql[] = "INSERT INTO t (id, s, b, n) VALUES (?, ?, "
				 "?, ?)";

static void
insert(struct trpt_db *db, int64_t id, const char *s, const void *b,
    size_t blen, int64_t n)
{
	struct trpt_stmt *st;
	struct trpt_err err = { 0 };

	assert_int_equal(trpt_sql_cached(db, insert_sql, &st, &err), TRPT_OK);
	trpt_sql_bind_int(st, 1, id);
	trpt_sql_bind_text(st, 2, s);
	if (b != NULL)
		trpt_sql_bind_blob(st, 3, b, blen);
	else
		trpt_sql_bind_null(st, 3);
	trpt_sql_bind_int(st, 4, n);
	if (trpt_sql_run(st, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
}

static void
test_sql_round_trip(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stmt *st = NULL;
	struct trpt_err err = { 0 };
	static const char blob[] = { 'a', 0, 'b', 0 };
	const void *p;
	size_t len;

	insert(
	    db, 1, "it's ? not a placeholder", blob, sizeof(blob), INT64_MAX);
	insert(db, 2, NULL, NULL, 0, INT64_MIN);
	insert(db, 3, "", "", 0, -1);

	/* A '?' inside a literal is text, not a parameter. */
	assert_int_equal(trpt_sql_prepare(db,
			     "SELECT id, s, b, n, 'a ? b' FROM t WHERE id >= ? "
			     "ORDER BY id",
			     &st, &err),
	    TRPT_OK);
	trpt_sql_bind_int(st, 1, 1);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_int_equal(trpt_sql_columns(st), 5);
	assert_int_equal(trpt_sql_int(st, 0), 1);
	assert_string_equal(trpt_sql_text(st, 1), "it's ? not a placeholder");
	p = trpt_sql_blob(st, 2, &len);
	assert_int_equal(len, sizeof(blob));
	assert_memory_equal(p, blob, sizeof(blob));
	assert_true(trpt_sql_int(st, 3) == INT64_MAX);
	assert_string_equal(trpt_sql_text(st, 4), "a ? b");

	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_true(trpt_sql_is_null(st, 1));
	assert_null(trpt_sql_text(st, 1));
	assert_true(trpt_sql_is_null(st, 2));
	assert_true(trpt_sql_int(st, 3) == INT64_MIN);

	/* An empty blob and an empty text are not NULL. */
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_false(trpt_sql_is_null(st, 1));
	assert_string_equal(trpt_sql_text(st, 1), "");
	assert_false(trpt_sql_is_null(st, 2));
	trpt_sql_blob(st, 2, &len);
	assert_int_equal(len, 0);
	assert_int_equal(trpt_sql_step(st, &err), 0);
	trpt_sql_finalize(&st);
	assert_null(st);
}

static const char sum_sql[] = "SELECT COUNT(*), SUM(n), CASE WHEN "
			      "SUM(n) > 10 THEN 1 ELSE 0 END FROM t "
			      "WHERE id > ?";

static void
test_sql_cache_and_aggregates(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stmt *a, *b;
	struct trpt_err err = { 0 };

	insert(db, 10, "x", NULL, 0, 7);
	insert(db, 11, "y", NULL, 0, 8);
	assert_int_equal(trpt_sql_cached(db, sum_sql, &a, &err), TRPT_OK);
	trpt_sql_bind_int(a, 1, 9);
	assert_int_equal(trpt_sql_step(a, &err), 1);
	assert_int_equal(trpt_sql_int(a, 0), 2);
	assert_int_equal(trpt_sql_int(a, 1), 15);
	assert_int_equal(trpt_sql_int(a, 2), 1);
	trpt_sql_reset(a);
	/* The same literal gives the same statement, reset and unbound. */
	assert_int_equal(trpt_sql_cached(db, sum_sql, &b, &err), TRPT_OK);
	assert_ptr_equal(a, b);
	trpt_sql_bind_int(b, 1, 10);
	assert_int_equal(trpt_sql_step(b, &err), 1);
	assert_int_equal(trpt_sql_int(b, 0), 1);
	assert_int_equal(trpt_sql_int(b, 2), 0);
	trpt_sql_reset(b);
}

static void
test_sql_errors(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stmt *st = NULL;
	struct trpt_err err = { 0 };

	insert(db, 20, "x", NULL, 0, 1);
	/* A duplicate key names the database and the statement. */
	assert_int_equal(trpt_sql_cached(db, insert_sql, &st, &err), TRPT_OK);
	trpt_sql_bind_int(st, 1, 20);
	trpt_sql_bind_text(st, 2, "again");
	trpt_sql_bind_null(st, 3);
	trpt_sql_bind_int(st, 4, 1);
	assert_int_equal(trpt_sql_run(st, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "database "));
	assert_non_null(strstr(err.msg, "INSERT INTO t"));

	/* A statement that returns a row is not something to run. */
	assert_int_equal(trpt_sql_prepare(db, "SELECT 1", &st, &err), TRPT_OK);
	assert_int_equal(trpt_sql_run(st, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "unexpected result row"));
	trpt_sql_finalize(&st);

	/* Bad SQL fails at the latest on its first step (the PostgreSQL
	 * driver prepares on the first run, with the types of the first
	 * bindings). */
	if (trpt_sql_prepare(db, "SELECT FROM WHERE", &st, &err) == TRPT_OK) {
		assert_int_equal(trpt_sql_dialect(db), TRPT_SQL_PG);
		assert_int_equal(trpt_sql_step(st, &err), TRPT_EDB);
		trpt_sql_finalize(&st);
	}
	assert_int_equal(err.code, TRPT_EDB);
	assert_null(st);
	assert_int_not_equal(trpt_sql_exec(db, "NOT SQL", &err), TRPT_OK);

	/* Changes, and a transaction rolled back leaves nothing. */
	assert_int_equal(trpt_db_begin(db, &err), TRPT_OK);
	assert_true(trpt_db_in_transaction(db));
	assert_int_equal(
	    trpt_sql_prepare(db, "UPDATE t SET n = n + 1", &st, &err), TRPT_OK);
	assert_int_equal(trpt_sql_run(st, &err), TRPT_OK);
	assert_int_equal(trpt_sql_changes(st), 1);
	trpt_sql_finalize(&st);
	trpt_db_rollback(db);
	assert_false(trpt_db_in_transaction(db));
	assert_int_equal(
	    trpt_sql_prepare(db, "SELECT n FROM t", &st, &err), TRPT_OK);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_int_equal(trpt_sql_int(st, 0), 1);
	trpt_sql_finalize(&st);
}

/*
 * trpt_db_thread_arena (schema/db.c), under glibc: the calling thread's
 * heap is left open (read-write, its start aligned to glibc's 64 MiB
 * heaps) over at least 19 MiB.  Without it a new thread's heap is about
 * 132 KiB.  Nothing to check under AddressSanitizer (its own malloc),
 * without glibc or without /proc (cmocka's skip() reads as a failure in
 * meson's TAP).
 */
static void *
arena_thread(void *arg)
{
	FILE *f;
	char line[512];
	unsigned long lo, hi;
	char perm[8];
	long *mib = arg;

	trpt_db_thread_arena();
	if ((f = fopen("/proc/self/maps", "r")) == NULL) {
		*mib = -1;
		return NULL;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) == 3 &&
		    strcmp(perm, "rw-p") == 0 && lo % (64ul << 20) == 0 &&
		    (long)((hi - lo) >> 20) > *mib)
			*mib = (long)((hi - lo) >> 20);
	fclose(f);
	return NULL;
}

static void
test_sql_thread_arena(void **state)
{
	pthread_t t;
	long mib = 0;

	(void)state;
#if defined(__SANITIZE_ADDRESS__) || !defined(__GLIBC__)
	return;
#endif
	assert_int_equal(pthread_create(&t, NULL, arena_thread, &mib), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	if (mib >= 0)
		assert_true(mib >= 19);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_sql_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_cache_and_aggregates, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_errors, setup, teardown),
		cmocka_unit_test(test_sql_thread_arena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
