#pragma once
/*
 * Copying a whole SQLite database into another database at the same
 * schema version, PostgreSQL in practice (`migrate-db`).
 */

#include <stdint.h>

#include "common/err.h"

struct trpt_db;

/* Called after each table: its name and the rows copied. */
typedef void (*trpt_copy_progress_fn)(
    void *arg, const char *table, int64_t rows);

/*
 * Copies every table of from (a SQLite database) into to, which must be
 * empty (no row in any table but those its migrations fill, which are
 * replaced): TRPT_EINVAL "... is not empty" otherwise.  Both must be at
 * the same schema version (trpt_db_open brings them to this binary's).
 * Tables are copied parents first (foreign keys), by column name, in
 * multi-row INSERTs, all in one transaction of to, so that a failure
 * leaves it empty; the source is read in one snapshot.  Identity sequences
 * of to continue after the highest id copied.  The row counts are checked
 * before the commit.  *tables (may be NULL) is the number of tables.
 */
int trpt_copy_db(struct trpt_db *from, struct trpt_db *to,
    trpt_copy_progress_fn progress, void *arg, int *tables,
    struct trpt_err *err);
