#include "schema/migrate.h"

#include <limits.h>
#include <stdio.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/sql.h"

/*
 * One loop for both databases; what differs is where the version lives
 * and how two processes migrating at once are kept apart:
 *   SQLite: PRAGMA user_version; BEGIN IMMEDIATE takes the write lock.
 *   PostgreSQL: the one row (id 1) of the table schema_version, created
 *   by the first migration's transaction; a transaction-level advisory
 *   lock (key "TRPTMIGR" in ASCII) makes a second migrator wait, and it
 *   then reads the version again and finds nothing left to do.
 */
#define PG_MIGRATE_LOCK 0x5452505450494752LL

static void
list_of(
    const struct trpt_db *db, const struct trpt_migration **list, int *count)
{
	if (trpt_sql_dialect(db) == TRPT_SQL_PG) {
		*list = trpt_migrations_pg;
		*count = trpt_migrations_pg_count;
	} else {
		*list = trpt_migrations_sqlite;
		*count = trpt_migrations_sqlite_count;
	}
}

int
trpt_migrate_latest(const struct trpt_db *db)
{
	const struct trpt_migration *list;
	int count;

	list_of(db, &list, &count);
	return count;
}

/* The first column of the first row of sql (0 when it has no row). */
static int
query_int(
    struct trpt_db *db, const char *sql, int64_t *out, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	if ((rc = trpt_sql_prepare(db, sql, &st, err)) != TRPT_OK)
		return rc;
	rc = trpt_sql_step(st, err);
	if (rc >= 0) {
		*out = rc > 0 ? trpt_sql_int(st, 0) : 0;
		rc = TRPT_OK;
	}
	trpt_sql_finalize(&st);
	return rc;
}

int
trpt_migrate_version(struct trpt_db *db, int *version, struct trpt_err *err)
{
	int64_t v = 0, exists = 0;
	int rc;

	if (trpt_sql_dialect(db) == TRPT_SQL_PG) {
		/* to_regclass: NULL, not an error, when the table is
		 * missing; reads without writing (a read-only session). */
		rc = query_int(db,
		    "SELECT CASE WHEN to_regclass('schema_version') IS NULL "
		    "THEN 0 ELSE 1 END",
		    &exists, err);
		if (rc == TRPT_OK && exists)
			rc = query_int(db,
			    "SELECT version FROM schema_version WHERE id = 1",
			    &v, err);
	} else
		rc = query_int(db, "PRAGMA user_version", &v, err);
	if (rc != TRPT_OK) {
		trpt_err_prefix(err, "reading the schema version");
		return rc;
	}
	/* Negative: not ours; huge: newer than any binary. */
	*version = v < INT_MIN ? INT_MIN : v > INT_MAX ? INT_MAX : (int)v;
	return TRPT_OK;
}

/*
 * Inside the migration's transaction, before the version is read again:
 * PostgreSQL waits for any other migrator and makes sure the version
 * table exists (SQLite's BEGIN IMMEDIATE already holds the write lock).
 */
