#pragma once
/*
 * WAL checkpoints for a long-running writer (serve): the log is copied
 * into the database from a connection of its own, beside the writer, so
 * that no commit waits for a checkpoint's writes and fsyncs.  On
 * PostgreSQL the server checkpoints by itself and every function here
 * does nothing (trpt_checkpoint_new gives NULL).
 */

#include "common/err.h"
#include "schema/db.h"

struct trpt_checkpoint;

/*
 * A second connection to writer's database for checkpoints, in *out;
 * *out is NULL when there is nothing to do (PostgreSQL, an in-memory
 * database).  From then on the writer no longer checkpoints inside its
 * commits (trpt_checkpoint_restart does, when asked), and a log that grew
 * past 256 MB is truncated when it starts over.
 */
int trpt_checkpoint_new(
    struct trpt_db *writer, struct trpt_checkpoint **out, struct trpt_err *err);

/*
 * Copies what it can of the log beside the writer (never waits for it);
 * *frames is the log's length in pages (0 when there is none).
 */
int trpt_checkpoint_passive(
    struct trpt_checkpoint *c, int *frames, struct trpt_err *err);

/*
 * Makes the log and the database file durable as they are now (fdatasync,
 * from c's own connection, beside the writer).  A RESTART
 * (trpt_checkpoint_restart) syncs both with the writer waiting: after
 * this, it syncs only what was written since.  Adds syncs, never removes
 * one.
 */
int trpt_checkpoint_sync(struct trpt_checkpoint *c, struct trpt_err *err);

/* Frees c (NULL is fine); the writer checkpoints inside its commits again
 * from its next one on. */
void trpt_checkpoint_free(struct trpt_checkpoint **cp);

/*
 * On the writer's own connection, between two transactions: copies the
 * rest of the log and makes the next commit start it over (RESTART).
 * TRPT_ETEMP when it could not finish within the writer's busy timeout (a
 * reader still holds the log, or another checkpoint runs): the log goes on
 * growing until one does, so try again later.
 */
int trpt_checkpoint_restart(struct trpt_db *writer, struct trpt_err *err);

/* On the writer's own connection: one PASSIVE checkpoint (before exit). */
int trpt_checkpoint_writer(struct trpt_db *writer, struct trpt_err *err);
