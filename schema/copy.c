#include "schema/copy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/sql.h"

/*
 * Rows per INSERT (fewer when a table has many columns: a statement takes
 * at most 65535 parameters) and bytes of text and blobs held for one
 * INSERT before it is sent (raw inputs may be megabytes each).
 */
#define BATCH_ROWS  100
#define BATCH_BYTES (8u << 20)
#define MAX_PARAMS  65535

/* Tables that migrations fill: their rows are replaced, not refused. */
static const char *const seeded[] = { "rollup_state" };

/* Tables derived from the rows of others (migrations 0016 and 0018; the
 * store writes them with rollup_failures since 0022, triggers did
 * before): emptied right before they are copied, whatever the copy of
 * their sources put in them. */
static const char *const derived[] = { "rollup_type_first",
	"rollup_failures_week" };

enum ctype { C_INT, C_REAL, C_TEXT, C_BLOB };

struct column {
	char *name;
	enum ctype type;
};

struct table {
	char *name;
	struct column *cols;
	int ncols;
	char **parents; /* tables its foreign keys refer to */
	int nparents;
	int done;
	int64_t rows;
};

struct cell {
	int null;
	int64_t i;
	double d;
	char *p; /* text or blob, owned */
	size_t len;
};

struct copy {
	struct trpt_db *from, *to;
	struct table *t;
	int n;
	struct trpt_err *err;
};

static int
nomem(struct copy *c)
{
	return trpt_err_set(c->err, TRPT_ENOMEM, "migrate-db: out of memory");
}

/*
 * Table and column names come from the source's schema, and are put in
 * statements as quoted identifiers (they cannot be parameters): only
 * names of letters, digits and '_' are taken, so quoting is exact.
 */
