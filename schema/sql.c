/*
 * The driver entry points: each passes to the connection's driver.  The
 * statement cache lives here, the same for every driver.
 */

#include "schema/sql.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema/sql_impl.h"

enum trpt_sql_dialect
trpt_sql_dialect(const struct trpt_db *db)
{
	return db->ops->dialect;
}

int
trpt_sql_prepare(struct trpt_db *db, const char *sql, struct trpt_stmt **out,
    struct trpt_err *err)
{
	return db->ops->prepare(db, sql, 0, out, err);
}

static size_t
slot_of(const struct trpt_db *db, const char *sql)
{
	uintptr_t h = (uintptr_t)sql;

	/* Fibonacci hashing of the address: literals sit close together. */
	h = (h >> 3) * (uintptr_t)11400714819323198485ull;
	return (size_t)(h >> 20) & (db->nslots - 1);
}

static int
grow(struct trpt_db *db, struct trpt_err *err)
{
	struct trpt_sql_slot *old = db->slots;
	size_t n = db->nslots, i, j;

	db->nslots = n ? n * 2 : 64;
	db->slots = calloc(db->nslots, sizeof(*db->slots));
	if (db->slots == NULL) {
		db->slots = old;
		db->nslots = n;
		return trpt_err_set(
		    err, TRPT_ENOMEM, "database %s: out of memory", db->path);
	}
	for (i = 0; i < n; i++) {
		if (old[i].sql == NULL)
			continue;
		for (j = slot_of(db, old[i].sql); db->slots[j].sql != NULL;
		     j = (j + 1) & (db->nslots - 1))
			;
		db->slots[j] = old[i];
	}
	free(old);
	return TRPT_OK;
}

int
trpt_sql_cached(struct trpt_db *db, const char *sql, struct trpt_stmt **out,
    struct trpt_err *err)
{
	struct trpt_stmt *st;
	size_t i;
	int rc;

	if (db->nslots != 0) {
		for (i = slot_of(db, sql); db->slots[i].sql != NULL;
		     i = (i + 1) & (db->nslots - 1))
			if (db->slots[i].sql == sql) {
				*out = db->slots[i].st;
				return TRPT_OK;
			}
	}
	if ((db->used + 1) * 2 > db->nslots && (rc = grow(db, err)) != TRPT_OK)
		return rc;
	if ((rc = db->ops->prepare(db, sql, 1, &st, err)) != TRPT_OK)
		return rc;
	for (i = slot_of(db, sql); db->slots[i].sql != NULL;
	     i = (i + 1) & (db->nslots - 1))
		;
	db->slots[i].sql = sql;
	db->slots[i].st = st;
	db->used++;
	*out = st;
	return TRPT_OK;
}

void
trpt_sql_bind_int(struct trpt_stmt *st, int i, int64_t v)
{
	st->db->ops->bind_int(st, i, v);
}

void
trpt_sql_bind_double(struct trpt_stmt *st, int i, double v)
{
	st->db->ops->bind_double(st, i, v);
}

void
trpt_sql_bind_text(struct trpt_stmt *st, int i, const char *s)
{
	if (s == NULL)
		st->db->ops->bind_null(st, i);
	else
		st->db->ops->bind_text(st, i, s, strlen(s));
}

void
trpt_sql_bind_textn(struct trpt_stmt *st, int i, const char *s, size_t len)
{
	if (s == NULL)
		st->db->ops->bind_null(st, i);
	else
		st->db->ops->bind_text(st, i, s, len);
}

void
trpt_sql_bind_blob(struct trpt_stmt *st, int i, const void *p, size_t len)
{
	st->db->ops->bind_blob(st, i, p, len);
}

void
trpt_sql_bind_null(struct trpt_stmt *st, int i)
{
	st->db->ops->bind_null(st, i);
}

int
trpt_sql_step(struct trpt_stmt *st, struct trpt_err *err)
{
	return st->db->ops->step(st, err);
}

int
trpt_sql_run(struct trpt_stmt *st, struct trpt_err *err)
{
	char what[64];
	int rc;

	rc = st->db->ops->step(st, err);
	if (rc > 0)
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: %s: unexpected result row", st->db->path,
		    trpt_sql_what(st->sql, what, sizeof(what)));
	st->db->ops->reset(st);
	return rc;
}

int
trpt_sql_columns(struct trpt_stmt *st)
{
	return st->db->ops->columns(st);
}

int
trpt_sql_is_null(struct trpt_stmt *st, int col)
{
	return st->db->ops->is_null(st, col);
}

int64_t
trpt_sql_int(struct trpt_stmt *st, int col)
{
	return st->db->ops->col_int(st, col);
}

double
trpt_sql_double(struct trpt_stmt *st, int col)
{
	return st->db->ops->col_double(st, col);
}

const char *
trpt_sql_text(struct trpt_stmt *st, int col)
{
	return st->db->ops->col_text(st, col, NULL);
}

const char *
trpt_sql_textn(struct trpt_stmt *st, int col, size_t *len)
{
	return st->db->ops->col_text(st, col, len);
}

const void *
trpt_sql_blob(struct trpt_stmt *st, int col, size_t *len)
{
	return st->db->ops->col_blob(st, col, len);
}

int64_t
trpt_sql_changes(struct trpt_stmt *st)
{
	return st->db->ops->changes(st);
}

int64_t
trpt_sql_last_insert_id(struct trpt_stmt *st)
{
	if (st->db->ops->last_insert_id == NULL)
		return -1;
	return st->db->ops->last_insert_id(st);
}

void
trpt_sql_reset(struct trpt_stmt *st)
{
	st->db->ops->reset(st);
}

void
trpt_sql_finalize(struct trpt_stmt **stp)
{
	if (stp == NULL || *stp == NULL)
		return;
	/* A cached statement belongs to the connection. */
	if (!(*stp)->cached)
		(*stp)->db->ops->finalize(*stp);
	*stp = NULL;
}

int
trpt_sql_exec(struct trpt_db *db, const char *sql, struct trpt_err *err)
{
	return db->ops->exec(db, sql, err);
}

const char *
trpt_sql_what(const char *sql, char *buf, size_t size)
{
	size_t n = 0;

	while (*sql == ' ' || *sql == '\t' || *sql == '\n')
		sql++;
	while (sql[n] != '\0' && sql[n] != '\n' && n + 4 < size)
		n++;
	memcpy(buf, sql, n);
	if (sql[n] != '\0' && sql[n] != '\n')
		memcpy(buf + n, "...", 4);
	else
		buf[n] = '\0';
	return buf;
}
