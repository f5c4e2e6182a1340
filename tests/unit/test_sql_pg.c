/*
 * The PostgreSQL driver (schema/sql_pg.c) against a real server, started
 * for this test by tools/pgcluster.sh (run --tls) on 127.0.0.1 and a free
 * port: placeholders inside literals, NULLs, blobs with NUL bytes, 64-bit
 * extremes, booleans, reading one statement while others run, a
 * terminated backend (TRPT_ETEMP, then a new connection), lock timeouts,
 * passwords only from a password file, TLS with sslmode=verify-full, and
 * a read-only session.
 *
 * Environment (from pgcluster.sh): TRPT_PG_URI, TRPT_PG_HOST, TRPT_PG_PORT,
 * TRPT_PG_PWUSER, TRPT_PG_PASSFILE, TRPT_PG_CA.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/migrate.h"
#include "schema/sql.h"
#include "schema/sql_pg.h"

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		fail_msg(
		    "%s is not set: run through tools/pgcluster.sh run", name);
	return v;
}

static struct trpt_db *
open_uri(const char *uri)
{
	struct trpt_db *db = NULL;
	struct trpt_err err = { 0 };

	if (trpt_db_open(uri, &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	return db;
}

static int
setup(void **state)
{
	*state = open_uri(env("TRPT_PG_URI"));
	return 0;
}

static int
teardown(void **state)
{
	struct trpt_db *db = *state;

	trpt_db_close(&db);
	return 0;
}

static void
exec_ok(struct trpt_db *db, const char *sql)
{
	struct trpt_err err = { 0 };

	if (trpt_sql_exec(db, sql, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
}

/* '?' outside literals, identifiers, comments and dollar quotes only. */
static void
test_sql_pg_number_params(void **state)
{
	static const struct {
		const char *in, *out;
		int n;
	} cases[] = {
		{ "SELECT ?", "SELECT $1", 1 },
		{ "SELECT ?, '?', ?", "SELECT $1, '?', $2", 2 },
		{ "SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1", 1 },
		{ "SELECT \"a?\"\"b\" FROM t WHERE x = ?",
		    "SELECT \"a?\"\"b\" FROM t WHERE x = $1", 1 },
		{ "SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2", 2 },
		{ "SELECT /* a /* ? */ ? */ ?", "SELECT /* a /* ? */ ? */ $1",
		    1 },
		{ "SELECT $$?$$, $t$ '? $t$, ?", "SELECT $$?$$, $t$ '? $t$, $1",
		    1 },
		{ "SELECT E'\\'?', ?", "SELECT E'\\'?', $1", 1 },
		{ "SELECT ?2, ?1, ?2", "SELECT $2, $1, $2", 2 },
		{ "SELECT 1", "SELECT 1", 0 },
		{ "SELECT '?", "SELECT '?", 0 }, /* unterminated: as is */
	};
	size_t i;
	int n;
	char *out;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = -1;
		out = trpt__sql_pg_number_params(cases[i].in, &n);
		assert_non_null(out);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, cases[i].n);
		free(out);
	}
	assert_null(trpt__sql_pg_number_params("SELECT ?0", &n));
	assert_null(trpt__sql_pg_number_params("SELECT ?70000", &n));
}

/* Placeholders next to literals that hold '?', against the server. */
static void
test_sql_pg_placeholders_in_literals(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stmt *st = NULL;
	struct trpt_err err = { 0 };

	assert_int_equal(trpt_sql_dialect(db), TRPT_SQL_PG);
	assert_int_equal(trpt_sql_prepare(db,
			     "SELECT ?, 'lit?''?', \"?\" FROM (SELECT ? AS "
			     "\"?\") x -- ?",
			     &st, &err),
	    TRPT_OK);
	trpt_sql_bind_int(st, 1, 42);
	trpt_sql_bind_text(st, 2, "q?");
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_int_equal(trpt_sql_columns(st), 3);
	assert_int_equal(trpt_sql_int(st, 0), 42);
	assert_string_equal(trpt_sql_text(st, 1), "lit?'?");
	assert_string_equal(trpt_sql_text(st, 2), "q?");
	assert_int_equal(trpt_sql_step(st, &err), 0);
	trpt_sql_finalize(&st);
}

