#pragma once
/*
 * The PostgreSQL driver (schema/sql_pg.c): its ops are in
 * schema/sql_impl.h (trpt_sql_pg_ops); this header has what its tests
 * reach directly.
 */

/*
 * sql with each '?' (or '?NNN') outside string literals, quoted
 * identifiers, comments and dollar-quoted bodies replaced by $n; *nparams
 * is the highest number used.  NULL when out of memory or a number is out
 * of range (0 or above 65535).  Caller frees.
 */
char *trpt__sql_pg_number_params(const char *sql, int *nparams);

struct trpt_db;

/*
 * Whether the last statement that failed since the transaction began
 * failed for a deadlock (40P01) or a serialization failure (40001): a
 * conflict with another writer's transaction, which running the whole
 * transaction again may not meet (schema/store.c trpt_store_retryable).
 */
int trpt__sql_pg_conflict(const struct trpt_db *db);
