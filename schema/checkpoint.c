#include "schema/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "schema/sql.h"

struct trpt_checkpoint {
	struct trpt_db *writer;
	struct trpt_db *db; /* our own connection */
};

/* Runs "PRAGMA wal_checkpoint(MODE)" on db; *frames the log's pages. */
static int
checkpoint(
    struct trpt_db *db, const char *sql, int *frames, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	if ((rc = trpt_sql_prepare(db, sql, &st, err)) != TRPT_OK)
		return rc;
	rc = trpt_sql_step(st, err);
	if (rc == 1) {
		/* busy, log frames, frames checkpointed; -1 without WAL */
		if (frames != NULL)
			*frames = trpt_sql_int(st, 1) > 0
				      ? (int)trpt_sql_int(st, 1)
				      : 0;
		rc = TRPT_OK;
	} else if (rc == 0)
		rc = TRPT_OK;
	trpt_sql_finalize(&st);
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
	/* The writer truncates a log that grew past 64 MB when it starts
	 * it over, and leaves the checkpoints to this connection. */
	rc = trpt_sql_exec(writer,
	    "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864",
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
	return checkpoint(c->db, "PRAGMA wal_checkpoint(PASSIVE)", frames, err);
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
	return checkpoint(writer, "PRAGMA wal_checkpoint(RESTART)", NULL, err);
}

int
trpt_checkpoint_writer(struct trpt_db *writer, struct trpt_err *err)
{
	if (trpt_sql_dialect(writer) != TRPT_SQL_SQLITE)
		return TRPT_OK;
	return checkpoint(writer, "PRAGMA wal_checkpoint(PASSIVE)", NULL, err);
}