static void
test_sql_pg_nulls(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stmt *st = NULL;
	struct trpt_err err = { 0 };
	size_t len = 99;

	exec_ok(db, "CREATE TEMP TABLE n (a BIGINT, b TEXT, c BYTEA)");
	assert_int_equal(
	    trpt_sql_prepare(
		db, "INSERT INTO n (a, b, c) VALUES (?, ?, ?)", &st, &err),
	    TRPT_OK);
	trpt_sql_bind_null(st, 1);
	trpt_sql_bind_text(st, 2, NULL);
	trpt_sql_bind_null(st, 3);
	assert_int_equal(trpt_sql_run(st, &err), TRPT_OK);
	assert_int_equal(trpt_sql_changes(st), 1);
	/* Unbound parameters are NULL too, as in SQLite. */
	assert_int_equal(trpt_sql_run(st, &err), TRPT_OK);
	trpt_sql_finalize(&st);
	assert_int_equal(
	    trpt_sql_prepare(db, "SELECT a, b, c, a IS NULL FROM n", &st, &err),
	    TRPT_OK);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_true(trpt_sql_is_null(st, 0));
	assert_true(trpt_sql_is_null(st, 1));
	assert_true(trpt_sql_is_null(st, 2));
	assert_false(trpt_sql_is_null(st, 3));
	assert_int_equal(trpt_sql_int(st, 0), 0);
	assert_null(trpt_sql_textn(st, 1, &len));
	assert_int_equal(len, 0);
	assert_null(trpt_sql_blob(st, 2, &len));
	assert_int_equal(trpt_sql_int(st, 3), 1); /* a boolean reads 1 */
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_int_equal(trpt_sql_step(st, &err), 0);
	trpt_sql_finalize(&st);
	exec_ok(db, "DROP TABLE n");
}

static void
test_sql_pg_blob_nul_bytes(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stmt *st = NULL;
	struct trpt_err err = { 0 };
	static const unsigned char blob[] = { 'a', 0, 'b', 0, 0xff, '\\', 'x',
		0 };
	const void *p;
	const char *t;
	size_t len;

	exec_ok(db, "CREATE TEMP TABLE b (id BIGINT, v BYTEA)");
	assert_int_equal(
	    trpt_sql_prepare(
		db, "INSERT INTO b (id, v) VALUES (?, ?), (?, ?)", &st, &err),
	    TRPT_OK);
	trpt_sql_bind_int(st, 1, 1);
	trpt_sql_bind_blob(st, 2, blob, sizeof(blob));
	trpt_sql_bind_int(st, 3, 2);
	trpt_sql_bind_blob(st, 4, "", 0); /* empty, not NULL */
	assert_int_equal(trpt_sql_run(st, &err), TRPT_OK);
	assert_int_equal(trpt_sql_changes(st), 2);
	trpt_sql_finalize(&st);
	assert_int_equal(
	    trpt_sql_prepare(db,
		"SELECT v, length(v), v IS NULL FROM b ORDER BY id", &st, &err),
	    TRPT_OK);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	p = trpt_sql_blob(st, 0, &len);
	assert_int_equal(len, sizeof(blob));
	assert_memory_equal(p, blob, sizeof(blob));
	/* The same bytes read as text (SQLite reads a blob so). */
	t = trpt_sql_textn(st, 0, &len);
	assert_int_equal(len, sizeof(blob));
	assert_memory_equal(t, blob, sizeof(blob));
	assert_int_equal(trpt_sql_int(st, 1), sizeof(blob));
	assert_int_equal(trpt_sql_step(st, &err), 1);
	(void)trpt_sql_blob(st, 0, &len);
	assert_int_equal(len, 0);
	assert_false(trpt_sql_is_null(st, 0));
	assert_int_equal(trpt_sql_int(st, 2), 0);
	assert_int_equal(trpt_sql_step(st, &err), 0);
	trpt_sql_finalize(&st);
	exec_ok(db, "DROP TABLE b");
}

