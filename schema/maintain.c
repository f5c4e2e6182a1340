#include "schema/maintain.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/calendar.h"

int
trpt_maintain_backup(struct trpt_db *db, const char *path, struct trpt_err *err)
{
	char tmp[4096];
	struct stat st;
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int r, rc;

	if (lstat(path, &st) == 0)
		return trpt_err_set(
		    err, TRPT_EINVAL, "backup %s: the file exists", path);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
		(long)getpid()) >= sizeof(tmp))
		return trpt_err_set(
		    err, TRPT_EINVAL, "backup %s: path too long", path);
	r = sqlite3_open_v2(tmp, &dst,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE,
	    NULL);
	if (r != SQLITE_OK) {
		rc = trpt_err_set(err, TRPT_EIO, "backup %s: %s", tmp,
		    dst != NULL ? sqlite3_errmsg(dst) : sqlite3_errstr(r));
		goto out;
	}
	b = sqlite3_backup_init(dst, "main", trpt_db_handle(db), "main");
	if (b == NULL) {
		rc = trpt_err_set(
		    err, TRPT_EIO, "backup %s: %s", path, sqlite3_errmsg(dst));
		goto out;
	}
	/* A few hundred pages a step; a busy source is waited for. */
	do {
		r = sqlite3_backup_step(b, 256);
		if (r == SQLITE_BUSY || r == SQLITE_LOCKED)
			sqlite3_sleep(20);
	} while (r == SQLITE_OK || r == SQLITE_BUSY || r == SQLITE_LOCKED);
	sqlite3_backup_finish(b);
	if (r != SQLITE_DONE) {
		rc = trpt_err_set(
		    err, TRPT_EIO, "backup %s: %s", path, sqlite3_errstr(r));
		goto out;
	}
	r = sqlite3_close(dst);
	dst = NULL;
	/* As private as the data it holds. */
	if (r == SQLITE_OK && chmod(tmp, 0600) != 0)
		r = SQLITE_CANTOPEN;
	if (r != SQLITE_OK || rename(tmp, path) != 0) {
		rc = trpt_err_set(err, TRPT_EIO, "backup %s: %s", path,
		    r != SQLITE_OK ? sqlite3_errstr(r) : strerror(errno));
		goto out;
	}
	return TRPT_OK;
out:
	sqlite3_close(dst);
	unlink(tmp);
	return rc;
}

static int
exec_count(struct trpt_db *db, const char *sql, int64_t arg, int64_t *changes,
    struct trpt_err *err)
{
	sqlite3 *h = trpt_db_handle(db);
	sqlite3_stmt *st = NULL;
	int r, rc = TRPT_OK;

	r = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
	if (r == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, arg);
		r = sqlite3_step(st);
	}
	if (r != SQLITE_DONE)
		rc = trpt_db_error(db, r, "prune", err);
	else if (changes != NULL)
		*changes = sqlite3_changes64(h);
	sqlite3_finalize(st);
	return rc;
}

int
trpt_maintain_prune(struct trpt_db *db, int64_t before, int reports,
    struct trpt_prune_counts *out, struct trpt_err *err)
{
	struct trpt_prune_counts c;
	sqlite3 *h = trpt_db_handle(db);
	int rc;

