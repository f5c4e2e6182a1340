#include "schema/livecheck.h"

#include <stddef.h>

#include <sqlite3.h>

int
trpt_livecheck_add(struct trpt_db *db, const struct trpt_livecheck_row *r,
    struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	int src;

	src = sqlite3_prepare_v2(trpt_db_handle(db),
	    "INSERT INTO live_checks (domain, mx, checked_at, result_type, "
	    "detail) VALUES (?1, ?2, ?3, ?4, ?5)",
	    -1, &st, NULL);
	if (src != SQLITE_OK)
		return trpt_db_error(db, src, "storing a live check", err);
	sqlite3_bind_text(st, 1, r->domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->mx, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, r->checked_at);
	sqlite3_bind_text(st, 4, r->result_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->detail, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	if (src != SQLITE_DONE)
		return trpt_db_error(db, src, "storing a live check", err);
	return TRPT_OK;
}

int
trpt_livecheck_latest(struct trpt_db *db, const char *domain, int64_t since,
    int max, int (*fn)(void *arg, const struct trpt_livecheck_row *r),
    void *arg, struct trpt_err *err)
{
	struct trpt_livecheck_row r;
	sqlite3_stmt *st = NULL;
	int src, rc = TRPT_OK;

	src = sqlite3_prepare_v2(trpt_db_handle(db),
	    "SELECT l.mx, l.checked_at, l.result_type, l.detail FROM "
	    "live_checks l WHERE l.domain = ?1 AND l.checked_at >= ?2 AND "
	    "l.checked_at = (SELECT max(m.checked_at) FROM live_checks m "
	    "WHERE m.domain = l.domain AND m.mx = l.mx) ORDER BY l.mx, l.id "
	    "LIMIT ?3",
	    -1, &st, NULL);
	if (src != SQLITE_OK)
		return trpt_db_error(db, src, "reading live checks", err);
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int(st, 3, max);
	r.domain = domain;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		r.mx = (const char *)sqlite3_column_text(st, 0);
		r.checked_at = sqlite3_column_int64(st, 1);
		r.result_type = (const char *)sqlite3_column_text(st, 2);
		r.detail = (const char *)sqlite3_column_text(st, 3);
		if (r.mx == NULL || r.result_type == NULL || r.detail == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			break;
		}
		if ((rc = fn(arg, &r)) != TRPT_OK)
			break;
	}
	if (rc == TRPT_OK && src != SQLITE_DONE)
		rc = trpt_db_error(db, src, "reading live checks", err);
	sqlite3_finalize(st);
	return rc;
}
