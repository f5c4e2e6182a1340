#include "schema/livecheck.h"

#include <stddef.h>

#include "schema/sql.h"

int
trpt_livecheck_add(struct trpt_db *db, const struct trpt_livecheck_row *r,
    struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	if ((rc = trpt_sql_prepare(db,
		 "INSERT INTO live_checks (domain, mx, checked_at,"
		 " result_type, detail) VALUES (?, ?, ?, ?, ?)",
		 &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, r->domain);
	trpt_sql_bind_text(st, 2, r->mx);
	trpt_sql_bind_int(st, 3, r->checked_at);
	trpt_sql_bind_text(st, 4, r->result_type);
	trpt_sql_bind_text(st, 5, r->detail);
	rc = trpt_sql_run(st, err);
	trpt_sql_finalize(&st);
	return rc;
}

int
trpt_livecheck_latest(struct trpt_db *db, const char *domain, int64_t since,
    int max, int (*fn)(void *arg, const struct trpt_livecheck_row *r),
    void *arg, struct trpt_err *err)
{
	struct trpt_livecheck_row r;
	struct trpt_stmt *st = NULL;
	int s, rc;

	if ((rc = trpt_sql_prepare(db,
		 "SELECT l.mx, l.checked_at, l.result_type, l.detail FROM"
		 " live_checks l WHERE l.domain = ? AND l.checked_at >= ? AND"
		 " l.checked_at = (SELECT max(m.checked_at) FROM live_checks m"
		 " WHERE m.domain = l.domain AND m.mx = l.mx)"
		 " ORDER BY l.mx, l.id LIMIT ?",
		 &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, domain);
	trpt_sql_bind_int(st, 2, since);
	trpt_sql_bind_int(st, 3, max);
	r.domain = domain;
	while ((s = trpt_sql_step(st, err)) > 0) {
		r.mx = trpt_sql_text(st, 0);
		r.checked_at = trpt_sql_int(st, 1);
		r.result_type = trpt_sql_text(st, 2);
		r.detail = trpt_sql_text(st, 3);
		if (r.mx == NULL || r.result_type == NULL || r.detail == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			break;
		}
		if ((rc = fn(arg, &r)) != TRPT_OK)
			break;
	}
	if (rc == TRPT_OK && s < 0)
		rc = s;
	trpt_sql_finalize(&st);
	return rc;
}
