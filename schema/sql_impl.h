#pragma once
/*
 * What a database driver provides, and the connection its files share:
 * included only by schema/db.c, schema/sql.c and the drivers
 * (schema/sql_sqlite.c, schema/sql_pg.c).
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "schema/sql.h"

struct trpt_sql_ops {
	enum trpt_sql_dialect dialect;
	/*
	 * Opens db->path (existing: it must exist, and may be opened
	 * read-only) and fills db->conn.  Migrations are db.c's, after.
	 */
	int (*open)(struct trpt_db *db, int existing, struct trpt_err *err);
	void (*close)(struct trpt_db *db); /* statements are freed first */
	int (*read_only)(struct trpt_db *db);
	void (*set_busy_timeout)(struct trpt_db *db, int ms);

	int (*prepare)(struct trpt_db *db, const char *sql, int cached,
	    struct trpt_stmt **out, struct trpt_err *err);
	void (*finalize)(struct trpt_stmt *st);
	void (*bind_int)(struct trpt_stmt *st, int i, int64_t v);
	void (*bind_double)(struct trpt_stmt *st, int i, double v);
	void (*bind_text)(
	    struct trpt_stmt *st, int i, const char *s, size_t len);
	void (*bind_blob)(
	    struct trpt_stmt *st, int i, const void *p, size_t len);
	void (*bind_null)(struct trpt_stmt *st, int i);
	int (*step)(struct trpt_stmt *st, struct trpt_err *err);
	void (*reset)(struct trpt_stmt *st); /* and clear the bindings */
	int (*columns)(struct trpt_stmt *st);
	int (*is_null)(struct trpt_stmt *st, int col);
	int64_t (*col_int)(struct trpt_stmt *st, int col);
	double (*col_double)(struct trpt_stmt *st, int col);
	const char *(*col_text)(struct trpt_stmt *st, int col, size_t *len);
	const void *(*col_blob)(struct trpt_stmt *st, int col, size_t *len);
	int64_t (*changes)(struct trpt_stmt *st);
	int64_t (*last_insert_id)(struct trpt_stmt *st); /* NULL: none */

	int (*exec)(struct trpt_db *db, const char *sql, struct trpt_err *err);
	int (*begin)(struct trpt_db *db, struct trpt_err *err);
	int (*commit)(struct trpt_db *db, struct trpt_err *err);
	void (*rollback)(struct trpt_db *db);
	int (*in_transaction)(struct trpt_db *db);
};

extern const struct trpt_sql_ops trpt_sql_sqlite_ops;
extern const struct trpt_sql_ops trpt_sql_pg_ops; /* schema/sql_pg.c */

/* A cached statement (trpt_sql_cached), keyed by its SQL's address. */
struct trpt_sql_slot {
	const char *sql;
	struct trpt_stmt *st;
};

struct trpt_db {
	const struct trpt_sql_ops *ops;
	char *path;  /* as shown in messages (never with a password) */
	void *conn;  /* the driver's connection */
	int busy_ms; /* how long to wait for a lock held elsewhere */
	struct trpt_sql_slot *slots; /* open addressing, power of 2 */
	size_t nslots, used;
	struct trpt__rollup_queue *rollup;   /* schema/rollup.c */
	struct trpt__store_pending *pending; /* schema/store.c */
};

/* The head of every driver's statement. */
struct trpt_stmt {
	struct trpt_db *db;
	const char *sql;
	int cached;
};

/*
 * "WHAT" for an error message about sql: its first words, up to a line
 * end, in buf.
 */
const char *trpt_sql_what(const char *sql, char *buf, size_t size);
