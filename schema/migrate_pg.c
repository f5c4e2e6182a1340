#include "schema/migrate_pg.h"

#include <stdio.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/migrate.h"
#include "schema/sql.h"

/* pg_advisory_xact_lock key of migrations: "TRPTMIGR" in ASCII. */
#define MIGRATE_LOCK 0x5452505450494752LL

int
trpt_migrate_pg_version(struct trpt_db *db, int *version, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc, exists;

	/* to_regclass: NULL, not an error, when the table is missing. */
	rc = trpt_sql_prepare(db,
	    "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 0 "
	    "ELSE 1 END",
	    &st, err);
	if (rc != TRPT_OK)
		return rc;
	if ((rc = trpt_sql_step(st, err)) < 0)
		goto out;
	exists = rc == 1 && trpt_sql_int(st, 0) == 1;
	trpt_sql_finalize(&st);
	if (!exists) {
		*version = 0;
		return TRPT_OK;
	}
	rc = trpt_sql_prepare(
	    db, "SELECT version FROM schema_version WHERE id = 1", &st, err);
	if (rc != TRPT_OK)
		return rc;
	if ((rc = trpt_sql_step(st, err)) < 0)
		goto out;
	*version = rc == 1 ? (int)trpt_sql_int(st, 0) : 0;
	rc = TRPT_OK;
out:
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

/* Migration m in its own transaction, under the migrations' lock. */
static int
apply_one(struct trpt_db *db, const struct trpt_migration *m, int latest,
    int *now, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	char what[128];
	int rc, cur;

	snprintf(what, sizeof(what), "migration %04d_%s", m->version, m->name);
	if ((rc = trpt_db_begin(db, err)) != TRPT_OK)
		return rc;
	rc = trpt_sql_prepare(db, "SELECT pg_advisory_xact_lock(?)", &st, err);
	if (rc != TRPT_OK)
		goto out;
	trpt_sql_bind_int(st, 1, MIGRATE_LOCK);
	rc = trpt_sql_step(st, err);
	trpt_sql_finalize(&st);
	if (rc < 0)
		goto out;
	rc = trpt_sql_exec(db,
	    "CREATE TABLE IF NOT EXISTS schema_version (id BIGINT PRIMARY "
	    "KEY CHECK (id = 1), version BIGINT NOT NULL); INSERT INTO "
	    "schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO "
	    "NOTHING",
	    err);
	if (rc != TRPT_OK)
		goto out;
	if ((rc = trpt_migrate_pg_version(db, &cur, err)) != TRPT_OK)
		goto out;
	if (cur > latest) {
		rc = refuse_newer(db, cur, latest, err);
		goto out;
	}
	if (cur < m->version) {
		if ((rc = trpt_sql_exec(db, m->sql, err)) != TRPT_OK) {
			/* err names the statement; say which migration. */
			if (err != NULL) {
				char msg[sizeof(err->msg)];

				snprintf(msg, sizeof(msg), "%s", err->msg);
				trpt_err_set(err, rc, "%s (%s)", msg, what);
			}
			goto out;
		}
		rc = trpt_sql_prepare(db,
		    "UPDATE schema_version SET version = ? WHERE id = 1", &st,
		    err);
		if (rc != TRPT_OK)
			goto out;
		trpt_sql_bind_int(st, 1, m->version);
		rc = trpt_sql_run(st, err);
		trpt_sql_finalize(&st);
		if (rc != TRPT_OK)
			goto out;
		cur = m->version;
	}
	if ((rc = trpt_db_commit(db, err)) != TRPT_OK)
		return rc;
	*now = cur;
	return TRPT_OK;
out:
	trpt_db_rollback(db);
	return rc;
}

int
trpt_migrate_pg_apply(struct trpt_db *db, int upto, struct trpt_err *err)
{
	const struct trpt_migration *list = trpt_migrations_pg;
	int count = trpt_migrations_pg_count, version, rc, i;

	if (count != trpt_migrations_sqlite_count)
		return trpt_err_set(err, TRPT_EDB,
		    "database %s: this build has %d PostgreSQL migrations "
		    "for %d SQLite ones: its PostgreSQL schema is incomplete",
		    trpt_db_path(db), count, trpt_migrations_sqlite_count);
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
	if ((rc = trpt_migrate_pg_version(db, &version, err)) != TRPT_OK)
		return rc;
	if (version > count)
		return refuse_newer(db, version, count, err);
	while (version < upto)
		if ((rc = apply_one(
			 db, &list[version], count, &version, err)) != TRPT_OK)
			return rc;
	return TRPT_OK;
}