static void
test_sql_pg_int64_extremes(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stmt *st = NULL;
	struct trpt_err err = { 0 };
	static const int64_t v[] = { INT64_MIN, -1, 0, 1, INT64_MAX,
		4294967296LL };
	size_t i;

	exec_ok(db, "CREATE TEMP TABLE i (v BIGINT)");
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		/* Cached: one prepared statement, bound again each time. */
		assert_int_equal(trpt_sql_cached(db,
				     "INSERT INTO i (v) VALUES (?)", &st, &err),
		    TRPT_OK);
		trpt_sql_bind_int(st, 1, v[i]);
		assert_int_equal(trpt_sql_run(st, &err), TRPT_OK);
	}
	assert_int_equal(
	    trpt_sql_prepare(db, "SELECT v, ? FROM i ORDER BY v", &st, &err),
	    TRPT_OK);
	trpt_sql_bind_int(st, 1, INT64_MAX);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_true(trpt_sql_int(st, 0) == INT64_MIN);
	assert_true(trpt_sql_int(st, 1) == INT64_MAX);
	for (i = 1; i < 6; i++)
		assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_true(trpt_sql_int(st, 0) == INT64_MAX);
	assert_int_equal(trpt_sql_step(st, &err), 0);
	trpt_sql_finalize(&st);
	/* SUM of BIGINT is numeric in PostgreSQL: read as an integer. */
	assert_int_equal(trpt_sql_prepare(db,
			     "SELECT SUM(v), AVG(v), 2.5 FROM i WHERE v "
			     "BETWEEN ? AND ?",
			     &st, &err),
	    TRPT_OK);
	trpt_sql_bind_int(st, 1, -1);
	trpt_sql_bind_int(st, 2, 4294967296LL);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_int_equal(trpt_sql_int(st, 0), 4294967296LL);
	assert_int_equal(trpt_sql_int(st, 2), 2);
	assert_true(trpt_sql_double(st, 2) == 2.5);
	trpt_sql_finalize(&st);
	exec_ok(db, "DROP TABLE i");
}

/* A cached statement bound first with NULL, then with an integer. */
static void
test_sql_pg_cached_types(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stmt *st = NULL;
	struct trpt_err err = { 0 };
	static const char sql[] = "SELECT COALESCE(?, 7) + 1";

	assert_int_equal(trpt_sql_cached(db, sql, &st, &err), TRPT_OK);
	trpt_sql_bind_null(st, 1);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_int_equal(trpt_sql_int(st, 0), 8);
	trpt_sql_reset(st);
	trpt_sql_bind_int(st, 1, INT64_MAX - 1);
	if (trpt_sql_step(st, &err) != 1)
		fail_msg("%s", err.msg);
	assert_true(trpt_sql_int(st, 0) == INT64_MAX);
	trpt_sql_reset(st);
}

/*
 * Parameters the server cannot type by themselves: "? IS NULL" (an
 * optional filter), in a transaction too, and "? IS DISTINCT FROM NULL"
 * (typed as text on a second try, outside a transaction).  Rows changed with
 * RETURNING.
 */
static void
test_sql_pg_untyped_params(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stmt *st = NULL;
	struct trpt_err err = { 0 };
	static const char filter[] =
	    "SELECT COUNT(*) FROM u WHERE (? IS NULL OR s = ?) AND (? IS "
	    "NOT NULL OR 1 = 1)";
	int round;

	exec_ok(db, "CREATE TEMP TABLE u (id BIGINT GENERATED BY DEFAULT AS "
		    "IDENTITY, s TEXT); INSERT INTO u (s) VALUES ('a'), ('b')");
	assert_int_equal(trpt_db_begin(db, &err), TRPT_OK);
	for (round = 0; round < 2; round++) {
		assert_int_equal(
		    trpt_sql_cached(db, filter, &st, &err), TRPT_OK);
		if (round == 0)
			trpt_sql_bind_null(st, 1);
		else
			trpt_sql_bind_text(st, 1, "x");
		trpt_sql_bind_text(st, 2, "a");
		if (trpt_sql_step(st, &err) != 1)
			fail_msg("%s", err.msg);
		assert_int_equal(trpt_sql_int(st, 0), round == 0 ? 2 : 1);
		trpt_sql_reset(st);
	}
	assert_int_equal(trpt_db_commit(db, &err), TRPT_OK);
	assert_int_equal(trpt_sql_prepare(db,
			     "SELECT CASE WHEN ? IS DISTINCT FROM NULL THEN ? "
			     "ELSE 0 END",
			     &st, &err),
	    TRPT_OK);
	trpt_sql_bind_text(st, 1, "q");
	trpt_sql_bind_int(st, 2, 1);
	if (trpt_sql_step(st, &err) != 1)
		fail_msg("%s", err.msg);
	assert_int_equal(trpt_sql_int(st, 0), 1);
	trpt_sql_finalize(&st);
	assert_int_equal(
	    trpt_sql_prepare(
		db, "UPDATE u SET s = s || 'z' RETURNING id", &st, &err),
	    TRPT_OK);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	assert_int_equal(trpt_sql_step(st, &err), 0);
	assert_int_equal(trpt_sql_changes(st), 2);
	trpt_sql_finalize(&st);
	exec_ok(db, "DROP TABLE u");
}