static int
plain_name(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static char *
dup_name(struct copy *c, const char *s, const char *what, int *rc)
{
	char *d;

	if (!plain_name(s)) {
		*rc = trpt_err_set(c->err, TRPT_EDB,
		    "migrate-db: %s \"%.64s\" of the source is not a plain "
		    "name",
		    what, s ? s : "");
		return NULL;
	}
	if ((d = strdup(s)) == NULL)
		*rc = nomem(c);
	return d;
}

static enum ctype
col_type(const char *decl)
{
	if (decl == NULL)
		return C_TEXT;
	if (strstr(decl, "INT") != NULL || strstr(decl, "int") != NULL)
		return C_INT;
	if (strstr(decl, "BLOB") != NULL || strstr(decl, "blob") != NULL)
		return C_BLOB;
	if (strstr(decl, "REAL") != NULL || strstr(decl, "real") != NULL)
		return C_REAL;
	return C_TEXT;
}

static void
free_tables(struct copy *c)
{
	int i, j;

	for (i = 0; i < c->n; i++) {
		for (j = 0; j < c->t[i].ncols; j++)
			free(c->t[i].cols[j].name);
		for (j = 0; j < c->t[i].nparents; j++)
			free(c->t[i].parents[j]);
		free(c->t[i].cols);
		free(c->t[i].parents);
		free(c->t[i].name);
	}
	free(c->t);
	c->t = NULL;
	c->n = 0;
}

/* The columns and foreign-key parents of table t, from the source. */
static int
read_table(struct copy *c, struct table *t)
{
	struct trpt_stmt *st = NULL;
	void *grown;
	int rc;

	rc = trpt_sql_prepare(c->from,
	    "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", &st,
	    c->err);
	if (rc != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, t->name);
	while ((rc = trpt_sql_step(st, c->err)) == 1) {
		grown =
		    realloc(t->cols, (size_t)(t->ncols + 1) * sizeof(*t->cols));
		if (grown == NULL) {
			rc = nomem(c);
			break;
		}
		t->cols = grown;
		t->cols[t->ncols].name =
		    dup_name(c, trpt_sql_text(st, 0), "column", &rc);
		if (t->cols[t->ncols].name == NULL)
			break;
		t->cols[t->ncols].type = col_type(trpt_sql_text(st, 1));
		t->ncols++;
	}
	trpt_sql_finalize(&st);
	if (rc < 0)
		return rc;
	rc = trpt_sql_prepare(c->from,
	    "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)", &st,
	    c->err);
	if (rc != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, t->name);
	while ((rc = trpt_sql_step(st, c->err)) == 1) {
		grown = realloc(t->parents,
		    (size_t)(t->nparents + 1) * sizeof(*t->parents));
		if (grown == NULL) {
			rc = nomem(c);
			break;
		}
		t->parents = grown;
		t->parents[t->nparents] =
		    dup_name(c, trpt_sql_text(st, 0), "table", &rc);
		if (t->parents[t->nparents] == NULL)
			break;
		t->nparents++;
	}
	trpt_sql_finalize(&st);
	return rc < 0 ? rc : TRPT_OK;
}

/* The source's tables, in an order where parents come first. */
static int
read_tables(struct copy *c)
{
	struct trpt_stmt *st = NULL;
	struct table *sorted, *grown;
	int rc, i, j, k, m, ready;

	rc = trpt_sql_prepare(c->from,
	    "SELECT name FROM sqlite_schema WHERE type = 'table' AND "
	    "substr(name, 1, 7) <> 'sqlite_' ORDER BY name",
	    &st, c->err);
	if (rc != TRPT_OK)
		return rc;
	while ((rc = trpt_sql_step(st, c->err)) == 1) {
		grown = realloc(c->t, (size_t)(c->n + 1) * sizeof(*c->t));
		if (grown == NULL) {
			rc = nomem(c);
			break;
		}
		c->t = grown;
		memset(&c->t[c->n], 0, sizeof(c->t[c->n]));
		c->t[c->n].name =
		    dup_name(c, trpt_sql_text(st, 0), "table", &rc);
		if (c->t[c->n].name == NULL)
			break;
		c->n++;
	}
	trpt_sql_finalize(&st);
	if (rc < 0)
		return rc;
	for (i = 0; i < c->n; i++)
		if ((rc = read_table(c, &c->t[i])) != TRPT_OK)
			return rc;
	/* Parents first: repeatedly take a table whose parents are taken. */
	if ((sorted = calloc((size_t)c->n + 1, sizeof(*sorted))) == NULL)
		return nomem(c);
	for (m = 0; m < c->n;) {
		for (i = 0; i < c->n; i++) {
			if (c->t[i].done)
				continue;
			ready = 1;
			for (j = 0; ready && j < c->t[i].nparents; j++)
				for (k = 0; k < c->n; k++)
					if (!c->t[k].done && k != i &&
					    strcmp(c->t[k].name,
						c->t[i].parents[j]) == 0)
						ready = 0;
			if (ready)
				break;
		}
		if (i == c->n) {
			free(sorted);
			return trpt_err_set(c->err, TRPT_EDB,
			    "migrate-db: the source's foreign keys form a "
			    "cycle");
		}
		c->t[i].done = 1;
		sorted[m++] = c->t[i];
	}
	free(c->t);
	c->t = sorted;
	return TRPT_OK;
}

/* "SELECT COUNT(*) FROM "t"" on db into *n. */
static int
count_rows(struct copy *c, struct trpt_db *db, const char *table, int64_t *n)
{
	struct trpt_stmt *st = NULL;
	char sql[128];
	int rc;

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM \"%s\"", table);
	if ((rc = trpt_sql_prepare(db, sql, &st, c->err)) != TRPT_OK)
		return rc;
	rc = trpt_sql_step(st, c->err);
	if (rc == 1) {
		*n = trpt_sql_int(st, 0);
		rc = TRPT_OK;
	} else if (rc == 0)
		rc = trpt_err_set(c->err, TRPT_EDB,
		    "database %s: counting %s: no result", trpt_db_path(db),
		    table);
	trpt_sql_finalize(&st);
	return rc;
}

