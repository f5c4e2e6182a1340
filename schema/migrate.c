#include "schema/migrate.h"

#include <stdio.h>

#include <sqlite3.h>

#include "common/err.h"
#include "schema/db.h"

/* The name to put in messages: the file, or ":memory:". */
static const char *
dbname(sqlite3 *db)
{
	const char *f = sqlite3_db_filename(db, "main");

	return f != NULL && f[0] != '\0' ? f : ":memory:";
}

static int
fail(sqlite3 *db, int src, const char *what, struct trpt_err *err)
{
	int code = trpt_db_rc(src);

	if (code == TRPT_OK)
		code = TRPT_EDB;
	return trpt_err_set(err, code, "database %s: %s: %s", dbname(db), what,
	    sqlite3_errmsg(db));
}

int
trpt_migrate_latest(void)
{
	return trpt_migrations_sqlite_count;
}

int
trpt_migrate_version(sqlite3 *db, int *version, struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	int src, rc;

	src = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (src != SQLITE_OK) {
		rc = fail(db, src, "reading the schema version", err);
		goto out;
	}
	src = sqlite3_step(st);
	if (src != SQLITE_ROW) {
		rc = fail(db, src, "reading the schema version", err);
		goto out;
	}
	*version = sqlite3_column_int(st, 0);
	rc = TRPT_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

static int
refuse_newer(sqlite3 *db, int version, int latest, struct trpt_err *err)
{
	return trpt_err_set(err, TRPT_EDB,
	    "database %s: schema version %d is newer than this program "
	    "knows (%d); use a newer tlsrpt-collector",
	    dbname(db), version, latest);
}

/* Whether PRAGMA foreign_keys is on (a pragma that cannot fail to read). */
static int
foreign_keys_on(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int on = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA foreign_keys", -1, &st, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		on = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return on;
}

/* Fails when the migration left a row whose foreign key points nowhere. */
static int
check_foreign_keys(sqlite3 *db, const char *what, struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	int src, rc = TRPT_OK;

	src = sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: %s: a row of table %s refers to nothing",
		    dbname(db), what, (const char *)sqlite3_column_text(st, 0));
	else if (src != SQLITE_DONE)
		rc = fail(db, src, what, err);
	sqlite3_finalize(st);
	return rc;
}

static int apply_locked(sqlite3 *db, const struct trpt_migration *m, int latest,
    int *now, struct trpt_err *err);

/*
 * A migration may rebuild a table that others refer to (the documented
 * way: create, copy, drop, rename), which with foreign keys on would
 * cascade the DROP into the referring tables.  So foreign keys are off
 * while it runs (the pragma is a no-op inside a transaction, hence here),
 * checked before the commit, and restored after.
 */
static int
apply_one(sqlite3 *db, const struct trpt_migration *m, int latest, int *now,
    struct trpt_err *err)
{
	int fk = foreign_keys_on(db), rc;

	if (fk)
		sqlite3_exec(db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL);
	rc = apply_locked(db, m, latest, now, err);
	if (fk)
		sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	return rc;
}

/*
 * Applies migration m in its own transaction.  The version is read again
 * under the write lock, so that two processes opening the same old
 * database do not both migrate it: *now is the version afterwards.
 */
static int
apply_locked(sqlite3 *db, const struct trpt_migration *m, int latest, int *now,
    struct trpt_err *err)
{
	char what[128], setver[64];
	int src, rc, cur;

	snprintf(what, sizeof(what), "migration %04d_%s", m->version, m->name);
	src = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (src != SQLITE_OK)
		return fail(db, src, what, err);
	if ((rc = trpt_migrate_version(db, &cur, err)) != TRPT_OK)
		goto out;
	if (cur > latest || cur < 0) {
		rc = cur < 0 ? trpt_err_set(err, TRPT_EDB,
				   "database %s: schema version %d is not "
				   "one of ours",
				   dbname(db), cur)
			     : refuse_newer(db, cur, latest, err);
		goto out;
	}
	if (cur < m->version) {
		src = sqlite3_exec(db, m->sql, NULL, NULL, NULL);
		if (src != SQLITE_OK) {
			rc = fail(db, src, what, err);
			goto out;
		}
		/* A pragma takes no parameters; the version is an int from the
		 * embedded list, never input. */
		snprintf(setver, sizeof(setver), "PRAGMA user_version = %d",
		    m->version);
		src = sqlite3_exec(db, setver, NULL, NULL, NULL);
		if (src != SQLITE_OK) {
			rc = fail(db, src, what, err);
			goto out;
		}
		cur = m->version;
		if ((rc = check_foreign_keys(db, what, err)) != TRPT_OK)
			goto out;
	}
	src = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		rc = fail(db, src, what, err);
		goto out;
	}
	*now = cur;
	rc = TRPT_OK;
out:
	if (rc != TRPT_OK && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int
trpt_migrate_apply_list(sqlite3 *db, const struct trpt_migration *list,
    int count, int upto, struct trpt_err *err)
{
	int i, version, rc;

	for (i = 0; i < count; i++)
		if (list[i].version != i + 1 || list[i].sql == NULL)
			return trpt_err_set(err, TRPT_EINVAL,
			    "database %s: migration %d of the list is "
			    "numbered %d",
			    dbname(db), i + 1, list[i].version);
	if (upto < 0)
		upto = count;
	if (upto > count)
		return trpt_err_set(err, TRPT_EINVAL,
		    "database %s: no schema version %d (latest is %d)",
		    dbname(db), upto, count);
	if ((rc = trpt_migrate_version(db, &version, err)) != TRPT_OK)
		return rc;
	if (version > count)
		return refuse_newer(db, version, count, err);
	if (version < 0)
		return trpt_err_set(err, TRPT_EDB,
		    "database %s: schema version %d is not one of ours",
		    dbname(db), version);
	while (version < upto) {
		rc = apply_one(db, &list[version], count, &version, err);
		if (rc != TRPT_OK)
			return rc;
	}
	return TRPT_OK;
}

int
trpt_migrate_apply(sqlite3 *db, int upto, struct trpt_err *err)
{
	return trpt_migrate_apply_list(db, trpt_migrations_sqlite,
	    trpt_migrations_sqlite_count, upto, err);
}
