#include "schema/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "schema/sql.h"

struct trpt_checkpoint {
	struct trpt_db *writer;
	struct trpt_db *db; /* our own connection */
};

/*
 * Runs "PRAGMA wal_checkpoint(MODE)" on db; *frames the log's pages.  Its
 * first column says whether a RESTART could not finish (a reader still on
 * an older snapshot after the busy timeout, or another checkpoint
 * running): with must_finish that is TRPT_ETEMP, for the caller to try
 * again later.  A PASSIVE one never waits and only copies what it can:
 * its busy column (another checkpoint running) is no failure.
 */
static int
checkpoint(struct trpt_db *db, const char *sql, int must_finish, int *frames,
    struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc, busy = 0;

	if ((rc = trpt_sql_prepare(db, sql, &st, err)) != TRPT_OK)
		return rc;
	rc = trpt_sql_step(st, err);
	if (rc == 1) {
		/* busy, log frames, frames checkpointed; -1 without WAL */
		busy = trpt_sql_int(st, 0) != 0;
		if (frames != NULL)
			*frames = trpt_sql_int(st, 1) > 0
				      ? (int)trpt_sql_int(st, 1)
				      : 0;
		rc = TRPT_OK;
	} else if (rc == 0)
		rc = TRPT_OK;
	trpt_sql_finalize(&st);
	if (rc == TRPT_OK && busy && must_finish)
		rc = trpt_err_set(err, TRPT_ETEMP,
		    "%s: WAL checkpoint could not finish: a reader or another "
		    "checkpoint holds the log",
		    trpt_db_path(db) != NULL ? trpt_db_path(db) : "database");
	return rc;
}

int
trpt_checkpoint_new(
    struct trpt_db *writer, struct trpt_checkpoint **out, struct trpt_err *err)
{
	struct trpt_checkpoint *c;
	const char *path = trpt_db_path(writer);
	int rc;

	*out = NULL;
	if (trpt_sql_dialect(writer) != TRPT_SQL_SQLITE || path == NULL ||
	    strcmp(path, ":memory:") == 0 || path[0] == '\0')
		return TRPT_OK;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	c->writer = writer;
	if ((rc = trpt_db_open(path, &c->db, err)) != TRPT_OK) {
		free(c);
		return rc;
	}
	trpt_db_set_busy_timeout(c->db, 100);
	/*
	 * The writer leaves the checkpoints to this connection, and
	 * truncates the log when it starts it over only past 256 MB: it does
	 * so inside the first commit after the restart, with every POST
	 * waiting (ftruncate 16-60 ms on a loaded machine), and the blocks
	 * freed are allocated again as the log grows.  serve restarts the log
	 * past 128 MB, and it grows on while the restart waits its turn
	 * (130-310 MB seen at 16 connections, loaded): under 256 MB it keeps
	 * its size, past it (a loaded disk, a reader holding the log) it is
	 * cut back to 256 MB.
	 */
	rc = trpt_sql_exec(writer,
	    "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=268435456",
	    err);
	if (rc != TRPT_OK) {
		trpt_db_close(&c->db);
		free(c);
		return rc;
	}
	*out = c;
	return TRPT_OK;
}

int
trpt_checkpoint_passive(
    struct trpt_checkpoint *c, int *frames, struct trpt_err *err)
{
	*frames = 0;
	if (c == NULL)
		return TRPT_OK;
	return checkpoint(
	    c->db, "PRAGMA wal_checkpoint(PASSIVE)", 0, frames, err);
}

int
trpt_checkpoint_sync(struct trpt_checkpoint *c, struct trpt_err *err)
{
	if (c == NULL)
		return TRPT_OK;
	return trpt_sql_sync_files(c->db, err);
}

void
trpt_checkpoint_free(struct trpt_checkpoint **cp)
{
	struct trpt_checkpoint *c;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	trpt_db_close(&c->db);
	trpt_sql_exec(c->writer, "PRAGMA wal_autocheckpoint=4000", NULL);
	free(c);
	*cp = NULL;
}

int
trpt_checkpoint_restart(struct trpt_db *writer, struct trpt_err *err)
{
	if (trpt_sql_dialect(writer) != TRPT_SQL_SQLITE)
		return TRPT_OK;
	return checkpoint(
	    writer, "PRAGMA wal_checkpoint(RESTART)", 1, NULL, err);
}

int
trpt_checkpoint_writer(struct trpt_db *writer, struct trpt_err *err)
{
	if (trpt_sql_dialect(writer) != TRPT_SQL_SQLITE)
		return TRPT_OK;
	return checkpoint(
	    writer, "PRAGMA wal_checkpoint(PASSIVE)", 0, NULL, err);
}
