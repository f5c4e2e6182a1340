/*
 * The SQLite driver: a file opened in WAL mode with a busy handler, or a
 * read-only file (immutable when its directory cannot hold the WAL index).
 */

#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/sql.h"
#include "schema/sql_impl.h"
#include "schema/walbuf.h"
#include "schema/weeks.h"

/*
 * The busy handler (busy_wait) waits for locks held by other connections;
 * once it gives up, the database is busy and the caller gets TRPT_ETEMP.
 * Only SQLITE_BUSY_RECOVERY, returned without waiting while another
 * connection recovers the WAL, is worth retrying here: a few times, with
 * a pause.
 */
#define BUSY_RETRIES  5
#define BUSY_RETRY_MS 50

struct lite {
	sqlite3 *h;
	int64_t busy_start_ms; /* when the current wait began */
};

struct lite_stmt {
	struct trpt_stmt base;
	sqlite3_stmt *h;
};

static struct lite *
lite(const struct trpt_db *db)
{
	return db->conn;
}

static sqlite3_stmt *
handle(struct trpt_stmt *st)
{
	return ((struct lite_stmt *)st)->h;
}

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
		lite(db)->busy_start_ms = now;
	if (now - lite(db)->busy_start_ms >= db->busy_ms)
		return 0;
	sqlite3_sleep(1);
	return 1;
}

/*
 * The one mapping of SQLite's result codes: busy and locked are
 * temporary (TRPT_ETEMP), out of memory TRPT_ENOMEM, anything else
 * TRPT_EDB.
 */
static int
lite_rc(int src)
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

/*
 * Sets err from the state of the connection after the result code src:
 * "database PATH: WHAT: sqlite message".  Returns the code (lite_rc).
 */
static int
lite_error(struct trpt_db *db, int src, const char *what, struct trpt_err *err)
{
	int code = lite_rc(src);
	const char *msg =
	    lite(db)->h ? sqlite3_errmsg(lite(db)->h) : sqlite3_errstr(src);

	if (code == TRPT_OK)
		code = TRPT_EDB;
	if (code == TRPT_ETEMP)
		return trpt_err_set(err, code,
		    "database %s: %s: database is busy (%s), try again later",
		    db->path, what, msg);
	return trpt_err_set(
	    err, code, "database %s: %s: %s", db->path, what, msg);
}

static int
sql_error(struct trpt_db *db, int src, const char *sql, struct trpt_err *err)
{
	char what[64];

	return lite_error(db, src, trpt_sql_what(sql, what, sizeof(what)), err);
}

