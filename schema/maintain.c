#include "schema/maintain.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/calendar.h"
#include "schema/sql.h"

/*
 * SQLite's VACUUM INTO writes a consistent, compacted copy from a read
 * transaction (writers go on meanwhile, WAL mode).  Through the driver
 * like any statement; PostgreSQL has pg_dump for this.
 */
int
trpt_maintain_backup(struct trpt_db *db, const char *path, struct trpt_err *err)
{
	char tmp[4096];
	struct stat st;
	struct trpt_stmt *s = NULL;
	int rc;

	if (trpt_sql_dialect(db) != TRPT_SQL_SQLITE)
		return trpt_err_set(err, TRPT_EINVAL,
		    "backup %s: for a PostgreSQL database use pg_dump", path);
	if (lstat(path, &st) == 0)
		return trpt_err_set(
		    err, TRPT_EINVAL, "backup %s: the file exists", path);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
		(long)getpid()) >= sizeof(tmp))
		return trpt_err_set(
		    err, TRPT_EINVAL, "backup %s: path too long", path);
	unlink(tmp);
	if ((rc = trpt_sql_prepare(db, "VACUUM INTO ?", &s, err)) == TRPT_OK) {
		trpt_sql_bind_text(s, 1, tmp);
		rc = trpt_sql_run(s, err);
		trpt_sql_finalize(&s);
	}
	if (rc != TRPT_OK) {
		trpt_err_prefix(err, "backup %s", path);
		goto out;
	}
	/* As private as the data it holds. */
	if (chmod(tmp, 0600) != 0 || rename(tmp, path) != 0) {
		rc = trpt_err_set(
		    err, TRPT_EIO, "backup %s: %s", path, strerror(errno));
		goto out;
	}
	return TRPT_OK;
out:
	unlink(tmp);
	return rc;
}

/* Runs sql with one integer parameter bound everywhere it appears. */
static int
exec_count(struct trpt_db *db, const char *sql, int64_t arg, int64_t *changes,
    struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int i, n, rc;

	if ((rc = trpt_sql_prepare(db, sql, &st, err)) != TRPT_OK)
		return rc;
	for (i = 0, n = 0; sql[i] != '\0'; i++)
		if (sql[i] == '?')
			trpt_sql_bind_int(st, ++n, arg);
	if ((rc = trpt_sql_run(st, err)) == TRPT_OK && changes != NULL)
		*changes = trpt_sql_changes(st);
	trpt_sql_finalize(&st);
	if (rc != TRPT_OK)
		trpt_err_prefix(err, "prune");
	return rc;
}

/*
 * The children of the reports go first, by name: the ingest path runs
 * without SQLite's foreign-key actions (schema/db.c), so no cascade is
 * relied on.  The rollups keep counting what was pruned.
 */
static const char *const sql_prune_reports[] = {
	"DELETE FROM failures WHERE policy IN (SELECT p.id FROM policies p"
	" CROSS JOIN reports r WHERE r.id = p.report AND r.day < ?)",
	"DELETE FROM policies WHERE report IN (SELECT id FROM reports WHERE"
	" day < ?)",
	"DELETE FROM warnings WHERE report IN (SELECT id FROM reports WHERE"
	" day < ?)",
};

int
trpt_maintain_prune(struct trpt_db *db, int64_t before, int reports,
    struct trpt_prune_counts *out, struct trpt_err *err)
{
	struct trpt_prune_counts c;
	struct trpt_stmt *st = NULL;
	int64_t day;
	size_t i;
	int rc;

	memset(&c, 0, sizeof(c));
	if ((rc = trpt_db_begin(db, err)) != TRPT_OK)
		return rc;
	if (reports) {
		day = trpt_calendar_day(before);
		for (i = 0; i < sizeof(sql_prune_reports) /
				    sizeof(sql_prune_reports[0]);
		     i++)
			if ((rc = exec_count(db, sql_prune_reports[i], day,
				 NULL, err)) != TRPT_OK)
				goto fail;
		if ((rc = exec_count(db, "DELETE FROM reports WHERE day < ?",
			 day, &c.reports_deleted, err)) != TRPT_OK)
			goto fail;
		/* Every raw input came with a report: those left without
		 * one are the pruned reports' (NOT IN: one pass over the
		 * reports, no index on raw_id needed). */
		if (c.reports_deleted > 0 &&
		    (rc = exec_count(db,
			 "DELETE FROM raw_inputs WHERE id NOT IN (SELECT"
			 " raw_id FROM reports)",
			 0, &c.raw_deleted, err)) != TRPT_OK)
			goto fail;
	}
	if ((rc = trpt_sql_prepare(db,
		 "UPDATE raw_inputs SET bytes = ? WHERE received_at < ? AND"
		 " length(bytes) > 0",
		 &st, err)) != TRPT_OK)
		goto fail;
	trpt_sql_bind_blob(st, 1, "", 0);
	trpt_sql_bind_int(st, 2, before);
	if ((rc = trpt_sql_run(st, err)) == TRPT_OK)
		c.raw_emptied = trpt_sql_changes(st);
	trpt_sql_finalize(&st);
	if (rc != TRPT_OK)
		goto fail;
	if ((rc = trpt_db_commit(db, err)) != TRPT_OK)
		return rc;
	/* SQLite gives the space back only when asked. */
	if (c.raw_emptied + c.reports_deleted + c.raw_deleted > 0 &&
	    trpt_sql_dialect(db) == TRPT_SQL_SQLITE &&
	    (rc = trpt_sql_exec(db, "VACUUM", err)) != TRPT_OK)
		return rc;
	*out = c;
	return TRPT_OK;
fail:
	trpt_db_rollback(db);
	return rc;
}

int
trpt_maintain_warnings_each(struct trpt_db *db, int64_t since,
    int (*fn)(void *arg, const struct trpt_warning_row *w), void *arg,
    struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	struct trpt_warning_row w;
	int r, rc;

	if ((rc = trpt_sql_prepare(db,
		 "SELECT r.id, r.organization_name, r.report_id, r.begin_ts,"
		 " w.message FROM warnings w JOIN reports r ON r.id = w.report"
		 " WHERE r.begin_ts >= ? ORDER BY r.begin_ts, r.id, w.id",
		 &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, since);
	while ((r = trpt_sql_step(st, err)) > 0) {
		w.report_rowid = trpt_sql_int(st, 0);
		w.org = trpt_sql_text(st, 1);
		w.report_id = trpt_sql_text(st, 2);
		w.begin = trpt_sql_int(st, 3);
		w.message = trpt_sql_text(st, 4);
		if (w.org == NULL || w.report_id == NULL || w.message == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			break;
		}
		if ((rc = fn(arg, &w)) != TRPT_OK)
			break;
	}
	if (rc == TRPT_OK && r < 0)
		rc = r;
	trpt_sql_finalize(&st);
	return rc;
}