	memset(&c, 0, sizeof(c));
	if ((rc = trpt_db_begin(db, err)) != TRPT_OK)
		return rc;
	if (reports) {
		int64_t behind = 0, day;

		/* The rollups must hold every report (the caller refreshed
		 * them): then the deletion keeps them as they are.  The
		 * trigger's dirty flag is put back, and last_report is
		 * lowered to the highest id left, so that ids reused after
		 * it are rolled up and the refresh does not take the lower
		 * maximum for a replaced database. */
		if ((rc = exec_count(db,
			 "UPDATE rollup_state SET dirty = dirty WHERE id = ?1 "
			 "AND dirty = 0 AND last_report = "
			 "(SELECT coalesce(max(id), 0) FROM reports)",
			 1, &behind, err)) != TRPT_OK)
			goto fail;
		if (behind != 1) {
			rc = trpt_err_set(err, TRPT_ETEMP,
			    "the rollups are not up to date (a writer is "
			    "busy); run again");
			goto fail;
		}
		day = trpt_calendar_day(before);
		if ((rc = exec_count(db,
			 "CREATE TEMP TABLE prune_raw AS SELECT DISTINCT "
			 "raw_id AS id FROM reports WHERE day < ?1",
			 day, NULL, err)) != TRPT_OK ||
		    (rc = exec_count(db, "DELETE FROM reports WHERE day < ?1",
			 day, &c.reports_deleted, err)) != TRPT_OK ||
		    (rc = exec_count(db,
			 "UPDATE rollup_state SET dirty = 0, last_report = "
			 "(SELECT coalesce(max(id), 0) FROM reports) "
			 "WHERE id = ?1",
			 1, NULL, err)) != TRPT_OK ||
		    (rc = exec_count(db,
			 "DELETE FROM raw_inputs WHERE id IN "
			 "(SELECT id FROM temp.prune_raw) AND NOT EXISTS "
			 "(SELECT 1 FROM reports r WHERE r.raw_id = "
			 "raw_inputs.id) AND ?1 = ?1",
			 0, &c.raw_deleted, err)) != TRPT_OK ||
		    (rc = exec_count(db, "DROP TABLE temp.prune_raw", 0, NULL,
			 err)) != TRPT_OK)
			goto fail;
	}
	if ((rc = exec_count(db,
		 "UPDATE raw_inputs SET bytes = X'' WHERE received_at < ?1 "
		 "AND length(bytes) > 0",
		 before, &c.raw_emptied, err)) != TRPT_OK)
		goto fail;
	if ((rc = trpt_db_commit(db, err)) != TRPT_OK)
		return rc;
	if (c.raw_emptied + c.reports_deleted + c.raw_deleted > 0 &&
	    sqlite3_exec(h, "VACUUM", NULL, NULL, NULL) != SQLITE_OK)
		return trpt_db_error(db, sqlite3_errcode(h), "VACUUM", err);
	*out = c;
	return TRPT_OK;
fail:
	trpt_db_rollback(db);
	sqlite3_exec(
	    h, "DROP TABLE IF EXISTS temp.prune_raw", NULL, NULL, NULL);
	return rc;
}

int
trpt_maintain_warnings_each(struct trpt_db *db, int64_t since,
    int (*fn)(void *arg, const struct trpt_warning_row *w), void *arg,
    struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	struct trpt_warning_row w;
	int r, rc = TRPT_OK;

	r = sqlite3_prepare_v2(trpt_db_handle(db),
	    "SELECT r.id, r.organization_name, r.report_id, r.begin_ts, "
	    "w.message FROM warnings w JOIN reports r ON r.id = w.report "
	    "WHERE r.begin_ts >= ?1 ORDER BY r.begin_ts, r.id, w.id",
	    -1, &st, NULL);
	if (r != SQLITE_OK)
		return trpt_db_error(db, r, "warnings", err);
	sqlite3_bind_int64(st, 1, since);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		w.report_rowid = sqlite3_column_int64(st, 0);
		w.org = (const char *)sqlite3_column_text(st, 1);
		w.report_id = (const char *)sqlite3_column_text(st, 2);
		w.begin = sqlite3_column_int64(st, 3);
		w.message = (const char *)sqlite3_column_text(st, 4);
		if (w.org == NULL || w.report_id == NULL || w.message == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			break;
		}
		if ((rc = fn(arg, &w)) != TRPT_OK)
			break;
	}
	if (rc == TRPT_OK && r != SQLITE_DONE)
		rc = trpt_db_error(db, r, "warnings", err);
	sqlite3_finalize(st);
	return rc;
}
