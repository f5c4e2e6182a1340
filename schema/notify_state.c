#include "schema/notify_state.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

int
trpt_notify_state_sent(struct trpt_db *db, const char *incident,
    const char *event, const char *channel, int *sent, struct trpt_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	if ((rc = trpt_db_stmt(db, TRPT_STMT_NOTIFY_SENT,
		 "SELECT 1 FROM notifications WHERE incident = ?1 AND "
		 "event = ?2 AND channel = ?3",
		 &st, err)) != TRPT_OK)
		return rc;
	sqlite3_bind_text(st, 1, incident, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, channel, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW || r == SQLITE_DONE) {
		*sent = r == SQLITE_ROW;
		rc = TRPT_OK;
	} else
		rc = trpt_db_error(db, r, "notifications", err);
	trpt_db_stmt_done(st);
	return rc;
}

int
trpt_notify_state_record(struct trpt_db *db, const char *incident,
    const char *event, const char *channel, const char *summary,
    struct trpt_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = trpt_db_stmt(db, TRPT_STMT_NOTIFY_RECORD,
		 "INSERT INTO notifications (incident, event, channel, "
		 "summary, sent_at) VALUES (?1, ?2, ?3, ?4, ?5) "
		 "ON CONFLICT DO NOTHING",
		 &st, err)) != TRPT_OK)
		return rc;
	sqlite3_bind_text(st, 1, incident, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, summary, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	return trpt_db_step_done(db, st, "notifications", err);
}

int
trpt_notify_state_unclosed(struct trpt_db *db, const char *channel,
    int (*fn)(void *arg, const char *incident, const char *summary), void *arg,
    struct trpt_err *err)
{
	sqlite3 *h = trpt_db_handle(db);
	sqlite3_stmt *st = NULL;
	char *inc = NULL, *sum = NULL;
	int r, rc = TRPT_OK;

	r = sqlite3_prepare_v2(h,
	    "SELECT o.incident, o.summary FROM notifications o "
	    "WHERE o.channel = ?1 AND o.event = 'open' AND NOT EXISTS "
	    "(SELECT 1 FROM notifications c WHERE c.incident = o.incident "
	    "AND c.channel = o.channel AND c.event = 'close') "
	    "ORDER BY o.id",
	    -1, &st, NULL);
	if (r != SQLITE_OK)
		return trpt_db_error(db, r, "notifications", err);
	sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		/* Copies: fn may write to the table. */
		inc = strdup((const char *)sqlite3_column_text(st, 0));
		sum = strdup((const char *)sqlite3_column_text(st, 1));
		if (inc == NULL || sum == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			break;
		}
		rc = fn(arg, inc, sum);
		free(inc);
		free(sum);
		inc = sum = NULL;
		if (rc != TRPT_OK)
			break;
	}
	if (rc == TRPT_OK && r != SQLITE_DONE)
		rc = trpt_db_error(db, r, "notifications", err);
	free(inc);
	free(sum);
	sqlite3_finalize(st);
	return rc;
}
