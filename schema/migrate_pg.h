#pragma once
/*
 * Schema migrations on PostgreSQL: schema/migrations/pg/NNNN_name.sql,
 * the same versions as the SQLite list.  PostgreSQL has no user_version:
 * the version is the one row of the table schema_version.  Each pending
 * migration N runs in one transaction that first takes an advisory lock
 * (two collectors opening a new database at once migrate it once), reads
 * the version again, runs the migration and sets the version to N.
 */

#include "common/err.h"

struct trpt_db;

/*
 * The schema version of db (0 for a database without schema_version),
 * read without writing (works in a read-only session).
 */
int trpt_migrate_pg_version(
    struct trpt_db *db, int *version, struct trpt_err *err);

/*
 * Applies the pending migrations of the PostgreSQL list (up to upto, all
 * when upto < 0).  Refuses a database newer than this binary, and a build
 * whose PostgreSQL list lags behind the SQLite one (TRPT_EDB).
 */
int trpt_migrate_pg_apply(struct trpt_db *db, int upto, struct trpt_err *err);