static int
is_seeded(const char *table)
{
	size_t i;

	for (i = 0; i < sizeof(seeded) / sizeof(seeded[0]); i++)
		if (strcmp(seeded[i], table) == 0)
			return 1;
	return 0;
}

static int
empty_derived(struct copy *c, const char *table)
{
	char sql[128];
	size_t i;

	for (i = 0; i < sizeof(derived) / sizeof(derived[0]); i++)
		if (strcmp(derived[i], table) == 0) {
			snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", table);
			return trpt_sql_exec(c->to, sql, c->err);
		}
	return TRPT_OK;
}

/* Refuses a target that holds anything; empties the seeded tables. */
static int
check_empty(struct copy *c)
{
	char sql[128];
	int64_t n;
	int i, rc;

	for (i = 0; i < c->n; i++) {
		if (is_seeded(c->t[i].name)) {
			snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"",
			    c->t[i].name);
			if ((rc = trpt_sql_exec(c->to, sql, c->err)) != TRPT_OK)
				return rc;
			continue;
		}
		if ((rc = count_rows(c, c->to, c->t[i].name, &n)) != TRPT_OK)
			return rc;
		if (n != 0)
			return trpt_err_set(c->err, TRPT_EINVAL,
			    "database %s is not empty (table %s has %lld "
			    "rows): migrate-db copies into an empty database "
			    "only",
			    trpt_db_path(c->to), c->t[i].name, (long long)n);
	}
	return TRPT_OK;
}

/* INSERT INTO "t" ("a", "b") VALUES (?, ?), ... for rows rows. */
static char *
insert_sql(const struct table *t, int rows)
{
	size_t len = 64 + strlen(t->name), o;
	char *s;
	int i, r;

	for (i = 0; i < t->ncols; i++)
		len += strlen(t->cols[i].name) + 4 + 3 * (size_t)rows;
	len += 4 * (size_t)rows;
	if ((s = malloc(len)) == NULL)
		return NULL;
	o = (size_t)snprintf(s, len, "INSERT INTO \"%s\" (", t->name);
	for (i = 0; i < t->ncols; i++)
		o += (size_t)snprintf(
		    s + o, len - o, "%s\"%s\"", i ? ", " : "", t->cols[i].name);
	o += (size_t)snprintf(s + o, len - o, ") VALUES ");
	for (r = 0; r < rows; r++) {
		o += (size_t)snprintf(s + o, len - o, "%s(", r ? ", " : "");
		for (i = 0; i < t->ncols; i++)
			o += (size_t)snprintf(
			    s + o, len - o, "%s?", i ? ", " : "");
		o += (size_t)snprintf(s + o, len - o, ")");
	}
	return s;
}

static void
free_cells(struct cell *cells, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(cells[i].p);
		cells[i].p = NULL;
	}
}

/* Sends rows rows of cells in one INSERT (full: the reused statement). */
static int
flush(struct copy *c, const struct table *t, struct cell *cells, int rows,
    struct trpt_stmt **full, char **full_sql, int full_rows)
{
	struct trpt_stmt *st = NULL;
	char *sql = NULL;
	int i, k, rc;

	if (rows == full_rows) {
		if (*full == NULL) {
			if ((*full_sql = insert_sql(t, rows)) == NULL)
				return nomem(c);
			rc = trpt_sql_prepare(c->to, *full_sql, full, c->err);
			if (rc != TRPT_OK)
				return rc;
		}
		st = *full;
	} else {
		if ((sql = insert_sql(t, rows)) == NULL)
			return nomem(c);
		if ((rc = trpt_sql_prepare(c->to, sql, &st, c->err)) !=
		    TRPT_OK) {
			free(sql);
			return rc;
		}
	}
	for (k = 0; k < rows * t->ncols; k++) {
		struct cell *v = &cells[k];

		i = k % t->ncols;
		if (v->null)
			trpt_sql_bind_null(st, k + 1);
		else if (t->cols[i].type == C_INT)
			trpt_sql_bind_int(st, k + 1, v->i);
		else if (t->cols[i].type == C_REAL)
			trpt_sql_bind_double(st, k + 1, v->d);
		else if (t->cols[i].type == C_BLOB)
			trpt_sql_bind_blob(st, k + 1, v->p, v->len);
		else
			trpt_sql_bind_textn(st, k + 1, v->p, v->len);
	}
	rc = trpt_sql_run(st, c->err);
	if (st != *full) {
		trpt_sql_finalize(&st);
		free(sql);
	}
	return rc;
}

