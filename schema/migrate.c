#include "schema/migrate.h"

#include <limits.h>
#include <stdio.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/sql.h"

/*
 * PostgreSQL: migrations of one database by several processes at once
 * wait for one another on this transaction-level advisory lock (SQLite's
 * BEGIN IMMEDIATE does the same).  8460: RFC 8460.
 */
#define PG_MIGRATE_LOCK "SELECT pg_advisory_xact_lock(8460)"

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
	int64_t v = 0, n = 0;
	int rc;

	if (trpt_sql_dialect(db) == TRPT_SQL_PG) {
		rc = query_int(db,
		    "SELECT count(*) FROM pg_catalog.pg_tables WHERE"
		    " tablename = 'schema_version' AND"
		    " schemaname = current_schema()",
		    &n, err);
		if (rc == TRPT_OK && n > 0)
			rc = query_int(db,
			    "SELECT coalesce(max(version), 0) FROM"
			    " schema_version",
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
	if ((rc = trpt_sql_exec(db,
		 "CREATE TABLE IF NOT EXISTS schema_version"
		 " (version BIGINT NOT NULL);"
		 "DELETE FROM schema_version",
		 err)) != TRPT_OK)
		return rc;
	if ((rc = trpt_sql_prepare(db,
		 "INSERT INTO schema_version (version) VALUES (?)", &st,
		 err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, version);
	rc = trpt_sql_run(st, err);
	trpt_sql_finalize(&st);
	return rc;
}

static int
refuse_newer(struct trpt_db *db, int version, int latest, struct trpt_err *err)
{
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

static int apply_locked(struct trpt_db *db, const struct trpt_migration *m,
    int latest, int *now, struct trpt_err *err);

/*
 * A migration may rebuild a table that others refer to (the documented
 * way: create, copy, drop, rename), which with SQLite's foreign keys on
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
	if ((rc = trpt_db_begin(db, err)) != TRPT_OK)
		goto out;
	if (trpt_sql_dialect(db) == TRPT_SQL_PG &&
	    (rc = trpt_sql_exec(db, PG_MIGRATE_LOCK, err)) != TRPT_OK)
		goto out;
	if ((rc = trpt_migrate_version(db, &cur, err)) != TRPT_OK)
		goto out;
	if (cur > latest || cur < 0) {
		rc = cur < 0 ? trpt_err_set(err, TRPT_EDB,
				   "database %s: schema version %d is not "
				   "one of ours",
				   trpt_db_path(db), cur)
			     : refuse_newer(db, cur, latest, err);
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
	if (version > count)
		return refuse_newer(db, version, count, err);
	if (version < 0)
		return trpt_err_set(err, TRPT_EDB,
		    "database %s: schema version %d is not one of ours",
		    trpt_db_path(db), version);
	while (version < upto) {
		rc = apply_one(db, &list[version], count, &version, err);
		if (rc != TRPT_OK)
			return rc;
	}
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
