#include "schema/notify_state.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schema/sql.h"

static const char sql_sent[] =
    "SELECT 1 FROM notifications WHERE incident = ? AND event = ? AND"
    " channel = ?";
static const char sql_record[] =
    "INSERT INTO notifications (incident, event, channel, summary, sent_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
static const char sql_unclosed[] =
    "SELECT o.incident, o.summary FROM notifications o"
    " WHERE o.channel = ? AND o.event = 'open' AND NOT EXISTS"
    " (SELECT 1 FROM notifications c WHERE c.incident = o.incident"
    " AND c.channel = o.channel AND c.event = 'close')"
    " ORDER BY o.id";

int
trpt_notify_state_sent(struct trpt_db *db, const char *incident,
    const char *event, const char *channel, int *sent, struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql_sent, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, incident);
	trpt_sql_bind_text(st, 2, event);
	trpt_sql_bind_text(st, 3, channel);
	rc = trpt_sql_step(st, err);
	trpt_sql_reset(st);
	if (rc < 0)
		return rc;
	*sent = rc > 0;
	return TRPT_OK;
}

int
trpt_notify_state_record(struct trpt_db *db, const char *incident,
    const char *event, const char *channel, const char *summary,
    struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql_record, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, incident);
	trpt_sql_bind_text(st, 2, event);
	trpt_sql_bind_text(st, 3, channel);
	trpt_sql_bind_text(st, 4, summary);
	trpt_sql_bind_int(st, 5, (int64_t)time(NULL));
	return trpt_sql_run(st, err);
}

int
trpt_notify_state_unclosed(struct trpt_db *db, const char *channel,
    int (*fn)(void *arg, const char *incident, const char *summary), void *arg,
    struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	const char *i, *s;
	char *inc = NULL, *sum = NULL;
	int r, rc = TRPT_OK;

	/* Its own statement: fn may write to the table meanwhile. */
	if ((rc = trpt_sql_prepare(db, sql_unclosed, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, channel);
	while ((r = trpt_sql_step(st, err)) > 0) {
		i = trpt_sql_text(st, 0);
		s = trpt_sql_text(st, 1);
		inc = strdup(i != NULL ? i : "");
		sum = strdup(s != NULL ? s : "");
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
	if (rc == TRPT_OK && r < 0)
		rc = r;
	free(inc);
	free(sum);
	trpt_sql_finalize(&st);
	return rc;
}
