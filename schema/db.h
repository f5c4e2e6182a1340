#pragma once
/*
 * The database: open (a SQLite file in WAL mode with a busy timeout and
 * foreign keys, or a server), migrate to the schema this binary knows,
 * transactions.  Statements run through the driver, schema/sql.h.
 */

#include "common/err.h"

struct trpt_db;

/*
 * Opens or creates the database at path and applies pending migrations.
 * Refuses a database whose schema is newer than this binary (TRPT_EDB).
 * ":memory:" works for tests.  Returns TRPT_ETEMP when another process
 * kept the database locked for longer than the busy timeout.
 *
 * A path starting with postgresql:// or postgres:// is a PostgreSQL
 * connection URI (libpq's syntax: user, host, port, database, and
 * parameters such as sslmode, sslrootcert, passfile); the database must
 * exist (its tables are created).  A password in the URI or in PGPASSWORD
 * is refused (TRPT_EINVAL): it comes from a password file (PGPASSFILE,
 * ~/.pgpass, or passfile=).  An unreachable server gives TRPT_ETEMP.
 * Messages name it postgresql://USER@HOST:PORT/DB (trpt_db_path).
 */
int trpt_db_open(const char *path, struct trpt_db **out, struct trpt_err *err);

/* Whether path is a PostgreSQL URI (postgresql:// or postgres://). */
int trpt_db_is_uri(const char *path);
void trpt_db_close(struct trpt_db **dbp);

/*
 * As trpt_db_open without migrating: for the tests and tools that apply
 * migrations themselves (trpt_migrate_apply).
 */
int trpt_db_open_unmigrated(
    const char *path, struct trpt_db **out, struct trpt_err *err);

/*
 * For commands that only read: opens the database at path, which must
 * exist (TRPT_ENOTFOUND: "no database at PATH"), for writing when this
 * process may write the file (migrations and rollups are kept), else
 * read-only (trpt_db_read_only); a read-only database must already be at
 * the schema version of this binary.
 */
int trpt_db_open_existing(
    const char *path, struct trpt_db **out, struct trpt_err *err);

/* 1 when db was opened read-only (nothing may be written). */
int trpt_db_read_only(struct trpt_db *db);

/*
 * Whether the database takes a write now: BEGIN IMMEDIATE, then ROLLBACK.
 * TRPT_EDB for a read-only file or directory, TRPT_ETEMP when another
 * connection held the write lock past the busy timeout.
 */
int trpt_db_check_writable(struct trpt_db *db, struct trpt_err *err);

/* The path given to trpt_db_open. */
const char *trpt_db_path(const struct trpt_db *db);

/*
 * Called first by a thread that will store through a database (ingest's
 * store thread): makes its malloc arena's later growth, up to what the
 * page cache and the log buffer take, cheap (schema/db.c says how).
 * Holds no memory once it returns.
 */
void trpt_db_thread_arena(void);

/*
 * How long a statement waits for a lock held by another connection before
 * it gives up with TRPT_ETEMP (default TRPT_DB_BUSY_TIMEOUT_MS).
 */
#define TRPT_DB_BUSY_TIMEOUT_MS 5000
void trpt_db_set_busy_timeout(struct trpt_db *db, int ms);

/*
 * BEGIN IMMEDIATE, COMMIT and ROLLBACK.  A busy database gives TRPT_ETEMP.
 * A COMMIT that fails rolls the transaction back.  trpt_db_rollback does
 * nothing when no transaction is open.
 */
int trpt_db_begin(struct trpt_db *db, struct trpt_err *err);
int trpt_db_commit(struct trpt_db *db, struct trpt_err *err);
void trpt_db_rollback(struct trpt_db *db);

/* 1 when a transaction opened by trpt_db_begin (or BEGIN) is active. */
int trpt_db_in_transaction(struct trpt_db *db);
