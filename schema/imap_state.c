#include "schema/imap_state.h"

#include <time.h>

#include <sqlite3.h>

int
trpt_imap_state_get(struct trpt_db *db, const char *source, const char *mailbox,
    int *found, uint32_t *uidvalidity, uint32_t *last_uid, struct trpt_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	if ((rc = trpt_db_stmt(db, TRPT_STMT_IMAP_STATE_GET,
		 "SELECT uidvalidity, last_uid FROM imap_state "
		 "WHERE source = ?1 AND mailbox = ?2",
		 &st, err)) != TRPT_OK)
		return rc;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*found = 1;
		*uidvalidity = (uint32_t)sqlite3_column_int64(st, 0);
		*last_uid = (uint32_t)sqlite3_column_int64(st, 1);
		rc = TRPT_OK;
	} else if (r == SQLITE_DONE) {
		*found = 0;
		rc = TRPT_OK;
	} else
		rc = trpt_db_error(db, r, "imap_state", err);
	trpt_db_stmt_done(st);
	return rc;
}

int
trpt_imap_state_put(struct trpt_db *db, const char *source, const char *mailbox,
    uint32_t uidvalidity, uint32_t last_uid, struct trpt_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = trpt_db_stmt(db, TRPT_STMT_IMAP_STATE_PUT,
		 "INSERT INTO imap_state (source, mailbox, uidvalidity, "
		 "last_uid, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) "
		 "ON CONFLICT (source, mailbox) DO UPDATE SET "
		 "uidvalidity = excluded.uidvalidity, "
		 "last_uid = excluded.last_uid, "
		 "updated_at = excluded.updated_at",
		 &st, err)) != TRPT_OK)
		return rc;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, uidvalidity);
	sqlite3_bind_int64(st, 4, last_uid);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	return trpt_db_step_done(db, st, "imap_state", err);
}
