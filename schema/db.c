#include "schema/db.h"

#include <sys/stat.h>

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/err.h"
#include "schema/migrate.h"

/*
 * The busy handler (sqlite3_busy_timeout) waits for locks held by other
 * connections; once it gives up, the database is busy and the caller
 * gets TRPT_ETEMP.  Only SQLITE_BUSY_RECOVERY, returned without waiting
 * while another connection recovers the WAL, is worth retrying here: a
 * few times, with a pause.
 */
#define BUSY_RETRIES  5
#define BUSY_RETRY_MS 50

struct trpt_db {
	sqlite3 *h;
	char *path;
	sqlite3_stmt *stmts[TRPT_STMT_COUNT_];
	int busy_ms;           /* how long to wait for a lock */
	int64_t busy_start_ms; /* when the current wait began */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The busy handler: try again every millisecond until the timeout.
 * SQLite's own (sqlite3_busy_timeout) backs off to 100 ms between tries,
 * and so can miss every gap of a writer that commits in batches and
 * starts its next transaction a few milliseconds later: two ingests, or
 * an ingest and serve, would then starve one another into "database is
 * busy".
 */
static int
busy_wait(void *arg, int count)
{
	struct trpt_db *db = arg;
	int64_t now = mono_ms();

	if (count == 0)
		db->busy_start_ms = now;
	if (now - db->busy_start_ms >= db->busy_ms)
		return 0;
	sqlite3_sleep(1);
	return 1;
}

int
trpt_db_rc(int src)
{
	switch (src & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return TRPT_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return TRPT_ETEMP;
	case SQLITE_NOMEM:
		return TRPT_ENOMEM;
	}
	return TRPT_EDB;
}

int
trpt_db_error(
    struct trpt_db *db, int src, const char *what, struct trpt_err *err)
{
	int code = trpt_db_rc(src);