static int
copy_table(struct copy *c, struct table *t)
{
	struct trpt_stmt *rd = NULL, *full = NULL;
	struct cell *cells = NULL;
	char *sel = NULL, *full_sql = NULL;
	size_t len, o, bytes = 0;
	const void *p;
	int per, rows = 0, i, rc;

	per = MAX_PARAMS / t->ncols;
	if (per > BATCH_ROWS)
		per = BATCH_ROWS;
	cells = calloc((size_t)per * (size_t)t->ncols, sizeof(*cells));
	len = 32 + strlen(t->name);
	for (i = 0; i < t->ncols; i++)
		len += strlen(t->cols[i].name) + 4;
	if (cells == NULL || (sel = malloc(len)) == NULL) {
		rc = nomem(c);
		goto out;
	}
	o = (size_t)snprintf(sel, len, "SELECT ");
	for (i = 0; i < t->ncols; i++)
		o += (size_t)snprintf(sel + o, len - o, "%s\"%s\"",
		    i ? ", " : "", t->cols[i].name);
	snprintf(sel + o, len - o, " FROM \"%s\"", t->name);
	if ((rc = trpt_sql_prepare(c->from, sel, &rd, c->err)) != TRPT_OK)
		goto out;
	while ((rc = trpt_sql_step(rd, c->err)) == 1) {
		struct cell *row = &cells[(size_t)rows * (size_t)t->ncols];

		for (i = 0; i < t->ncols; i++) {
			struct cell *v = &row[i];

			v->null = trpt_sql_is_null(rd, i);
			if (v->null)
				continue;
			switch (t->cols[i].type) {
			case C_INT:
				v->i = trpt_sql_int(rd, i);
				break;
			case C_REAL:
				v->d = trpt_sql_double(rd, i);
				break;
			case C_BLOB:
			case C_TEXT:
				if (t->cols[i].type == C_BLOB)
					p = trpt_sql_blob(rd, i, &v->len);
				else
					p = trpt_sql_textn(rd, i, &v->len);
				/* Copied: the next step frees the row. */
				if ((v->p = malloc(v->len + 1)) == NULL) {
					rc = nomem(c);
					goto out;
				}
				if (v->len > 0)
					memcpy(v->p, p, v->len);
				v->p[v->len] = '\0';
				bytes += v->len;
				break;
			}
		}
		rows++;
		t->rows++;
		if (rows == per || bytes >= BATCH_BYTES) {
			rc = flush(c, t, cells, rows, &full, &full_sql, per);
			free_cells(cells, (size_t)rows * (size_t)t->ncols);
			if (rc != TRPT_OK)
				goto out;
			rows = 0;
			bytes = 0;
		}
	}
	if (rc < 0)
		goto out;
	if (rows > 0 &&
	    (rc = flush(c, t, cells, rows, &full, &full_sql, per)) != TRPT_OK)
		goto out;
	rc = TRPT_OK;
out:
	if (cells != NULL)
		free_cells(cells, (size_t)per * (size_t)t->ncols);
	trpt_sql_finalize(&rd);
	trpt_sql_finalize(&full);
	free(full_sql);
	free(sel);
	free(cells);
	return rc;
}