/* Runs one pragma (outside any transaction) and discards what it returns. */
static int
pragma(struct trpt_db *db, const char *sql, struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	int src, tries = 0, rc;

	src = sqlite3_prepare_v2(lite(db)->h, sql, -1, &st, NULL);
	if (src != SQLITE_OK) {
		rc = lite_error(db, src, sql, err);
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
		rc = lite_error(db, src, sql, err);
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
 * SQLite's memory statistics (SQLITE_CONFIG_MEMSTATUS, on by default)
 * take a global mutex around every malloc and free it makes; nothing here
 * reads them (sqlite3_memory_used, soft heap limit).  Set once, before
 * SQLite initialises (the first open registers the WAL shim, which
 * initialises it); later calls of sqlite3_config would be refused.
 */
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void
config_sqlite(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/*
 * SQLITE_OPEN_NOMUTEX: SQLite's "multi-thread" mode, where a connection
 * takes no mutex of its own around each call (serialized mode, the
 * default, locks and unlocks one around every sqlite3_step, bind, column
 * and reset).  That is safe when no two threads use one connection at the
 * same time; a connection may still pass from thread to thread.  Every
 * place where a trpt_db crosses threads (read 2026-12-01):
 *  - ingest/pipeline.c parse ahead: the store thread uses p->db only while
 *    a->busy (set under a->mu with a bundle taken off the queue, or a due
 *    batch while the caller does not hold p); the caller's thread uses it
 *    only after async_drain (queue empty, !busy, held = 1) until its next
 *    input is queued.  The parse thread and trpt_pipeline_prepare (the
 *    receiver's libmicrohttpd threads) defer every store, quarantine and
 *    skip into the bundle (j->defer) and never touch the database.
 *  - ingest/imap_sync.c: with parse ahead, the socket thread's lease and
 *    state calls come after settle() (trpt_pipeline_flush: a drain);
 *    commit_uid runs in the batch, on whichever thread commits it.
 *  - ingest/receiver.c: the committer stores and commits under pipe_lock;
 *    trpt_receiver_lock/locked (collector/cmd_serve.c's RESTART, the
 *    daemon's sources and notifications) take the same lock.
 *  - collector/cmd_run.c: the daemon's connection is used under db_lock
 *    plus the receiver's lock (daemon_lock); each IMAP source opens its own
 *    (the pipeline rule above).  run_notify.c's scheduler takes daemon_lock.
 *  - collector/dashboard.c: one connection used by libmicrohttpd's single
 *    internal polling thread (no thread pool); cmd_serve.c's /metrics
 *    connection is used under its own lock, one scrape at a time.
 *  - schema/checkpoint.c: its own connection, used only by serve's
 *    checkpointer thread (opened before the thread starts, closed after it
 *    ends); the writer's RESTART runs under the receiver's lock.  The same
 *    for ingest's checkpoint thread (ingest/pipeline.c ckpt_main,
 *    TRPT_ASYNC_CHECKPOINT): opened by the thread that holds p, closed
 *    after the thread is joined.
 * Each hand-over goes through a pthread mutex, which also orders the
 * memory.  A new thread that uses a connection must keep to the rule.
 */
#define OPEN_MUTEX SQLITE_OPEN_NOMUTEX

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
	struct lite *l = lite(db);
	char *uri = NULL;
	size_t i, n;
	int src;

	pthread_once(&config_once, config_sqlite);
	/* The log's writes gathered into one a commit (schema/walbuf.h). */
	if ((src = trpt_walbuf_register(err)) != TRPT_OK)
		return src;
	src = sqlite3_open_v2(
	    db->path, &l->h, flags | OPEN_MUTEX, TRPT_WALBUF_VFS);
	if (src == SQLITE_OK && (flags & SQLITE_OPEN_READONLY)) {
		/* The first read shows whether the WAL index can be had. */
		src = sqlite3_exec(
		    l->h, "SELECT 1 FROM sqlite_schema", NULL, NULL, NULL);
		if ((src & 0xff) == SQLITE_CANTOPEN ||
		    (src & 0xff) == SQLITE_READONLY) {
			sqlite3_close(l->h);
			l->h = NULL;
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
			src = sqlite3_open_v2(uri, &l->h,
			    SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | OPEN_MUTEX,
			    NULL);
			free(uri);
		} else
			src = SQLITE_OK;
	}
	if (src != SQLITE_OK) {
		if (l->h == NULL)
			return trpt_err_set(err, TRPT_ENOMEM,
			    "database %s: out of memory opening it", db->path);
		return lite_error(db, src, "cannot open", err);
	}
	return TRPT_OK;
}

/*
 * trpt_sorted_list(x): the distinct values of x (NULLs left out) in byte
 * order with ", " between them, NULL when there are none: what
 * PostgreSQL's string_agg(DISTINCT x, ', ' ORDER BY x) gives on COLLATE
 * "C" text.  SQLite 3.40's group_concat joins them in the order it meets
 * them and takes no ORDER BY (3.44 does), so the same query listed the
 * same names in another order on each database.
 */
struct sorted_list {
	struct sl_item {
		char *s;
		size_t len;
	} * v;
	size_t n, cap;
	int oom;
};

static int
sl_cmp(const void *a, const void *b)
{
	const struct sl_item *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static void
sorted_list_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct sorted_list *a = sqlite3_aggregate_context(ctx, sizeof(*a));
	struct sl_item *nv;
	const unsigned char *s;
	size_t len, ncap;

	(void)argc;
	if (a == NULL || a->oom || sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	s = sqlite3_value_text(argv[0]);
	len = (size_t)sqlite3_value_bytes(argv[0]);
	if (s == NULL)
		goto nomem;
	if (a->n == a->cap) {
		ncap = a->cap == 0 ? 8 : 2 * a->cap;
		if ((nv = realloc(a->v, ncap * sizeof(*nv))) == NULL)
			goto nomem;
		a->v = nv;
		a->cap = ncap;
	}
	if ((a->v[a->n].s = malloc(len + 1)) == NULL)
		goto nomem;
	memcpy(a->v[a->n].s, s, len + 1);
	a->v[a->n++].len = len;
	return;
nomem:
	a->oom = 1;
}

static void
sorted_list_final(sqlite3_context *ctx)
{
	struct sorted_list *a = sqlite3_aggregate_context(ctx, 0);
	size_t i, n = 0, total = 0;
	char *out = NULL;

	if (a == NULL || a->n == 0) {
		sqlite3_result_null(ctx);
		goto out;
	}
	if (a->oom) {
		sqlite3_result_error_nomem(ctx);
		goto out;
	}
	qsort(a->v, a->n, sizeof(*a->v), sl_cmp);
	for (i = 0; i < a->n; i++)
		if (i == 0 || sl_cmp(&a->v[i - 1], &a->v[i]) != 0)
			total += a->v[i].len + 2;
	if (total - 2 > (size_t)sqlite3_limit(sqlite3_context_db_handle(ctx),
			    SQLITE_LIMIT_LENGTH, -1)) {
		sqlite3_result_error_toobig(ctx);
		goto out;
	}
	if ((out = malloc(total)) == NULL) {
		sqlite3_result_error_nomem(ctx);
		goto out;
	}
	for (i = 0; i < a->n; i++) {
		if (i > 0 && sl_cmp(&a->v[i - 1], &a->v[i]) == 0)
			continue;
		if (n > 0) {
			memcpy(out + n, ", ", 2);
			n += 2;
		}
		memcpy(out + n, a->v[i].s, a->v[i].len);
		n += a->v[i].len;
	}
	sqlite3_result_text(ctx, out, (int)n, free);
out:
	if (a != NULL) {
		for (i = 0; i < a->n; i++)
			free(a->v[i].s);
		free(a->v);
	}
}

static int
lite_read_only(struct trpt_db *db)
{
	return sqlite3_db_readonly(lite(db)->h, "main") == 1;
}

static void
lite_set_busy_timeout(struct trpt_db *db, int ms)
{
	if (ms > 0)
		sqlite3_busy_handler(lite(db)->h, busy_wait, db);
	else
		sqlite3_busy_handler(lite(db)->h, NULL, NULL);
}

static int
lite_open(struct trpt_db *db, int existing, struct trpt_err *err)
{
	struct stat sb;
	int rc;

	if (existing && !is_memory(db->path) && stat(db->path, &sb) != 0)
		return trpt_err_set(err,
		    errno == ENOENT ? TRPT_ENOTFOUND : TRPT_EIO,
		    "no database at %s: %s", db->path, strerror(errno));
	if ((db->conn = calloc(1, sizeof(struct lite))) == NULL)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "database %s: out of memory", db->path);
	if (!existing)
		rc = open_handle(
		    db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err);
	else if (access(db->path, W_OK) == 0)
		rc = open_handle(db, SQLITE_OPEN_READWRITE, err);
	else
		rc = open_handle(db, SQLITE_OPEN_READONLY, err);
	if (rc != TRPT_OK)
		return rc;
	sqlite3_extended_result_codes(lite(db)->h, 1);
	lite_set_busy_timeout(db, db->busy_ms);
	if (sqlite3_create_function_v2(lite(db)->h, "trpt_sorted_list", 1,
		SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL,
		sorted_list_step, sorted_list_final, NULL) != SQLITE_OK ||
	    trpt__weeks_register(lite(db)->h) != SQLITE_OK)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "database %s: out of memory", db->path);
	if (lite_read_only(db))
		return TRPT_OK; /* no journal mode to set */
	/* Pragmas that a transaction would silently ignore come first. */
	if (!is_memory(db->path) &&
	    (rc = pragma(db, "PRAGMA journal_mode=WAL", err)) != TRPT_OK)
		return rc;
	if ((rc = pragma(db, "PRAGMA synchronous=NORMAL", err)) != TRPT_OK)
		return rc;
	/* 16 MiB of page cache: a batch of reports stays in memory. */
	if ((rc = pragma(db, "PRAGMA cache_size=-16384", err)) != TRPT_OK)
		return rc;
	if ((rc = pragma(db, "PRAGMA foreign_keys=ON", err)) != TRPT_OK)
		return rc;
	/* The savepoint of each report in a batch keeps its undo pages in
	 * memory (one report's worth), not in a temporary file per batch. */
	if ((rc = pragma(db, "PRAGMA temp_store=MEMORY", err)) != TRPT_OK)
		return rc;
	return pragma(db, "PRAGMA wal_autocheckpoint=4000", err);
}

static void
lite_close(struct trpt_db *db)
{
	struct lite *l = lite(db);

	if (l == NULL)
		return;
	/* Statements are all finalized, so close cannot report SQLITE_BUSY. */
	sqlite3_close(l->h);
	free(l);
	db->conn = NULL;
}

static int
lite_prepare(struct trpt_db *db, const char *sql, int cached,
    struct trpt_stmt **out, struct trpt_err *err)
{
	struct lite_stmt *st;
	int src;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "database %s: out of memory", db->path);
	src = sqlite3_prepare_v3(lite(db)->h, sql, -1,
	    cached ? SQLITE_PREPARE_PERSISTENT : 0, &st->h, NULL);
	if (src != SQLITE_OK) {
		free(st);
		return sql_error(db, src, sql, err);
	}
	st->base.db = db;
	st->base.sql = sql;
	st->base.cached = cached;
	*out = &st->base;
	return TRPT_OK;
}

