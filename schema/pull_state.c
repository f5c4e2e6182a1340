#include "schema/pull_state.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schema/sql.h"

static char *
dup_col(struct trpt_stmt *st, int i)
{
	const char *s = trpt_sql_text(st, i);

	return s == NULL ? NULL : strdup(s);
}

int
trpt_pull_state_get(struct trpt_db *db, const char *source, const char *url,
    struct trpt_pull_state *out, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = trpt_sql_prepare(db,
	    "SELECT etag, last_modified FROM http_state"
	    " WHERE source = ? AND url = ?",
	    &st, err);
	if (rc != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, source);
	trpt_sql_bind_text(st, 2, url);
	if ((rc = trpt_sql_step(st, err)) == 1) {
		out->etag = dup_col(st, 0);
		out->last_modified = dup_col(st, 1);
	}
	trpt_sql_finalize(&st);
	return rc < 0 ? rc : TRPT_OK;
}

void
trpt_pull_state_clear(struct trpt_pull_state *st)
{
	free(st->etag);
	free(st->last_modified);
	st->etag = st->last_modified = NULL;
}

int
trpt_pull_state_put(struct trpt_db *db, const char *source, const char *url,
    long status, int save_validators, const char *etag,
    const char *last_modified, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	rc = trpt_sql_prepare(db,
	    "INSERT INTO http_state"
	    " (source, url, etag, last_modified, last_status, fetched_at)"
	    " VALUES (?, ?, ?, ?, ?, ?)"
	    " ON CONFLICT (source, url) DO UPDATE SET"
	    " etag = CASE WHEN ? = 1 THEN excluded.etag ELSE http_state.etag"
	    " END,"
	    " last_modified = CASE WHEN ? = 1 THEN excluded.last_modified"
	    " ELSE http_state.last_modified END,"
	    " last_status = excluded.last_status,"
	    " fetched_at = excluded.fetched_at",
	    &st, err);
	if (rc != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, source);
	trpt_sql_bind_text(st, 2, url);
	trpt_sql_bind_text(st, 3, save_validators ? etag : NULL);
	trpt_sql_bind_text(st, 4, save_validators ? last_modified : NULL);
	trpt_sql_bind_int(st, 5, status);
	trpt_sql_bind_int(st, 6, (int64_t)time(NULL));
	trpt_sql_bind_int(st, 7, save_validators != 0);
	trpt_sql_bind_int(st, 8, save_validators != 0);
	rc = trpt_sql_run(st, err);
	trpt_sql_finalize(&st);
	return rc;
}
