#pragma once
/*
 * The database driver: the one way the files of schema/ run SQL, whatever
 * database is behind (SQLite in schema/sql_sqlite.c, PostgreSQL in
 * schema/sql_pg.c).  Nothing above schema/ includes this header: callers
 * there use functions named for what they do (store a report, the daily
 * rollup of a range...), and never see SQL or a database handle.
 *
 * Why one driver under one set of statements rather than every schema/
 * function written twice: the statements are the same for both databases
 * but for a handful (written next to each other, chosen with
 * trpt_sql_dialect), and two copies of some 150 statements would drift.
 *
 * SQL is written once for both:
 *   - placeholders are '?' (the PostgreSQL driver numbers them $1..$n);
 *   - ON CONFLICT ... DO NOTHING / DO UPDATE, RETURNING, CTEs, window
 *     functions, CASE, COALESCE, CAST work on both; INSERT OR IGNORE,
 *     ifnull, iif, printf, strftime, group_concat, json_*, rowid,
 *     LIMIT -1, scalar min()/max() of two values, GREATEST/LEAST do not;
 *   - a comparison is not a value: CASE WHEN a > b THEN 1 ELSE 0 END;
 *   - integers are 64-bit (BIGINT in PostgreSQL), blobs BLOB/BYTEA, text
 *     is UTF-8; SUM() of integers reads back with trpt_sql_int.
 *
 * Errors: every function that fails fills err with "database WHERE: WHAT:
 * message" and returns TRPT_ETEMP when trying again later may succeed
 * (SQLite busy or locked; PostgreSQL serialization failure, deadlock, lost
 * connection, server shutting down), TRPT_ENOMEM, or TRPT_EDB.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct trpt_db;
struct trpt_stmt;

enum trpt_sql_dialect { TRPT_SQL_SQLITE = 1, TRPT_SQL_PG = 2 };

enum trpt_sql_dialect trpt_sql_dialect(const struct trpt_db *db);

/*
 * Prepares one statement; trpt_sql_finalize frees it.  For statements run
 * once or rarely (a report query, a migration step).  sql is not copied:
 * it must stay valid until the statement is finalized (error messages
 * quote its first words).
 */
int trpt_sql_prepare(struct trpt_db *db, const char *sql,
    struct trpt_stmt **out, struct trpt_err *err);

/*
 * The connection's cached statement for sql, prepared on first use and
 * freed by trpt_db_close; for statements on hot paths.  The cache is keyed
 * by the address of sql, which must be a string constant (a literal).  The
 * statement comes reset, without bindings; after use, trpt_sql_reset it
 * (trpt_sql_run does).  Never finalize a cached statement.
 */
int trpt_sql_cached(struct trpt_db *db, const char *sql, struct trpt_stmt **out,
    struct trpt_err *err);

/*
 * Binds parameter i (the i-th '?', from 1).  Text and blobs are not
 * copied: they must stay valid until the statement is reset.  A NULL text
 * binds SQL NULL.  Binding fails only for a bad index or out of memory,
 * which the next trpt_sql_step reports.
 */
void trpt_sql_bind_int(struct trpt_stmt *st, int i, int64_t v);
void trpt_sql_bind_double(struct trpt_stmt *st, int i, double v);
void trpt_sql_bind_text(struct trpt_stmt *st, int i, const char *s);
void trpt_sql_bind_textn(
    struct trpt_stmt *st, int i, const char *s, size_t len);
void trpt_sql_bind_blob(struct trpt_stmt *st, int i, const void *p, size_t len);
void trpt_sql_bind_null(struct trpt_stmt *st, int i);

/*
 * Runs the statement to its next row: 1 when a row is there to read, 0
 * when there are no more rows, or a negative trpt_rc with err filled.
 * Other statements may run on the connection between two steps of one.
 */
int trpt_sql_step(struct trpt_stmt *st, struct trpt_err *err);

/*
 * Steps a statement that returns no rows (a row is an error) and resets
 * it.  TRPT_OK or a negative trpt_rc.
 */
int trpt_sql_run(struct trpt_stmt *st, struct trpt_err *err);

/*
 * The columns of the current row, from 0 (trpt_sql_columns counts them
 * once a step has returned a row: PostgreSQL knows them only then).
 * NULL reads as 0, 0.0 and a NULL pointer; a boolean as 0 or 1.  Pointers
 * are valid until the next step or reset.  Blobs and text may hold NUL
 * bytes: their length is *len (may be NULL for text).
 */
int trpt_sql_columns(struct trpt_stmt *st);
int trpt_sql_is_null(struct trpt_stmt *st, int col);
int64_t trpt_sql_int(struct trpt_stmt *st, int col);
double trpt_sql_double(struct trpt_stmt *st, int col);
const char *trpt_sql_text(struct trpt_stmt *st, int col);
const char *trpt_sql_textn(struct trpt_stmt *st, int col, size_t *len);
const void *trpt_sql_blob(struct trpt_stmt *st, int col, size_t *len);

/* Rows changed by the statement's last run (INSERT, UPDATE, DELETE). */
int64_t trpt_sql_changes(struct trpt_stmt *st);

/*
 * SQLite only: the id (rowid) of the row the connection inserted last, or
 * -1 on PostgreSQL.  Hot inserts on SQLite read it after trpt_sql_run
 * rather than use RETURNING, which makes SQLite build a temporary table
 * for every run of the statement; PostgreSQL needs RETURNING.
 */
int64_t trpt_sql_last_insert_id(struct trpt_stmt *st);

/* Ends a run early and clears the bindings, ready for the next one. */
void trpt_sql_reset(struct trpt_stmt *st);

/* Frees a statement from trpt_sql_prepare; NULL is fine. */
void trpt_sql_finalize(struct trpt_stmt **stp);

/*
 * Runs sql, which may hold several statements separated by ';' and no
 * parameters (schema migrations, control statements).  Rows are ignored.
 */
int trpt_sql_exec(struct trpt_db *db, const char *sql, struct trpt_err *err);

/*
 * SQLite: makes what db's database file and its log (WAL) hold durable
 * (fdatasync through the files SQLite has open for this connection, so
 * that no descriptor of ours closes and drops SQLite's locks), outside
 * any transaction; nothing for a file not open.  PostgreSQL: nothing.
 * Only ever adds syncs: serve's checkpointer calls it before a RESTART so
 * that the fsyncs the RESTART runs with every POST waiting find little
 * left to write (schema/checkpoint.h).
 */
int trpt_sql_sync_files(struct trpt_db *db, struct trpt_err *err);
