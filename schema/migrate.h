#pragma once
/*
 * Schema migrations: schema/migrations/DIALECT/NNNN_name.sql (DIALECT
 * sqlite or pg), embedded at build time by schema/embed_sql.py, which
 * fails the build unless both lists have the same versions and names:
 * version N is the same step of the schema in both.  Each pending
 * migration N runs in one transaction with the version update (SQLite:
 * BEGIN IMMEDIATE; <sql>; PRAGMA user_version = N; COMMIT; PostgreSQL:
 * under an advisory lock, the one row of table schema_version), so a
 * failed one leaves the database as it was, and a second process opening
 * the same database at the same moment waits and migrates nothing.  A
 * database newer than the binary is refused.
 */

#include "common/err.h"

struct trpt_db;

struct trpt_migration {
	int version;
	const char *name;
	const char *sql;
};

/* One list per dialect, of the same length. */
extern const struct trpt_migration trpt_migrations_sqlite[];
extern const int trpt_migrations_sqlite_count;
extern const struct trpt_migration trpt_migrations_pg[];
extern const int trpt_migrations_pg_count;

/*
 * What the SQLite migrations 1 to trpt_migrate_sqlite_schema_version leave
 * in a new database, as CREATE statements in the order of sqlite_master:
 * generated at build time by running them (schema/embed_sql.py).  A new
 * SQLite database is created from it in one transaction (the migrations
 * one by one took ~12 ms of CPU, mostly SQLite parsing and reloading the
 * schema after each rename); tests/unit/test_migrate.c proves both ways
 * give the same sqlite_master and user_version.
 */
extern const char *const trpt_migrate_sqlite_schema;
extern const int trpt_migrate_sqlite_schema_version;

/* The schema version this binary brings db's kind of database to. */
int trpt_migrate_latest(const struct trpt_db *db);

/*
 * Applies the pending migrations (up to `upto`, or all when upto < 0) and
 * refuses a database newer than this binary (TRPT_EDB).  A new SQLite
 * database (version 0 and nothing in it) brought to the latest version is
 * created from trpt_migrate_sqlite_schema instead, in one transaction.
 */
int trpt_migrate_apply(struct trpt_db *db, int upto, struct trpt_err *err);

/*
 * As trpt_migrate_apply, with the migrations list[0 .. count), which must
 * be versions 1 .. count in order.  The test suite runs lists of its own
 * through it (a migration that fails, say).
 */
int trpt_migrate_apply_list(struct trpt_db *db,
    const struct trpt_migration *list, int count, int upto,
    struct trpt_err *err);

/*
 * Whether the SQLite migration sql rebuilds a table (drops or renames one
 * it did not create itself, as ALTER TABLE's documentation prescribes for
 * changes it cannot make in place).  Such a migration runs with foreign
 * keys off and PRAGMA foreign_key_check over the whole database before
 * its commit (a dangling reference fails it); any other runs with them on,
 * SQLite checking each row it writes.  Conservative: when in doubt, 1.
 */
int trpt_migrate_rebuilds_table(const char *sql);

/*
 * The schema version of the database: SQLite's PRAGMA user_version, or
 * PostgreSQL's schema_version table (0 when there is none yet).
 */
int trpt_migrate_version(
    struct trpt_db *db, int *version, struct trpt_err *err);