static void
lite_finalize(struct trpt_stmt *st)
{
	sqlite3_finalize(handle(st));
	free(st);
}

static void
lite_bind_int(struct trpt_stmt *st, int i, int64_t v)
{
	sqlite3_bind_int64(handle(st), i, v);
}

static void
lite_bind_double(struct trpt_stmt *st, int i, double v)
{
	sqlite3_bind_double(handle(st), i, v);
}

static void
lite_bind_text(struct trpt_stmt *st, int i, const char *s, size_t len)
{
	sqlite3_bind_text64(
	    handle(st), i, s, (sqlite3_uint64)len, SQLITE_STATIC, SQLITE_UTF8);
}

static void
lite_bind_blob(struct trpt_stmt *st, int i, const void *p, size_t len)
{
	/* A zero-length blob is a blob, not NULL. */
	sqlite3_bind_blob64(
	    handle(st), i, len ? p : "", (sqlite3_uint64)len, SQLITE_STATIC);
}

static void
lite_bind_null(struct trpt_stmt *st, int i)
{
	sqlite3_bind_null(handle(st), i);
}

static int
lite_step(struct trpt_stmt *st, struct trpt_err *err)
{
	int src, tries = 0;

	for (;;) {
		src = sqlite3_step(handle(st));
		if (src != SQLITE_BUSY_RECOVERY || ++tries >= BUSY_RETRIES)
			break;
		sqlite3_reset(handle(st));
		sqlite3_sleep(BUSY_RETRY_MS);
	}
	if (src == SQLITE_ROW)
		return 1;
	if (src == SQLITE_DONE)
		return 0;
	return sql_error(st->db, src, st->sql, err);
}