static int
lock_version(struct trpt_db *db, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	if (trpt_sql_dialect(db) != TRPT_SQL_PG)
		return TRPT_OK;
	if ((rc = trpt_sql_prepare(
		 db, "SELECT pg_advisory_xact_lock(?)", &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, PG_MIGRATE_LOCK);
	rc = trpt_sql_step(st, err);
	trpt_sql_finalize(&st);
	if (rc < 0)
		return rc;
	return trpt_sql_exec(db,
	    "CREATE TABLE IF NOT EXISTS schema_version (id BIGINT PRIMARY "
	    "KEY CHECK (id = 1), version BIGINT NOT NULL); INSERT INTO "
	    "schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO "
	    "NOTHING",
	    err);
}

/* Records version in the transaction of its migration. */
static int
set_version(struct trpt_db *db, int version, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	char sql[64];
	int rc;

	if (trpt_sql_dialect(db) != TRPT_SQL_PG) {
		/* A pragma takes no parameters; the version is an int from
		 * the embedded list, never input. */
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
		return trpt_sql_exec(db, sql, err);
	}
	if ((rc = trpt_sql_prepare(db,
		 "UPDATE schema_version SET version = ? WHERE id = 1", &st,
		 err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, version);
	rc = trpt_sql_run(st, err);
	trpt_sql_finalize(&st);
	return rc;
}

/* A version this binary cannot work with: newer, or not ours. */
static int
refuse_version(
    struct trpt_db *db, int version, int latest, struct trpt_err *err)
{
	if (version < 0)
		return trpt_err_set(err, TRPT_EDB,
		    "database %s: schema version %d is not one of ours",
		    trpt_db_path(db), version);
	return trpt_err_set(err, TRPT_EDB,
	    "database %s: schema version %d is newer than this program "
	    "knows (%d); use a newer tlsrpt-collector",
	    trpt_db_path(db), version, latest);
}

/* SQLite: whether PRAGMA foreign_keys is on. */
static int
foreign_keys_on(struct trpt_db *db)
{
	int64_t on = 0;

	if (trpt_sql_dialect(db) == TRPT_SQL_PG ||
	    query_int(db, "PRAGMA foreign_keys", &on, NULL) != TRPT_OK)
		return 0;
	return on != 0;
}

/* SQLite: fails when the migration left a row whose foreign key points
 * nowhere (PostgreSQL checks every constraint itself). */
static int
check_foreign_keys(struct trpt_db *db, const char *what, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	if (trpt_sql_dialect(db) == TRPT_SQL_PG)
		return TRPT_OK;
	if ((rc = trpt_sql_prepare(db, "PRAGMA foreign_key_check", &st, err)) !=
	    TRPT_OK)
		return rc;
	rc = trpt_sql_step(st, err);
	if (rc > 0)
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: %s: a row of table %s refers to nothing",
		    trpt_db_path(db), what,
		    trpt_sql_text(st, 0) != NULL ? trpt_sql_text(st, 0) : "?");
	trpt_sql_finalize(&st);
	return rc;
}

/*
 * Applies migration m in its own transaction.  The version is read again
 * under the write lock, so that two processes opening the same old
 * database do not both migrate it: *now is the version afterwards.
 */
static int
apply_locked(struct trpt_db *db, const struct trpt_migration *m, int latest,
    int *now, struct trpt_err *err)
{
	char what[128];
	int rc, cur;

	snprintf(what, sizeof(what), "migration %04d_%s", m->version, m->name);
	if ((rc = trpt_db_begin(db, err)) != TRPT_OK ||
	    (rc = lock_version(db, err)) != TRPT_OK ||
	    (rc = trpt_migrate_version(db, &cur, err)) != TRPT_OK)
		goto out;
	if (cur > latest || cur < 0) {
		rc = refuse_version(db, cur, latest, err);
		goto out;
	}
	if (cur < m->version) {
		if ((rc = trpt_sql_exec(db, m->sql, err)) != TRPT_OK ||
		    (rc = set_version(db, m->version, err)) != TRPT_OK ||
		    (rc = check_foreign_keys(db, what, err)) != TRPT_OK)
			goto out;
		cur = m->version;
	}
	if ((rc = trpt_db_commit(db, err)) != TRPT_OK)
		goto out;
	*now = cur;
	rc = TRPT_OK;
out:
	if (rc != TRPT_OK) {
		trpt_db_rollback(db);
		trpt_err_prefix(err, "%s", what);
	}
	return rc;
}

/*
 * A SQLite migration may rebuild a table that others refer to (the
 * documented way: create, copy, drop, rename), which with foreign keys on
 * would cascade the DROP into the referring tables.  So foreign keys are
 * off while it runs (the pragma is a no-op inside a transaction, hence
 * here), checked before the commit, and restored after.
 */
static int
apply_one(struct trpt_db *db, const struct trpt_migration *m, int latest,
    int *now, struct trpt_err *err)
{
	int fk = foreign_keys_on(db), rc;

	if (fk)
		trpt_sql_exec(db, "PRAGMA foreign_keys=OFF", NULL);
	rc = apply_locked(db, m, latest, now, err);
	if (fk)
		trpt_sql_exec(db, "PRAGMA foreign_keys=ON", NULL);
	return rc;
}

int
trpt_migrate_apply_list(struct trpt_db *db, const struct trpt_migration *list,
    int count, int upto, struct trpt_err *err)
{
	int i, version, rc;

	for (i = 0; i < count; i++)
		if (list[i].version != i + 1 || list[i].sql == NULL)
			return trpt_err_set(err, TRPT_EINVAL,
			    "database %s: migration %d of the list is "
			    "numbered %d",
			    trpt_db_path(db), i + 1, list[i].version);
	if (upto < 0)
		upto = count;
	if (upto > count)
		return trpt_err_set(err, TRPT_EINVAL,
		    "database %s: no schema version %d (latest is %d)",
		    trpt_db_path(db), upto, count);
	if ((rc = trpt_migrate_version(db, &version, err)) != TRPT_OK)
		return rc;
	if (version > count || version < 0)
		return refuse_version(db, version, count, err);
	while (version < upto)
		if ((rc = apply_one(
			 db, &list[version], count, &version, err)) != TRPT_OK)
			return rc;
	return TRPT_OK;
}

int
trpt_migrate_apply(struct trpt_db *db, int upto, struct trpt_err *err)
{
	const struct trpt_migration *list;
	int count;

	list_of(db, &list, &count);
	return trpt_migrate_apply_list(db, list, count, upto, err);
}
