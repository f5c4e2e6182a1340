#include "schema/db.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/err.h"
#include "schema/migrate.h"
#include "schema/migrate_pg.h"
#include "schema/sql_impl.h"

int
trpt_db_is_uri(const char *path)
{
	return path != NULL && (strncmp(path, "postgresql://", 13) == 0 ||
				   strncmp(path, "postgres://", 11) == 0);
}

/* The schema version of db, whatever the database. */
static int
db_version(struct trpt_db *db, int *version, struct trpt_err *err)
{
	if (trpt_sql_dialect(db) == TRPT_SQL_PG)
		return trpt_migrate_pg_version(db, version, err);
	return trpt_migrate_version(trpt_db_handle(db), version, err);
}

static int
db_open(
    const char *path, int existing, struct trpt_db **out, struct trpt_err *err)
{
	struct trpt_db *db;
	int version, rc;

	if (path == NULL)
		return trpt_err_set(err, TRPT_EINVAL, "no database path given");
	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "database %s: out of memory", path);
	/* A PostgreSQL URI, else a SQLite path (schema/sql_pg.c). */
	db->ops =
	    trpt_db_is_uri(path) ? &trpt_sql_pg_ops : &trpt_sql_sqlite_ops;
	db->busy_ms = TRPT_DB_BUSY_TIMEOUT_MS;
	db->path = strdup(path);
	if (db->path == NULL) {
		rc = trpt_err_set(
		    err, TRPT_ENOMEM, "database %s: out of memory", path);
		goto out;
	}
	if ((rc = db->ops->open(db, existing, err)) != TRPT_OK)
		goto out;
	if (trpt_db_read_only(db)) {
		/* Only read: no migration to run. */
		if ((rc = db_version(db, &version, err)) != TRPT_OK)
			goto out;
		if (version != trpt_migrate_latest()) {
			rc = trpt_err_set(err, TRPT_EDB,
			    "database %s: read-only, at schema version %d "
			    "where "
			    "this binary needs %d: run a command that writes "
			    "(ingest) with write access first",
			    db->path, version, trpt_migrate_latest());
			goto out;
		}
		goto done;
	}
	if (trpt_sql_dialect(db) == TRPT_SQL_PG)
		rc = trpt_migrate_pg_apply(db, -1, err);
	else
		rc = trpt_migrate_apply(trpt_db_handle(db), -1, err);
	if (rc != TRPT_OK)
		goto out;
done:
	*out = db;
	db = NULL;
	rc = TRPT_OK;
out:
	trpt_db_close(&db);
	return rc;
}

int
trpt_db_open(const char *path, struct trpt_db **out, struct trpt_err *err)
{
	return db_open(path, 0, out, err);
}

int
trpt_db_open_existing(
    const char *path, struct trpt_db **out, struct trpt_err *err)
{
	return db_open(path, 1, out, err);
}

/* Runs sql (from sqlite3_mprintf, which it frees; NULL: out of memory). */
static int
exec_free(struct trpt_db *db, char *sql, const char *what, struct trpt_err *err)
{
	int src;

	if (sql == NULL)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "database %s: out of memory", db->path);
	src = sqlite3_exec(trpt_db_handle(db), sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	return src == SQLITE_OK ? TRPT_OK : trpt_db_error(db, src, what, err);
}

int
trpt_db_shadow_tables(
    struct trpt_db *db, const char *prefix, struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	const char *type, *name, *sql;
	char **todo = NULL, **grown;
	size_t n = 0, i;
	int src, rc = TRPT_OK;

	/* Tables first (ORDER BY type DESC: 'table' before 'index').  The
	 * statements are collected, then run: no schema change while the
	 * schema is being read. */
	src = sqlite3_prepare_v2(trpt_db_handle(db),
	    "SELECT type, name, sql FROM main.sqlite_schema WHERE type IN "
	    "('table', 'index') AND substr(tbl_name, 1, ?1) = ?2 AND sql IS "
	    "NOT NULL AND name NOT IN (SELECT name FROM temp.sqlite_schema) "
	    "ORDER BY type DESC",
	    -1, &st, NULL);
	if (src != SQLITE_OK)
		return trpt_db_error(db, src, "reading the schema", err);
	sqlite3_bind_int(st, 1, (int)strlen(prefix));
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	while (rc == TRPT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		type = (const char *)sqlite3_column_text(st, 0);
		name = (const char *)sqlite3_column_text(st, 1);
		sql = (const char *)sqlite3_column_text(st, 2);
		grown = realloc(todo, (n + 2) * sizeof(*todo));
		if (grown == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM,
			    "database %s: out of memory", db->path);
			break;
		}
		todo = grown;
		/* The schema's own CREATE statements, moved to temp. */
		if (strcmp(type, "table") == 0 &&
		    strncmp(sql, "CREATE TABLE ", 13) == 0) {
			todo[n++] =
			    sqlite3_mprintf("CREATE TEMP TABLE %s", sql + 13);
			todo[n++] = sqlite3_mprintf("INSERT INTO temp.\"%w\" "
						    "SELECT * FROM main.\"%w\"",
			    name, name);
		} else if (strncmp(sql, "CREATE INDEX ", 13) == 0)
			todo[n++] =
			    sqlite3_mprintf("CREATE INDEX temp.%s", sql + 13);
		else if (strncmp(sql, "CREATE UNIQUE INDEX ", 20) == 0)
			todo[n++] = sqlite3_mprintf(
			    "CREATE UNIQUE INDEX temp.%s", sql + 20);
	}
	if (rc == TRPT_OK && src != SQLITE_DONE)
		rc = trpt_db_error(db, src, "reading the schema", err);
	sqlite3_finalize(st);
	for (i = 0; i < n; i++) {
		if (rc == TRPT_OK)
			rc = exec_free(db, todo[i], "copying rollups", err);
		else
			sqlite3_free(todo[i]);
	}
	free(todo);
	return rc;
}

int
trpt_db_read_only(struct trpt_db *db)
{
	return db->ops->read_only(db);
}

void
trpt_db_close(struct trpt_db **dbp)
{
	struct trpt_db *db;
	size_t i;

	if (dbp == NULL || *dbp == NULL)
		return;
	db = *dbp;
	for (i = 0; i < db->nslots; i++)
		if (db->slots[i].st != NULL)
			db->ops->finalize(db->slots[i].st);
	free(db->slots);
	if (db->conn != NULL)
		db->ops->close(db);
	free(db->path);
	free(db);
	*dbp = NULL;
}

int
trpt_db_check_writable(struct trpt_db *db, struct trpt_err *err)
{
	int rc;

	if (trpt_db_read_only(db))
		return trpt_err_set(err, TRPT_EDB,
		    "database %s: the file is read-only", db->path);
	if ((rc = trpt_db_begin(db, err)) != TRPT_OK)
		return rc;
	trpt_db_rollback(db);
	return TRPT_OK;
}

const char *
trpt_db_path(const struct trpt_db *db)
{
	return db->path;
}

void
trpt_db_set_busy_timeout(struct trpt_db *db, int ms)
{
	db->busy_ms = ms;
	db->ops->set_busy_timeout(db, ms);
}

int
trpt_db_begin(struct trpt_db *db, struct trpt_err *err)
{
	return db->ops->begin(db, err);
}

int
trpt_db_commit(struct trpt_db *db, struct trpt_err *err)
{
	return db->ops->commit(db, err);
}

void
trpt_db_rollback(struct trpt_db *db)
{
	db->ops->rollback(db);
}

int
trpt_db_in_transaction(struct trpt_db *db)
{
	return db->ops->in_transaction(db);
}
