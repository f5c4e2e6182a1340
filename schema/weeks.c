#include "schema/weeks.h"

#include <string.h>

#include <sqlite3.h>

#include "common/limits.h"

void
trpt_weeks_put(
    unsigned char *buf, int place, int64_t successful, int64_t failed)
{
	uint64_t s = (uint64_t)successful, f = (uint64_t)failed;
	int i;

	buf[0] = (unsigned char)place;
	for (i = 0; i < 8; i++) {
		buf[1 + i] = (unsigned char)(s >> (56 - 8 * i));
		buf[9 + i] = (unsigned char)(f >> (56 - 8 * i));
	}
}

static int64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

int
trpt_weeks_read(const void *p, size_t len, struct trpt_weeks_cell *out)
{
	const unsigned char *b = p;
	int n = 0;

	if (len % TRPT_WEEKS_CELL != 0 || len > TRPT_WEEKS_MAX)
		return -1;
	for (; len > 0; len -= TRPT_WEEKS_CELL, b += TRPT_WEEKS_CELL) {
		if (b[0] >= TRPT_WEEKS_BLOCK ||
		    (n > 0 && b[0] <= out[n - 1].place))
			return -1;
		out[n].place = b[0];
		out[n].successful = get64(b + 1);
		out[n].failed = get64(b + 9);
		n++;
	}
	return n;
}

/* The upserts' ADD (schema/rollup.c): stops at the cap, never overflows
 * (x and y are cells, each within +-TRPT_MAX_ROLLUP_COUNT). */
static int64_t
add(int64_t x, int64_t y)
{
	return y > TRPT_MAX_ROLLUP_COUNT - x ? TRPT_MAX_ROLLUP_COUNT : x + y;
}

/* a + b into out (room for TRPT_WEEKS_MAX bytes); its length, or -1. */
static int
merge(
    const void *a, size_t alen, const void *b, size_t blen, unsigned char *out)
{
	struct trpt_weeks_cell x[TRPT_WEEKS_BLOCK], y[TRPT_WEEKS_BLOCK];
	int nx, ny, i = 0, j = 0, n = 0;

	if ((nx = trpt_weeks_read(a, alen, x)) < 0 ||
	    (ny = trpt_weeks_read(b, blen, y)) < 0)
		return -1;
	while (i < nx || j < ny) {
		if (j == ny || (i < nx && x[i].place < y[j].place)) {
			trpt_weeks_put(
			    out + n, x[i].place, x[i].successful, x[i].failed);
			i++;
		} else if (i == nx || y[j].place < x[i].place) {
			trpt_weeks_put(
			    out + n, y[j].place, y[j].successful, y[j].failed);
			j++;
		} else {
			trpt_weeks_put(out + n, x[i].place,
			    add(x[i].successful, y[j].successful),
			    add(x[i].failed, y[j].failed));
			i++;
			j++;
		}
		n += TRPT_WEEKS_CELL;
	}
	return n;
}

static const char malformed[] = "trpt_weeks: malformed weekly cells";

/* A blob argument (NULL: none); -1 when it is not a blob or NULL. */
static int
blob_arg(sqlite3_value *v, const void **p, size_t *len)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_NULL:
		*p = NULL;
		*len = 0;
		return 0;
	case SQLITE_BLOB:
		*len = (size_t)sqlite3_value_bytes(v);
		*p = sqlite3_value_blob(v);
		return 0;
	default:
		return -1;
	}
}

/* The cells of argument v into c; -1 (the call's error set) when it is
 * neither a blob nor NULL, or malformed. */
static int
cells_arg(sqlite3_context *cx, sqlite3_value *v, struct trpt_weeks_cell *c)
{
	const void *p;
	size_t len;
	int k;

	if (blob_arg(v, &p, &len) < 0 || (k = trpt_weeks_read(p, len, c)) < 0) {
		sqlite3_result_error(cx, malformed, -1);
		return -1;
	}
	return k;
}

static void
fn_cell(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	unsigned char buf[TRPT_WEEKS_CELL];
	sqlite3_int64 place = sqlite3_value_int64(argv[0]);

	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER || place < 0 ||
	    place >= TRPT_WEEKS_BLOCK) {
		sqlite3_result_error(cx, "trpt_weeks_cell: place not 0-31", -1);
		return;
	}
	trpt_weeks_put(buf, (int)place, sqlite3_value_int64(argv[1]),
	    sqlite3_value_int64(argv[2]));
	sqlite3_result_blob(cx, buf, sizeof(buf), SQLITE_TRANSIENT);
}