static void
lite_reset(struct trpt_stmt *st)
{
	sqlite3_reset(handle(st));
	sqlite3_clear_bindings(handle(st));
}

static int
lite_columns(struct trpt_stmt *st)
{
	return sqlite3_column_count(handle(st));
}

static int
lite_is_null(struct trpt_stmt *st, int col)
{
	return sqlite3_column_type(handle(st), col) == SQLITE_NULL;
}

static int64_t
lite_col_int(struct trpt_stmt *st, int col)
{
	return sqlite3_column_int64(handle(st), col);
}

static double
lite_col_double(struct trpt_stmt *st, int col)
{
	return sqlite3_column_double(handle(st), col);
}

static const char *
lite_col_text(struct trpt_stmt *st, int col, size_t *len)
{
	const char *s = (const char *)sqlite3_column_text(handle(st), col);

	if (len != NULL)
		*len = s ? (size_t)sqlite3_column_bytes(handle(st), col) : 0;
	return s;
}

static const void *
lite_col_blob(struct trpt_stmt *st, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(handle(st), col);

	*len = (size_t)sqlite3_column_bytes(handle(st), col);
	return p;
}

static int64_t
lite_changes(struct trpt_stmt *st)
{
	return sqlite3_changes64(lite(st->db)->h);
}

static int64_t
lite_last_insert_id(struct trpt_stmt *st)
{
	return sqlite3_last_insert_rowid(lite(st->db)->h);
}

