#pragma once
/*
 * The database of a unit test: SQLite, or PostgreSQL under
 * `meson test --setup pg`.
 *
 * Without $TRPT_TEST_PG the name is the SQLite one the test asks for
 * (":memory:" or a path).  With $TRPT_TEST_PG (the conninfo URL of a test
 * server started by tools/pgcluster.sh) every new name is a fresh database
 * with a unique name on that server, dropped by trpt_test_db_drop or, at
 * the latest, when the test process exits.  $TRPT_TEST_BACKEND=pg (the pg
 * test setup) without $TRPT_TEST_PG fails the test: the suite would
 * otherwise run against SQLite unnoticed.
 *
 * Tests that are about SQLite itself (file locks, WAL, a read-only file,
 * a backup file) open a path directly, with a comment saying why.
 */

#include <stddef.h>
#include <stdint.h>

struct CMUnitTest;
struct trpt_db;
struct trpt_err;

/* 1 when the tests run against PostgreSQL. */
int trpt_test_db_pg(void);

/*
 * A new database: sqlite_name itself under SQLite, else a new PostgreSQL
 * database's URL.  Caller frees.  Fails the test on error.  A PostgreSQL
 * one is already at this binary's schema: a copy of a database that the
 * first call of the process migrated (trpt_db_open finds nothing to do).
 */
char *trpt_test_db_new(const char *sqlite_name);

/*
 * Drops a database from trpt_test_db_new (nothing for SQLite names; the
 * test removes its files).  Every connection to it must be closed.
 */
void trpt_test_db_drop(const char *name);

/*
 * trpt_db_open of a new database (":memory:" under SQLite); fails the test
 * on error.
 */
struct trpt_db *trpt_test_db_open(void);

/*
 * trpt_db_open(":memory:", out, err) on the database under test: a new
 * PostgreSQL database under the pg setup (dropped when the process exits).
 */
int trpt_test_db_connect(struct trpt_db **out, struct trpt_err *err);

/* Closes a database from trpt_test_db_open and drops it; NULL is fine. */
void trpt_test_db_close(struct trpt_db **dbp);

/*
 * The first column of the first row of sql (no parameters), through the
 * database driver (schema/sql.h), so on either database: as an integer,
 * or as text copied into buf.  Fails the test on an error or no row.
 */
int64_t trpt_test_db_int(struct trpt_db *db, const char *sql);
const char *trpt_test_db_text(
    struct trpt_db *db, const char *sql, char *buf, size_t size);

/* Runs sql (statements without parameters); fails the test on error. */
void trpt_test_db_exec(struct trpt_db *db, const char *sql);

/*
 * The check queries of the tests run on both databases (tests/helpers and
 * schema/sql.h say which SQL both take).  For what has no common
 * spelling:
 */

/*
 * Every row of sql (one text column) joined with sep into buf: what
 * group_concat over an ordered subquery gives in SQLite.  NULL reads as
 * "(null)".  Fails the test on an error, or when buf is too small.
 */
const char *trpt_test_db_rows(struct trpt_db *db, const char *sql,
    const char *sep, char *buf, size_t size);

/*
 * The first column of the first row as bytes (a BLOB or BYTEA): a copy
 * with a NUL after it, *len bytes long.  Caller frees.
 */
void *trpt_test_db_blob(struct trpt_db *db, const char *sql, size_t *len);

/*
 * The first column of the first row read as a JSON array (by jansson):
 * its length, or its element i as a string into buf.  Fails the test when
 * the text is not a JSON array (or the element not a string).
 */
int64_t trpt_test_db_json_len(struct trpt_db *db, const char *sql);
const char *trpt_test_db_json_str(
    struct trpt_db *db, const char *sql, size_t i, char *buf, size_t size);

/*
 * Bytes the tables take: SQLite's pages in use (page count less the free
 * list), PostgreSQL's relations of the schema with their indexes and
 * TOAST.  For "stored once, not twice" checks.
 */
int64_t trpt_test_db_size(struct trpt_db *db);

/*
 * Under the pg setup, the test called name in tests[0..n) is skipped with
 * why (an SQLite-only property, e.g. "SQLite's allocator hook"): it runs
 * nothing, and reads "ok N - name # SKIP on PostgreSQL: why" in TAP, which
 * meson counts as skipped.  (cmocka 1.1.5's own skip() prints "not ok N #
 * SKIP", which meson counts as a failure.)  Call before running the group;
 * the test must be in the list.
 */
void trpt_test_db_sqlite_only(
    struct CMUnitTest *tests, size_t n, const char *name, const char *why);

/*
 * rollup_weeks (schema/weeks.h) as the rows of the table it replaced,
 * rollup_weekly: a subquery of (domain, week, org, successful, failed),
 * one row per cell, on either database.  Give it an alias.
 */
#define TRPT_TEST_PLACE "CAST(1 AS BIGINT) << CAST(p.n AS INTEGER)"
#define TRPT_TEST_WEEKLY_ROWS                                                  \
	"(WITH RECURSIVE p(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM p"      \
	" WHERE n < 31) SELECT w.domain AS domain, (w.block << 5) + p.n AS"    \
	" week, w.org AS org, trpt_weeks_sum(w.cells, " TRPT_TEST_PLACE        \
	", 0) AS successful, trpt_weeks_sum(w.cells, " TRPT_TEST_PLACE         \
	", 1) AS failed FROM rollup_weeks w CROSS JOIN p WHERE"                \
	" length(trpt_weeks_drop(w.cells, " TRPT_TEST_PLACE ")) <"             \
	" length(w.cells))"
