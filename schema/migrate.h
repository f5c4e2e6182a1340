#pragma once
/*
 * Schema migrations: schema/migrations/DIALECT/NNNN_name.sql (DIALECT
 * sqlite or pg), embedded at build time by schema/embed_sql.py.  Version N
 * is the same step of the schema in both lists.  Each
 * pending migration N runs as BEGIN IMMEDIATE; <sql>; PRAGMA
 * user_version = N; COMMIT, so a failed one leaves the database as it was.
 */

#include <sqlite3.h>

#include "common/err.h"

struct trpt_migration {
	int version;
	const char *name;
	const char *sql;
};

/* One list per dialect; the pg list may be shorter while it is written. */
extern const struct trpt_migration trpt_migrations_sqlite[];
extern const int trpt_migrations_sqlite_count;
extern const struct trpt_migration trpt_migrations_pg[];
extern const int trpt_migrations_pg_count;

/* The schema version this binary brings the database to. */
int trpt_migrate_latest(void);

/*
 * Applies the pending migrations (up to `upto`, or all when upto < 0) and
 * refuses a database newer than this binary (TRPT_EDB).
 */
int trpt_migrate_apply(sqlite3 *db, int upto, struct trpt_err *err);

/*
 * As trpt_migrate_apply, with the migrations list[0 .. count), which must
 * be versions 1 .. count in order.  The test suite runs lists of its own
 * through it (a migration that fails, say).
 */
int trpt_migrate_apply_list(sqlite3 *db, const struct trpt_migration *list,
    int count, int upto, struct trpt_err *err);

/* PRAGMA user_version. */
int trpt_migrate_version(sqlite3 *db, int *version, struct trpt_err *err);