static int
lite_exec(struct trpt_db *db, const char *sql, struct trpt_err *err)
{
	int src;

	src = sqlite3_exec(lite(db)->h, sql, NULL, NULL, NULL);
	return src == SQLITE_OK ? TRPT_OK : sql_error(db, src, sql, err);
}

/* Runs a transaction control statement, prepared once (cached). */
static int
control(struct trpt_db *db, const char *sql, struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return rc;
	return trpt_sql_run(st, err);
}

static int
lite_in_transaction(struct trpt_db *db)
{
	return !sqlite3_get_autocommit(lite(db)->h);
}

static int
lite_begin(struct trpt_db *db, struct trpt_err *err)
{
	return control(db, "BEGIN IMMEDIATE", err);
}

static void
lite_rollback(struct trpt_db *db)
{
	/* SQLite may already have rolled back (after SQLITE_FULL, IOERR,
	 * BUSY or NOMEM); a second ROLLBACK would only fail. */
	if (!lite_in_transaction(db))
		return;
	control(db, "ROLLBACK", NULL);
}

static int
lite_commit(struct trpt_db *db, struct trpt_err *err)
{
	int rc;

	rc = control(db, "COMMIT", err);
	if (rc != TRPT_OK)
		lite_rollback(db);
	return rc;
}

/*
 * One file of the connection's main database: the database file itself
 * (SQLITE_FCNTL_FILE_POINTER) or its log (SQLITE_FCNTL_JOURNAL_POINTER),
 * synced through SQLite's own handle (for the log, the VFS of
 * schema/walbuf.c, which writes out what it holds first).  A file SQLite
 * has not opened (no log yet) has no methods: nothing to sync.
 */
static int
sync_file(struct trpt_db *db, int op, const char *what, struct trpt_err *err)
{
	sqlite3_mutex *m = sqlite3_db_mutex(lite(db)->h);
	sqlite3_file *f = NULL;
	int src, rc;

	/* The connection's lock (NULL without one) keeps its files open
	 * while they sync. */
	sqlite3_mutex_enter(m);
	src = sqlite3_file_control(lite(db)->h, "main", op, &f);
	if (src == SQLITE_OK && f != NULL && f->pMethods != NULL)
		src = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
	sqlite3_mutex_leave(m);
	if (src == SQLITE_OK)
		return TRPT_OK;
	/* Not lite_error: a file method called directly leaves the
	 * connection's own message (sqlite3_errmsg) as it was. */
	if ((rc = lite_rc(src)) == TRPT_OK)
		rc = TRPT_EDB;
	return trpt_err_set(err, rc, "database %s: %s: %s", db->path, what,
	    sqlite3_errstr(src));
}

int
trpt_sql_sync_files(struct trpt_db *db, struct trpt_err *err)
{
	int rc;

	if (db->ops != &trpt_sql_sqlite_ops)
		return TRPT_OK;
	rc = sync_file(db, SQLITE_FCNTL_JOURNAL_POINTER, "sync log", err);
	if (rc == TRPT_OK)
		rc = sync_file(db, SQLITE_FCNTL_FILE_POINTER, "sync", err);
	return rc;
}

const struct trpt_sql_ops trpt_sql_sqlite_ops = {
	.dialect = TRPT_SQL_SQLITE,
	.open = lite_open,
	.close = lite_close,
	.read_only = lite_read_only,
	.set_busy_timeout = lite_set_busy_timeout,
	.prepare = lite_prepare,
	.finalize = lite_finalize,
	.bind_int = lite_bind_int,
	.bind_double = lite_bind_double,
	.bind_text = lite_bind_text,
	.bind_blob = lite_bind_blob,
	.bind_null = lite_bind_null,
	.step = lite_step,
	.reset = lite_reset,
	.columns = lite_columns,
	.is_null = lite_is_null,
	.col_int = lite_col_int,
	.col_double = lite_col_double,
	.col_text = lite_col_text,
	.col_blob = lite_col_blob,
	.changes = lite_changes,
	.last_insert_id = lite_last_insert_id,
	.exec = lite_exec,
	.begin = lite_begin,
	.commit = lite_commit,
	.rollback = lite_rollback,
	.in_transaction = lite_in_transaction,
};
