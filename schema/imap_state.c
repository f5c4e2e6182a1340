#include "schema/imap_state.h"

#include <stdio.h>
#include <time.h>

#include "schema/sql.h"

int
trpt_imap_state_get(struct trpt_db *db, const char *source, const char *mailbox,
    int *found, uint32_t *uidvalidity, uint32_t *last_uid, struct trpt_err *err)
{
	static const char sql[] =
	    "SELECT uidvalidity, last_uid FROM imap_state "
	    "WHERE source = ? AND mailbox = ?";
	struct trpt_stmt *st;
	int r;

	if ((r = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return r;
	trpt_sql_bind_text(st, 1, source);
	trpt_sql_bind_text(st, 2, mailbox);
	r = trpt_sql_step(st, err);
	if (r == 1) {
		*found = 1;
		*uidvalidity = (uint32_t)trpt_sql_int(st, 0);
		*last_uid = (uint32_t)trpt_sql_int(st, 1);
	} else if (r == 0)
		*found = 0;
	trpt_sql_reset(st);
	return r < 0 ? r : TRPT_OK;
}

int
trpt_imap_state_put(struct trpt_db *db, const char *source, const char *mailbox,
    uint32_t uidvalidity, uint32_t last_uid, struct trpt_err *err)
{
	static const char sql[] =
	    "INSERT INTO imap_state (source, mailbox, uidvalidity, "
	    "last_uid, updated_at) VALUES (?, ?, ?, ?, ?) "
	    "ON CONFLICT (source, mailbox) DO UPDATE SET "
	    "uidvalidity = excluded.uidvalidity, "
	    "last_uid = excluded.last_uid, "
	    "updated_at = excluded.updated_at";
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, source);
	trpt_sql_bind_text(st, 2, mailbox);
	trpt_sql_bind_int(st, 3, uidvalidity);
	trpt_sql_bind_int(st, 4, last_uid);
	trpt_sql_bind_int(st, 5, (int64_t)time(NULL));
	return trpt_sql_run(st, err);
}

/* Who holds the lease of source now. */
static int
lease_owner(struct trpt_db *db, const char *source,
    struct trpt_imap_lease_owner *owner, struct trpt_err *err)
{
	static const char sql[] =
	    "SELECT holder, expires_at FROM imap_lease WHERE source = ?";
	struct trpt_stmt *st;
	int r;

	if ((r = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return r;
	trpt_sql_bind_text(st, 1, source);
	r = trpt_sql_step(st, err);
	owner->holder[0] = '\0';
	owner->expires_at = 0;
	if (r == 1) {
		const char *h = trpt_sql_text(st, 0);

		snprintf(owner->holder, sizeof(owner->holder), "%s",
		    h != NULL ? h : "");
		owner->expires_at = trpt_sql_int(st, 1);
	}
	trpt_sql_reset(st);
	return r < 0 ? r : TRPT_OK;
}

int
trpt_imap_lease_take(struct trpt_db *db, const char *source, const char *holder,
    int64_t now, int64_t expires_at, const char *stale, int *taken,
    struct trpt_imap_lease_owner *owner, struct trpt_err *err)
{
	/* Insert, or take over the row only where it may be taken: the
	 * condition is checked on the row as it is when the statement runs
	 * (under SQLite's write lock, or PostgreSQL's row lock), so of two
	 * fetchers asking at once one gets it and the other changes
	 * nothing. */
	static const char sql[] =
	    "INSERT INTO imap_lease (source, holder, expires_at) "
	    "VALUES (?, ?, ?) "
	    "ON CONFLICT (source) DO UPDATE SET "
	    "holder = excluded.holder, expires_at = excluded.expires_at "
	    "WHERE imap_lease.holder = excluded.holder "
	    "OR imap_lease.expires_at <= ? OR imap_lease.holder = ?";
	struct trpt_imap_lease_owner own;
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, source);
	trpt_sql_bind_text(st, 2, holder);
	trpt_sql_bind_int(st, 3, expires_at);
	trpt_sql_bind_int(st, 4, now);
	trpt_sql_bind_text(st, 5, stale); /* NULL: equal to nothing */
	if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
		return rc;
	if (trpt_sql_changes(st) > 0) {
		*taken = 1;
		return TRPT_OK;
	}
	if ((rc = lease_owner(db, source, owner != NULL ? owner : &own, err)) !=
	    TRPT_OK)
		return rc;
	*taken = 0;
	return TRPT_OK;
}

int
trpt_imap_lease_renew(struct trpt_db *db, const char *source,
    const char *holder, int64_t expires_at, int *held, struct trpt_err *err)
{
	static const char sql[] = "UPDATE imap_lease SET expires_at = ? "
				  "WHERE source = ? AND holder = ?";
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, expires_at);
	trpt_sql_bind_text(st, 2, source);
	trpt_sql_bind_text(st, 3, holder);
	if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
		return rc;
	*held = trpt_sql_changes(st) > 0;
	return TRPT_OK;
}

int
trpt_imap_lease_release(struct trpt_db *db, const char *source,
    const char *holder, struct trpt_err *err)
{
	static const char sql[] =
	    "DELETE FROM imap_lease WHERE source = ? AND holder = ?";
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, source);
	trpt_sql_bind_text(st, 2, holder);
	return trpt_sql_run(st, err);
}