static void
fn_add(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	unsigned char out[TRPT_WEEKS_MAX];
	const void *a, *b;
	size_t alen, blen;
	int n;

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL &&
	    sqlite3_value_type(argv[1]) == SQLITE_NULL) {
		sqlite3_result_null(cx); /* as PostgreSQL's */
		return;
	}
	if (blob_arg(argv[0], &a, &alen) < 0 ||
	    blob_arg(argv[1], &b, &blen) < 0 ||
	    (n = merge(a, alen, b, blen, out)) < 0) {
		sqlite3_result_error(cx, malformed, -1);
		return;
	}
	sqlite3_result_blob(cx, out, n, SQLITE_TRANSIENT);
}

static void
fn_drop(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct trpt_weeks_cell c[TRPT_WEEKS_BLOCK];
	unsigned char out[TRPT_WEEKS_MAX];
	sqlite3_int64 mask = sqlite3_value_int64(argv[1]);
	int i, k, n = 0;

	(void)argc;
	if ((k = cells_arg(cx, argv[0], c)) < 0)
		return;
	for (i = 0; i < k; i++)
		if (!((uint64_t)mask >> c[i].place & 1)) {
			trpt_weeks_put(
			    out + n, c[i].place, c[i].successful, c[i].failed);
			n += TRPT_WEEKS_CELL;
		}
	sqlite3_result_blob(cx, out, n, SQLITE_TRANSIENT);
}

static void
fn_sum(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct trpt_weeks_cell c[TRPT_WEEKS_BLOCK];
	sqlite3_int64 mask = sqlite3_value_int64(argv[1]), sum = 0;
	int which = sqlite3_value_int(argv[2]), i, k;

	(void)argc;
	if ((k = cells_arg(cx, argv[0], c)) < 0)
		return;
	/* At most 32 cells of at most 2^40 each: no overflow. */
	for (i = 0; i < k; i++)
		if ((uint64_t)mask >> c[i].place & 1)
			sum += which ? c[i].failed : c[i].successful;
	sqlite3_result_int64(cx, sum);
}

/* The aggregate's state: the sum so far. */
struct agg_state {
	int n; /* bytes in cells; -1: a malformed value was met */
	unsigned char cells[TRPT_WEEKS_MAX];
};

static void
agg_step(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct agg_state *s = sqlite3_aggregate_context(cx, sizeof(*s));
	unsigned char out[TRPT_WEEKS_MAX];
	const void *b;
	size_t blen;
	int n;

	(void)argc;
	if (s == NULL) {
		sqlite3_result_error_nomem(cx);
		return;
	}
	if (s->n < 0)
		return;
	if (blob_arg(argv[0], &b, &blen) < 0 ||
	    (n = merge(s->cells, (size_t)s->n, b, blen, out)) < 0) {
		s->n = -1;
		return;
	}
	memcpy(s->cells, out, (size_t)n);
	s->n = n;
}

static void
agg_final(sqlite3_context *cx)
{
	struct agg_state *s = sqlite3_aggregate_context(cx, 0);

	if (s == NULL)
		sqlite3_result_null(cx); /* no rows */
	else if (s->n < 0)
		sqlite3_result_error(cx, malformed, -1);
	else
		sqlite3_result_blob(cx, s->cells, s->n, SQLITE_TRANSIENT);
}

int
trpt__weeks_register(void *handle)
{
	static const struct {
		const char *name;
		int nargs;
		void (*fn)(sqlite3_context *, int, sqlite3_value **);
	} fns[] = {
		{ "trpt_weeks_cell", 3, fn_cell },
		{ "trpt_weeks_add", 2, fn_add },
		{ "trpt_weeks_drop", 2, fn_drop },
		{ "trpt_weeks_sum", 3, fn_sum },
	};
	sqlite3 *h = handle;
	size_t i;
	int src;

	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if ((src = sqlite3_create_function_v2(h, fns[i].name,
			 fns[i].nargs,
			 SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
			 NULL, fns[i].fn, NULL, NULL, NULL)) != SQLITE_OK)
			return src;
	return sqlite3_create_function_v2(h, "trpt_weeks_agg", 1,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL, NULL,
	    agg_step, agg_final, NULL);
}