/*
 * One statement read row by row (a cursor, more rows than one fetch)
 * while others run on the same connection, inside and across a
 * transaction.
 */
static void
test_sql_pg_interleaved(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_stmt *rd = NULL, *wr = NULL;
	struct trpt_err err = { 0 };
	int64_t n = 0, sum = 0;
	int rc;

	exec_ok(db, "CREATE TEMP TABLE w (v BIGINT)");
	assert_int_equal(
	    trpt_sql_prepare(db,
		"SELECT g FROM generate_series(1, ?) g ORDER BY g", &rd, &err),
	    TRPT_OK);
	trpt_sql_bind_int(rd, 1, 3000);
	assert_int_equal(trpt_db_begin(db, &err), TRPT_OK);
	while ((rc = trpt_sql_step(rd, &err)) == 1) {
		n++;
		assert_int_equal(trpt_sql_int(rd, 0), n);
		assert_int_equal(trpt_sql_cached(db,
				     "INSERT INTO w (v) VALUES (?)", &wr, &err),
		    TRPT_OK);
		trpt_sql_bind_int(wr, 1, trpt_sql_int(rd, 0));
		assert_int_equal(trpt_sql_run(wr, &err), TRPT_OK);
		if (n == 1000)
			assert_int_equal(trpt_db_commit(db, &err), TRPT_OK);
	}
	if (rc < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(n, 3000);
	trpt_sql_finalize(&rd);
	assert_int_equal(
	    trpt_sql_prepare(db, "SELECT SUM(v) FROM w", &rd, &err), TRPT_OK);
	assert_int_equal(trpt_sql_step(rd, &err), 1);
	sum = trpt_sql_int(rd, 0);
	assert_int_equal(sum, (int64_t)3000 * 3001 / 2);
	trpt_sql_finalize(&rd);
	exec_ok(db, "DROP TABLE w");
}

static int64_t
one_int(struct trpt_db *db, const char *sql, struct trpt_err *err, int *rc)
{
	struct trpt_stmt *st = NULL;
	int64_t v = 0;

	*rc = trpt_sql_prepare(db, sql, &st, err);
	if (*rc != TRPT_OK)
		return 0;
	*rc = trpt_sql_step(st, err);
	if (*rc == 1) {
		v = trpt_sql_int(st, 0);
		*rc = TRPT_OK;
	}
	trpt_sql_finalize(&st);
	return v;
}

/*
 * A backend terminated by the administrator: TRPT_ETEMP for the
 * statement, the same inside a transaction until it is rolled back, then
 * a new connection with the cached statements prepared again.
 */
static void
test_sql_pg_terminated_backend(void **state)
{
	struct trpt_db *db = *state, *victim;
	struct trpt_stmt *st = NULL;
	struct trpt_err err = { 0 };
	char sql[96];
	int64_t pid;
	int rc;

	victim = open_uri(env("TRPT_PG_URI"));
	assert_int_equal(
	    trpt_sql_cached(victim, "SELECT ? + 1", &st, &err), TRPT_OK);
	trpt_sql_bind_int(st, 1, 1);
	assert_int_equal(trpt_sql_step(st, &err), 1);
	trpt_sql_reset(st);
	pid = one_int(victim, "SELECT pg_backend_pid()", &err, &rc);
	assert_int_equal(rc, TRPT_OK);

	/* Outside a transaction. */
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)",
	    (long long)pid);
	(void)one_int(db, sql, &err, &rc);
	assert_int_equal(rc, TRPT_OK);
	(void)one_int(victim, "SELECT 1", &err, &rc);
	assert_int_equal(rc, TRPT_ETEMP);
	assert_non_null(strstr(err.msg, "database postgresql://"));
	assert_non_null(strstr(err.msg, "try again later"));
	/* The next statement connects again. */
	assert_int_equal(one_int(victim, "SELECT 5", &err, &rc), 5);
	assert_int_equal(rc, TRPT_OK);
	assert_int_equal(
	    trpt_sql_cached(victim, "SELECT ? + 1", &st, &err), TRPT_OK);
	trpt_sql_bind_int(st, 1, 2);
	if (trpt_sql_step(st, &err) != 1)
		fail_msg("%s", err.msg);
	assert_int_equal(trpt_sql_int(st, 0), 3);
	trpt_sql_reset(st);

	/* Inside a transaction: lost until rolled back. */
	pid = one_int(victim, "SELECT pg_backend_pid()", &err, &rc);
	assert_int_equal(trpt_db_begin(victim, &err), TRPT_OK);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)",
	    (long long)pid);
	(void)one_int(db, sql, &err, &rc);
	assert_int_equal(rc, TRPT_OK);
	(void)one_int(victim, "SELECT 1", &err, &rc);
	assert_int_equal(rc, TRPT_ETEMP);
	(void)one_int(victim, "SELECT 1", &err, &rc);
	assert_int_equal(rc, TRPT_ETEMP);
	assert_non_null(strstr(err.msg, "rolled back"));
	assert_int_equal(trpt_db_commit(victim, &err), TRPT_ETEMP);
	assert_false(trpt_db_in_transaction(victim));
	assert_int_equal(trpt_db_begin(victim, &err), TRPT_OK);
	assert_int_equal(one_int(victim, "SELECT 6", &err, &rc), 6);
	assert_int_equal(trpt_db_commit(victim, &err), TRPT_OK);

	/* Terminated while idle: the next BEGIN connects again. */
	pid = one_int(victim, "SELECT pg_backend_pid()", &err, &rc);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)",
	    (long long)pid);
	(void)one_int(db, sql, &err, &rc);
	if (trpt_db_begin(victim, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(one_int(victim, "SELECT 7", &err, &rc), 7);
	assert_int_equal(trpt_db_commit(victim, &err), TRPT_OK);
	trpt_db_close(&victim);
}

/* A row lock held past the busy timeout: lock_not_available, ETEMP. */
static void
test_sql_pg_lock_timeout(void **state)
{
	struct trpt_db *db = *state, *other;
	struct trpt_err err = { 0 };
	int rc;

	exec_ok(db, "CREATE TABLE IF NOT EXISTS test_lock (id BIGINT PRIMARY "
		    "KEY, v BIGINT); DELETE FROM test_lock; INSERT INTO "
		    "test_lock VALUES (1, 0)");
	other = open_uri(env("TRPT_PG_URI"));
	trpt_db_set_busy_timeout(other, 100);
	assert_int_equal(trpt_db_begin(db, &err), TRPT_OK);
	exec_ok(db, "UPDATE test_lock SET v = 1 WHERE id = 1");
	assert_int_equal(trpt_db_begin(other, &err), TRPT_OK);
	rc = trpt_sql_exec(
	    other, "UPDATE test_lock SET v = 2 WHERE id = 1", &err);
	assert_int_equal(rc, TRPT_ETEMP);
	trpt_db_rollback(other);
	assert_int_equal(trpt_db_commit(db, &err), TRPT_OK);
	assert_int_equal(
	    one_int(other, "SELECT v FROM test_lock", &err, &rc), 1);
	trpt_db_close(&other);
	exec_ok(db, "DROP TABLE test_lock");
}

/* Errors name the database without a password, and say what failed. */
static void
test_sql_pg_errors(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_err err = { 0 };
	char want[160];

	snprintf(want, sizeof(want),
	    "database postgresql://trpt@%s:%s/trpt: ", env("TRPT_PG_HOST"),
	    env("TRPT_PG_PORT"));
	assert_int_equal(trpt_sql_exec(db, "SELEC 1", &err), TRPT_EDB);
	assert_true(strncmp(err.msg, want, strlen(want)) == 0);
	assert_non_null(strstr(err.msg, "SELEC 1: syntax error"));
	/* COMMIT of a failed transaction is an error, not a silent ROLLBACK */
	assert_int_equal(trpt_db_begin(db, &err), TRPT_OK);
	assert_int_equal(trpt_sql_exec(db, "SELECT 1/0", &err), TRPT_EDB);
	assert_int_equal(trpt_db_commit(db, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "rolled back"));
	assert_false(trpt_db_in_transaction(db));
}

/* A password only from a password file, never from the URI or env. */
static void
test_sql_pg_password(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err = { 0 };
	char uri[512], *pw, line[256];
	const char *passfile = env("TRPT_PG_PASSFILE");
	FILE *f;
	int rc;

	(void)state;
	/* The password, from the passfile's last field. */
	f = fopen(passfile, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	pw = strrchr(line, ':');
	assert_non_null(pw);
	pw++;

	snprintf(uri, sizeof(uri), "postgresql://%s:%s@%s:%s/trpt",
	    env("TRPT_PG_PWUSER"), pw, env("TRPT_PG_HOST"),
	    env("TRPT_PG_PORT"));
	assert_int_equal(trpt_db_open(uri, &db, &err), TRPT_EINVAL);
	assert_null(strstr(err.msg, pw));
	assert_non_null(strstr(err.msg, "password file"));
	snprintf(uri, sizeof(uri), "postgres://%s@%s:%s/trpt?password=%s",
	    env("TRPT_PG_PWUSER"), env("TRPT_PG_HOST"), env("TRPT_PG_PORT"),
	    pw);
	assert_int_equal(trpt_db_open(uri, &db, &err), TRPT_EINVAL);
	assert_null(strstr(err.msg, pw));

	/* PGPASSWORD: refused, not shown. */
	setenv("PGPASSFILE", "/nonexistent/pgpass", 1);
	setenv("PGPASSWORD", pw, 1);
	snprintf(uri, sizeof(uri), "postgresql://%s@%s:%s/trpt",
	    env("TRPT_PG_PWUSER"), env("TRPT_PG_HOST"), env("TRPT_PG_PORT"));
	assert_int_equal(trpt_db_open(uri, &db, &err), TRPT_EINVAL);
	assert_null(strstr(err.msg, pw));
	assert_non_null(strstr(err.msg, "PGPASSWORD"));
	unsetenv("PGPASSWORD");
	/* No password file: refused by the server. */
	rc = trpt_db_open(uri, &db, &err);
	assert_int_equal(rc, TRPT_EDB);
	assert_non_null(strstr(err.msg, "cannot connect"));

	/* passfile= in the URI, then PGPASSFILE. */
	snprintf(uri, sizeof(uri), "postgresql://%s@%s:%s/trpt?passfile=%s",
	    env("TRPT_PG_PWUSER"), env("TRPT_PG_HOST"), env("TRPT_PG_PORT"),
	    passfile);
	if (trpt_db_open(uri, &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(one_int(db, "SELECT 1", &err, &rc), 1);
	trpt_db_close(&db);
	setenv("PGPASSFILE", passfile, 1);
	snprintf(uri, sizeof(uri), "postgresql://%s@%s:%s/trpt",
	    env("TRPT_PG_PWUSER"), env("TRPT_PG_HOST"), env("TRPT_PG_PORT"));
	if (trpt_db_open(uri, &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	trpt_db_close(&db);
	unsetenv("PGPASSFILE");
}

/* TLS with the server's name checked against a CA made for the test. */
static void
test_sql_pg_verify_full(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err = { 0 };
	char uri[512];
	int rc;

	(void)state;
	snprintf(uri, sizeof(uri),
	    "postgresql://trpt@localhost:%s/trpt?sslmode=verify-full&"
	    "sslrootcert=%s",
	    env("TRPT_PG_PORT"), env("TRPT_PG_CA"));
	if (trpt_db_open(uri, &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(one_int(db,
			     "SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM "
			     "pg_stat_ssl WHERE pid = pg_backend_pid()",
			     &err, &rc),
	    1);
	trpt_db_close(&db);
	/* The same by address: the certificate names 127.0.0.1 too. */
	snprintf(uri, sizeof(uri),
	    "postgresql://trpt@127.0.0.1:%s/trpt?sslmode=verify-full&"
	    "sslrootcert=%s",
	    env("TRPT_PG_PORT"), env("TRPT_PG_CA"));
	if (trpt_db_open(uri, &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	trpt_db_close(&db);
	/* A CA that did not sign it: refused, not temporary. */
	snprintf(uri, sizeof(uri),
	    "postgresql://trpt@localhost:%s/trpt?sslmode=verify-full&"
	    "sslrootcert=/etc/ssl/certs/ca-certificates.crt",
	    env("TRPT_PG_PORT"));
	assert_int_equal(trpt_db_open(uri, &db, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "certificate"));
}

/* A session that may only read: reads work, writes fail cleanly. */
static void
test_sql_pg_read_only(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err = { 0 };
	char uri[512];
	int rc;

	(void)state;
	snprintf(uri, sizeof(uri),
	    "%s?options=-c%%20default_transaction_read_only%%3Don",
	    env("TRPT_PG_URI"));
	if (trpt_db_open_existing(uri, &db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	assert_true(trpt_db_read_only(db));
	assert_int_equal(
	    one_int(db, "SELECT COUNT(*) FROM reports", &err, &rc), 0);
	assert_int_equal(rc, TRPT_OK);
	assert_int_equal(
	    trpt_sql_exec(db, "DELETE FROM reports WHERE id = 0", &err),
	    TRPT_EDB);
	assert_non_null(strstr(err.msg, "read-only"));
	trpt_db_close(&db);
}

/*
 * The schema: at this binary's version after trpt_db_open, and a
 * database at a later version (a newer binary migrated it) refused.
 */
static void
test_sql_pg_schema_version(void **state)
{
	struct trpt_db *db = *state, *other = NULL;
	struct trpt_err err = { 0 };
	int rc;

	assert_int_equal(
	    one_int(db, "SELECT version FROM schema_version WHERE id = 1", &err,
		&rc),
	    trpt_migrate_latest(db));
	exec_ok(db, "UPDATE schema_version SET version = version + 1");
	assert_int_equal(
	    trpt_db_open(env("TRPT_PG_URI"), &other, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "newer than this program"));
	assert_null(other);
	exec_ok(db, "UPDATE schema_version SET version = version - 1");
	other = open_uri(env("TRPT_PG_URI"));
	trpt_db_close(&other);
}

/* A database that does not exist, for a command that only reads. */
static void
test_sql_pg_no_database(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err = { 0 };
	char uri[512];

	(void)state;
	snprintf(uri, sizeof(uri), "postgresql://trpt@%s:%s/nosuchdb",
	    env("TRPT_PG_HOST"), env("TRPT_PG_PORT"));
	assert_int_equal(trpt_db_open_existing(uri, &db, &err), TRPT_ENOTFOUND);
	assert_non_null(strstr(err.msg, "nosuchdb"));
	/* Nobody listening: temporary. */
	assert_int_equal(
	    trpt_db_open("postgresql://trpt@127.0.0.1:1/x", &db, &err),
	    TRPT_ETEMP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sql_pg_number_params),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_placeholders_in_literals, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_nulls, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_blob_nul_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_int64_extremes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_cached_types, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_untyped_params, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_interleaved, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_terminated_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_lock_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_errors, setup, teardown),
		cmocka_unit_test(test_sql_pg_password),
		cmocka_unit_test(test_sql_pg_verify_full),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_read_only, setup, teardown),
		cmocka_unit_test(test_sql_pg_no_database),
		cmocka_unit_test_setup_teardown(
		    test_sql_pg_schema_version, setup, teardown),
	};

	return cmocka_run_group_tests_name("sql_pg", tests, NULL, NULL);
}
