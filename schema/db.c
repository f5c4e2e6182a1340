#include "schema/db.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/lib.h"
#include "schema/migrate.h"
#include "schema/rollup.h"
#include "schema/sql.h"
#include "schema/sql_impl.h"
#include "schema/store.h"

int
trpt_db_is_uri(const char *path)
{
	return path != NULL && (strncmp(path, "postgresql://", 13) == 0 ||
				   strncmp(path, "postgres://", 11) == 0);
}

/* existing: the file must exist (and may be read-only); migrate: bring
 * a writable database to this binary's schema. */
static int
db_open(const char *path, int existing, int migrate, struct trpt_db **out,
    struct trpt_err *err)
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
	/* libpq is loaded on first use (common/lib.h): a clear error if it
	 * cannot be, before the URI is handed to it. */
	if (db->ops == &trpt_sql_pg_ops &&
	    (rc = trpt_lib_need(&trpt_lib_pq, err)) != TRPT_OK)
		goto out;
	if ((rc = db->ops->open(db, existing, err)) != TRPT_OK)
		goto out;
	if (trpt_db_read_only(db)) {
		/* Only read: no migration to run. */
		if ((rc = trpt_migrate_version(db, &version, err)) != TRPT_OK)
			goto out;
		if (version != trpt_migrate_latest(db)) {
			rc = trpt_err_set(err, TRPT_EDB,
			    "database %s: read-only, at schema version %d "
			    "where "
			    "this binary needs %d: run a command that writes "
			    "(ingest) with write access first",
			    db->path, version, trpt_migrate_latest(db));
			goto out;
		}
		goto done;
	}
	if (migrate && (rc = trpt_migrate_apply(db, -1, err)) != TRPT_OK)
		goto out;
	/*
	 * SQLite checks each foreign key per inserted row (a lookup of the
	 * parent); schema/store.c inserts children with the id the parent's
	 * insert has just returned, and prune deletes children by name, so
	 * the checks and cascades are off on this connection (migrations
	 * run with them on, or checked after: schema/migrate.c).
	 */
	if (trpt_sql_dialect(db) == TRPT_SQL_SQLITE &&
	    (rc = trpt_sql_exec(db, "PRAGMA foreign_keys=OFF", err)) != TRPT_OK)
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
	return db_open(path, 0, 1, out, err);
}

int
trpt_db_open_unmigrated(
    const char *path, struct trpt_db **out, struct trpt_err *err)
{
	return db_open(path, 0, 0, out, err);
}

int
trpt_db_open_existing(
    const char *path, struct trpt_db **out, struct trpt_err *err)
{
	return db_open(path, 1, 1, out, err);
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
	trpt__rollup_free(db);
	trpt__store_free(db);
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

/*
 * glibc grows a thread's malloc arena by just what each request needs,
 * and opens each step with an mprotect: SQLite's page cache grows one
 * 4 KiB line at a time, so `ingest` of 3,000 e-mails made 3,300 mprotect
 * calls, 2.4-5.8% of its store thread's CPU (docs/PERFORMANCE.md, "Stop
 * 24: the store thread").  A thread's heap stays open up to the largest
 * size it ever had (a trim gives the pages back, not the mapping), so
 * blocks below malloc's mmap threshold taken up to ARENA_BYTES and freed
 * leave the later growth without mprotect; the trim gives back all but
 * their headers, and the pages are faulted in when used, as before.  The
 * memory stays in the one arena that every size shares (a separate region
 * for the lines cost more faults than it saved: same section).  Under
 * another malloc, or in an arena already that large, it only costs the
 * 160 mallocs and frees.
 */
#define ARENA_BLOCK ((size_t)127 << 10)
#define ARENA_BYTES                                                            \
	((size_t)20 << 20) /* the 16 MiB cache, the 4 MiB log buffer */

void
trpt_db_thread_arena(void)
{
	void *b[ARENA_BYTES / ARENA_BLOCK];
	size_t i, n;

	for (n = 0; n < sizeof(b) / sizeof(b[0]); n++)
		if ((b[n] = malloc(ARENA_BLOCK)) == NULL)
			break;
	for (i = 0; i < n; i++)
		free(b[i]);
}

void
trpt_db_set_busy_timeout(struct trpt_db *db, int ms)
{
	db->busy_ms = ms;
	db->ops->set_busy_timeout(db, ms);
}

/*
 * The rollups of the reports a transaction stored are written right
 * before its commit (schema/rollup.h), and before them the child rows the
 * store deferred (schema/store.h, trpt__store_flush), which the rollups'
 * set-based path reads; a transaction that begins or rolls back starts
 * with none queued, whatever happened to the one before.
 */
int
trpt_db_begin(struct trpt_db *db, struct trpt_err *err)
{
	trpt__rollup_discard(db);
	trpt__store_discard(db);
	return db->ops->begin(db, err);
}

int
trpt_db_commit(struct trpt_db *db, struct trpt_err *err)
{
	int rc;

	if ((rc = trpt__store_flush(db, err)) != TRPT_OK ||
	    (rc = trpt__rollup_flush(db, err)) != TRPT_OK) {
		trpt_db_rollback(db);
		return rc;
	}
	rc = db->ops->commit(db, err);
	trpt__store_discard(db);
	return rc;
}

void
trpt_db_rollback(struct trpt_db *db)
{
	trpt__rollup_discard(db);
	trpt__store_discard(db);
	db->ops->rollback(db);
}

int
trpt_db_in_transaction(struct trpt_db *db)
{
	return db->ops->in_transaction(db);
}