	if (code == TRPT_OK)
		code = TRPT_EDB;
	if (code == TRPT_ETEMP)
		return trpt_err_set(err, code,
		    "database %s: %s: database is busy (%s), try again later",
		    db->path, what, sqlite3_errmsg(db->h));
	return trpt_err_set(err, code, "database %s: %s: %s", db->path, what,
	    sqlite3_errmsg(db->h));
}

/* Runs one pragma (outside any transaction) and discards what it returns. */
static int
pragma(struct trpt_db *db, const char *sql, struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	int src, tries = 0, rc;

	src = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
	if (src != SQLITE_OK) {
		rc = trpt_db_error(db, src, sql, err);
		goto out;
	}
	for (;;) {
		src = sqlite3_step(st);
		if (src == SQLITE_ROW)
			continue;
		if (src == SQLITE_BUSY_RECOVERY && ++tries < BUSY_RETRIES) {
			sqlite3_reset(st);
			sqlite3_sleep(BUSY_RETRY_MS);
			continue;
		}
		break;
	}
	if (src != SQLITE_DONE) {
		rc = trpt_db_error(db, src, sql, err);
		goto out;
	}
	rc = TRPT_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

static int
is_memory(const char *path)
{
	return strcmp(path, ":memory:") == 0 || path[0] == '\0';
}

/*
 * Opens path with flags.  A write-protected file opened for writing comes
 * back read-only from SQLite; so does one opened SQLITE_OPEN_READONLY.  A
 * database in WAL mode needs its -shm file: in a directory this process
 * may not write, where it cannot be created, the file is opened as
 * immutable (nobody writes it while we read, or we could not either).
 */
static int
open_handle(struct trpt_db *db, int flags, struct trpt_err *err)
{
	char *uri = NULL;
	size_t i, n;
	int src;

	src = sqlite3_open_v2(db->path, &db->h, flags, NULL);
	if (src == SQLITE_OK && (flags & SQLITE_OPEN_READONLY)) {
		/* The first read shows whether the WAL index can be had. */
		src = sqlite3_exec(
		    db->h, "SELECT 1 FROM sqlite_schema", NULL, NULL, NULL);
		if ((src & 0xff) == SQLITE_CANTOPEN ||
		    (src & 0xff) == SQLITE_READONLY) {
			sqlite3_close(db->h);
			db->h = NULL;
			/* file:PATH?immutable=1, PATH percent-encoded */
			n = strlen(db->path);
			uri = malloc(n * 3 + 32);
			if (uri == NULL)
				return trpt_err_set(err, TRPT_ENOMEM,
				    "database %s: out of memory", db->path);
			memcpy(uri, "file:", 5);
			for (i = 0, n = 5; db->path[i] != '\0'; i++) {
				unsigned char ch = (unsigned char)db->path[i];

				if (ch == '%' || ch == '?' || ch == '#' ||
				    ch < 0x21 || ch > 0x7e) {
					snprintf(uri + n, 4, "%%%02X", ch);
					n += 3;
				} else
					uri[n++] = (char)ch;
			}
			memcpy(uri + n, "?immutable=1", 13);
			src = sqlite3_open_v2(uri, &db->h,
			    SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
			free(uri);
		} else
			src = SQLITE_OK;
	}
	if (src != SQLITE_OK) {
		if (db->h == NULL)
			return trpt_err_set(err, TRPT_ENOMEM,
			    "database %s: out of memory opening it", db->path);
		return trpt_db_error(db, src, "cannot open", err);
	}
	return TRPT_OK;
}

static int
db_open(
    const char *path, int existing, struct trpt_db **out, struct trpt_err *err)
{
	struct trpt_db *db;
	struct stat st;
	int version, rc;

	if (path == NULL)
		return trpt_err_set(err, TRPT_EINVAL, "no database path given");
	if (existing && !is_memory(path) && stat(path, &st) != 0)
		return trpt_err_set(err,
		    errno == ENOENT ? TRPT_ENOTFOUND : TRPT_EIO,
		    "no database at %s: %s", path, strerror(errno));
	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "database %s: out of memory", path);
	db->path = strdup(path);
	if (db->path == NULL) {
		rc = trpt_err_set(
		    err, TRPT_ENOMEM, "database %s: out of memory", path);
		goto out;
	}
	if (!existing)
		rc = open_handle(
		    db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err);
	else if (access(path, W_OK) == 0)
		rc = open_handle(db, SQLITE_OPEN_READWRITE, err);
	else
		rc = open_handle(db, SQLITE_OPEN_READONLY, err);
	if (rc != TRPT_OK)
		goto out;
	sqlite3_extended_result_codes(db->h, 1);
	trpt_db_set_busy_timeout(db, TRPT_DB_BUSY_TIMEOUT_MS);
	if (trpt_db_read_only(db)) {
		/* Only read: no journal mode to set, no migration to run. */
		if ((rc = trpt_migrate_version(db->h, &version, err)) !=
		    TRPT_OK)
			goto out;
		if (version != trpt_migrate_latest()) {
			rc = trpt_err_set(err, TRPT_EDB,
			    "database %s: read-only, at schema version %d "
			    "where "
			    "this binary needs %d: run a command that writes "
			    "(ingest) with write access first",
			    path, version, trpt_migrate_latest());
			goto out;
		}
		goto done;
	}
	/* Pragmas that a transaction would silently ignore come first. */
	if (!is_memory(path) &&
	    (rc = pragma(db, "PRAGMA journal_mode=WAL", err)) != TRPT_OK)
		goto out;
	if ((rc = pragma(db, "PRAGMA synchronous=NORMAL", err)) != TRPT_OK)
		goto out;
	/* 16 MiB of page cache: a batch of reports stays in memory. */
	if ((rc = pragma(db, "PRAGMA cache_size=-16384", err)) != TRPT_OK)
		goto out;
	if ((rc = pragma(db, "PRAGMA foreign_keys=ON", err)) != TRPT_OK)
		goto out;
	/* The savepoint of each report in a batch keeps its undo pages in
	 * memory (one report's worth), not in a temporary file per batch. */
	if ((rc = pragma(db, "PRAGMA temp_store=MEMORY", err)) != TRPT_OK)
		goto out;
	if ((rc = pragma(db, "PRAGMA wal_autocheckpoint=4000", err)) != TRPT_OK)
		goto out;
	if ((rc = trpt_migrate_apply(db->h, -1, err)) != TRPT_OK)
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
	src = sqlite3_exec(db->h, sql, NULL, NULL, NULL);
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
	src = sqlite3_prepare_v2(db->h,
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
	return sqlite3_db_readonly(db->h, "main") == 1;
}

void
trpt_db_close(struct trpt_db **dbp)
{
	struct trpt_db *db;
	size_t i;

	if (dbp == NULL || *dbp == NULL)
		return;
	db = *dbp;
	for (i = 0; i < TRPT_STMT_COUNT_; i++)
		sqlite3_finalize(db->stmts[i]);
	/* Statements are all finalized, so close cannot report SQLITE_BUSY. */
	sqlite3_close(db->h);
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

sqlite3 *
trpt_db_handle(struct trpt_db *db)
{
	return db->h;
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
	if (ms > 0)
		sqlite3_busy_handler(db->h, busy_wait, db);
	else
		sqlite3_busy_handler(db->h, NULL, NULL);
}

int
trpt_db_stmt(struct trpt_db *db, enum trpt_db_stmt_id id, const char *sql,
    sqlite3_stmt **out, struct trpt_err *err)
{
	sqlite3_stmt *st;
	int src;

	if ((unsigned)id >= TRPT_STMT_COUNT_)
		return trpt_err_set(err, TRPT_EINVAL,
		    "database %s: no statement slot %d", db->path, (int)id);
	st = db->stmts[id];
	if (st == NULL) {
		src = sqlite3_prepare_v3(
		    db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (src != SQLITE_OK)
			return trpt_db_error(
			    db, src, "preparing a statement", err);
		db->stmts[id] = st;
	}
	assert(strcmp(sqlite3_sql(st), sql) == 0); /* one slot, one statement */
	*out = st;
	return TRPT_OK;
}

void
trpt_db_stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int
trpt_db_step_done(struct trpt_db *db, sqlite3_stmt *st, const char *what,
    struct trpt_err *err)
{
	int src, tries = 0, rc;

	for (;;) {
		src = sqlite3_step(st);
		if (src != SQLITE_BUSY_RECOVERY || ++tries >= BUSY_RETRIES)
			break;
		sqlite3_reset(st);
		sqlite3_sleep(BUSY_RETRY_MS);
	}
	if (src == SQLITE_DONE)
		rc = TRPT_OK;
	else if (src == SQLITE_ROW)
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: %s: unexpected result row", db->path, what);
	else
		rc = trpt_db_error(db, src, what, err);
	trpt_db_stmt_done(st);
	return rc;
}

static int
control(struct trpt_db *db, enum trpt_db_stmt_id id, const char *sql,
    struct trpt_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = trpt_db_stmt(db, id, sql, &st, err)) != TRPT_OK)
		return rc;
	return trpt_db_step_done(db, st, sql, err);
}

int
trpt_db_begin(struct trpt_db *db, struct trpt_err *err)
{
	return control(db, TRPT_STMT_BEGIN, "BEGIN IMMEDIATE", err);
}

int
trpt_db_commit(struct trpt_db *db, struct trpt_err *err)
{
	int rc;

	rc = control(db, TRPT_STMT_COMMIT, "COMMIT", err);
	if (rc != TRPT_OK)
		trpt_db_rollback(db);
	return rc;
}

void
trpt_db_rollback(struct trpt_db *db)
{
	/* SQLite may already have rolled back (after SQLITE_FULL, IOERR,
	 * BUSY or NOMEM); a second ROLLBACK would only fail. */
	if (sqlite3_get_autocommit(db->h))
		return;
	control(db, TRPT_STMT_ROLLBACK, "ROLLBACK", NULL);
}

int
trpt_db_in_transaction(struct trpt_db *db)
{
	return !sqlite3_get_autocommit(db->h);
}
