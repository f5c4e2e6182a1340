#pragma once
/*
 * The database: open (a SQLite file in WAL mode with a busy timeout and
 * foreign keys, or a server), migrate to the schema this binary knows,
 * transactions.  Statements run through the driver, schema/sql.h.
 */

#include <sqlite3.h>

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

/*
 * The SQLite handle, owned by db (NULL for another database).  Like the
 * statement slots below, for the files not yet moved to the driver
 * (schema/sql.h); all of it goes when the last one has moved.
 */
sqlite3 *trpt_db_handle(struct trpt_db *db);

/* The path given to trpt_db_open. */
const char *trpt_db_path(const struct trpt_db *db);

/*
 * How long a statement waits for a lock held by another connection before
 * it gives up with TRPT_ETEMP (default TRPT_DB_BUSY_TIMEOUT_MS).
 */
#define TRPT_DB_BUSY_TIMEOUT_MS 5000
void trpt_db_set_busy_timeout(struct trpt_db *db, int ms);

/*
 * The statement cache, shared by the files of schema/ (and report/): one
 * slot per statement used on a hot path.  A slot is prepared once, with
 * SQLITE_PREPARE_PERSISTENT, on its first use, and finalized by
 * trpt_db_close.
 */
enum trpt_db_stmt_id {
	TRPT_STMT_BEGIN, /* BEGIN IMMEDIATE */
	TRPT_STMT_COMMIT,
	TRPT_STMT_ROLLBACK,
	TRPT_STMT_IMAP_STATE_GET, /* schema/imap_state.c */
	TRPT_STMT_IMAP_STATE_PUT,
	TRPT_STMT_COUNT_
};

/*
 * The cached statement for id, prepared from sql on first use (later calls
 * must pass the same sql).  The statement is reset and its bindings are
 * clear; the caller binds, steps and then calls trpt_db_stmt_done.
 */
int trpt_db_stmt(struct trpt_db *db, enum trpt_db_stmt_id id, const char *sql,
    sqlite3_stmt **out, struct trpt_err *err);

/* Resets a statement and clears its bindings, ready for the next use. */
void trpt_db_stmt_done(sqlite3_stmt *st);

/*
 * Steps st until it is done (it must return no rows), retrying a few times
 * when SQLite reports the database busy without waiting for the busy
 * handler.  Then resets it.  what names the operation in the message.
 */
int trpt_db_step_done(struct trpt_db *db, sqlite3_stmt *st, const char *what,
    struct trpt_err *err);

/*
 * Sets err from the state of the connection after the SQLite result code
 * src: "database PATH: WHAT: sqlite message".  SQLITE_BUSY and
 * SQLITE_LOCKED give TRPT_ETEMP, SQLITE_NOMEM TRPT_ENOMEM, anything else
 * TRPT_EDB.  Returns that code.
 */
int trpt_db_error(
    struct trpt_db *db, int src, const char *what, struct trpt_err *err);

/* The trpt_rc for an SQLite result code (as above). */
int trpt_db_rc(int src);

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