/*
 * PostgreSQL: each identity column continues after the highest value
 * copied (rows were inserted with their ids, which does not move it).
 */
static int
advance_identities(struct copy *c)
{
	struct trpt_stmt *st = NULL, *set = NULL;
	char sql[256];
	int rc;

	if (trpt_sql_dialect(c->to) != TRPT_SQL_PG)
		return TRPT_OK;
	rc = trpt_sql_prepare(c->to,
	    "SELECT table_name, column_name FROM information_schema.columns "
	    "WHERE table_schema = current_schema() AND is_identity = 'YES' "
	    "ORDER BY table_name",
	    &st, c->err);
	if (rc != TRPT_OK)
		return rc;
	while ((rc = trpt_sql_step(st, c->err)) == 1) {
		const char *tn = trpt_sql_text(st, 0);
		const char *cn = trpt_sql_text(st, 1);

		if (!plain_name(tn) || !plain_name(cn))
			continue;
		snprintf(sql, sizeof(sql),
		    "SELECT setval(pg_get_serial_sequence(?, ?), (SELECT "
		    "COALESCE(MAX(\"%s\"), 0) + 1 FROM \"%s\"), false)",
		    cn, tn);
		if ((rc = trpt_sql_prepare(c->to, sql, &set, c->err)) !=
		    TRPT_OK)
			break;
		trpt_sql_bind_text(set, 1, tn);
		trpt_sql_bind_text(set, 2, cn);
		rc = trpt_sql_step(set, c->err);
		trpt_sql_finalize(&set);
		if (rc < 0)
			break;
	}
	trpt_sql_finalize(&st);
	return rc < 0 ? rc : TRPT_OK;
}

int
trpt_copy_db(struct trpt_db *from, struct trpt_db *to,
    trpt_copy_progress_fn progress, void *arg, int *tables,
    struct trpt_err *err)
{
	struct copy c = { from, to, NULL, 0, err };
	int64_t n;
	int i, rc, snapshot = 0;

	if (trpt_sql_dialect(from) != TRPT_SQL_SQLITE)
		return trpt_err_set(err, TRPT_EINVAL,
		    "migrate-db: the source %s must be a SQLite database",
		    trpt_db_path(from));
	/* One snapshot of the source (a deferred BEGIN takes no lock). */
	if ((rc = trpt_sql_exec(from, "BEGIN", err)) != TRPT_OK)
		return rc;
	snapshot = 1;
	if ((rc = read_tables(&c)) != TRPT_OK)
		goto out;
	if ((rc = trpt_db_begin(to, err)) != TRPT_OK)
		goto out;
	if ((rc = check_empty(&c)) != TRPT_OK)
		goto out;
	for (i = 0; i < c.n; i++) {
		if ((rc = empty_derived(&c, c.t[i].name)) != TRPT_OK ||
		    (rc = copy_table(&c, &c.t[i])) != TRPT_OK)
			goto out;
		if ((rc = count_rows(&c, to, c.t[i].name, &n)) != TRPT_OK)
			goto out;
		if (n != c.t[i].rows) {
			rc = trpt_err_set(err, TRPT_EDB,
			    "migrate-db: table %s: %lld rows read but %lld in "
			    "%s",
			    c.t[i].name, (long long)c.t[i].rows, (long long)n,
			    trpt_db_path(to));
			goto out;
		}
	}
	if ((rc = advance_identities(&c)) != TRPT_OK)
		goto out;
	if ((rc = trpt_db_commit(to, err)) != TRPT_OK)
		goto out;
	if (progress != NULL)
		for (i = 0; i < c.n; i++)
			progress(arg, c.t[i].name, c.t[i].rows);
	if (tables != NULL)
		*tables = c.n;
out:
	if (rc != TRPT_OK && trpt_db_in_transaction(to))
		trpt_db_rollback(to);
	if (snapshot)
		trpt_sql_exec(from, "COMMIT", NULL);
	free_tables(&c);
	return rc;
}
