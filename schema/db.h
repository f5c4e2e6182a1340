#pragma once
/*
 * The SQLite database: open (WAL, busy timeout, foreign keys), migrate to
 * the schema this binary knows, and a cache of prepared statements.
 */

#include <sqlite3.h>

#include "common/err.h"

struct trpt_db;

/*
 * Opens or creates the database at path and applies pending migrations.
 * Refuses a database whose schema is newer than this binary (TRPT_EDB).
 * ":memory:" works for tests.
 */
int trpt_db_open(const char *path, struct trpt_db **out, struct trpt_err *err);
void trpt_db_close(struct trpt_db **dbp);

/* The underlying handle, owned by db. */
sqlite3 *trpt_db_handle(struct trpt_db *db);

/* The path given to trpt_db_open. */
const char *trpt_db_path(const struct trpt_db *db);
