/*
 * The PostgreSQL driver (libpq): the same interface as schema/sql_sqlite.c
 * for a database named by a postgresql:// or postgres:// URI.
 *
 * Statements are written with '?' placeholders; they are numbered $1..$n
 * here (outside string literals, quoted identifiers and comments).  A
 * cached statement is prepared once per connection (PQprepare) on its
 * first run, with the parameter types of its first bindings: an integer is
 * int8, a double float8, a blob bytea (sent in binary), a text or a NULL
 * "unknown" (the server infers the type from the statement).  A later run
 * whose bindings need other types prepares it again.
 *
 * Results come in text format and are held whole (PGresult), so that other
 * statements can run on the connection while one is being read, as the
 * SQLite code does.  The exception is a statement that is not cached and
 * is a plain SELECT (exports and reports: the large reads): it is read
 * through a cursor WITH HOLD, FETCH_ROWS rows at a time, so that memory
 * stays bounded whatever the table holds.  A cursor WITH HOLD survives the
 * end of the transaction it was declared in, as a SQLite read statement
 * does (PostgreSQL keeps what is left of its result).
 *
 * A lost connection (a server restart) gives TRPT_ETEMP; the next
 * statement outside a transaction, or the next BEGIN, connects again, and
 * the cached statements are prepared again on the new connection.  Inside
 * a transaction, every statement fails with TRPT_ETEMP until the caller
 * rolls back: the server already has.
 *
 * Passwords come only from a password file (PGPASSFILE, ~/.pgpass or the
 * URI's passfile=): a URI holding a password is refused, so that it is
 * never shown in messages or process lists, and so is a PGPASSWORD in the
 * environment (libpq would prefer it to the file).
 */

#include "schema/sql_pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "schema/sql_impl.h"

/* Rows a cursor fetches at a time. */
#define FETCH_ROWS 512

/* Parameter type OIDs (pg_type.dat; stable across releases). */
#define OID_BOOL   16
#define OID_BYTEA  17
#define OID_INT8   20
#define OID_TEXT   25
#define OID_FLOAT8 701

/* The most parameters one statement may carry (the protocol's limit). */
#define MAX_PARAMS 65535

struct pg {
	PGconn *c;
	unsigned gen;       /* connection generation: PQreset adds one */
	unsigned long next; /* names of prepared statements and cursors */
	int in_tx;          /* BEGIN sent, no COMMIT or ROLLBACK yet */
	int tx_lost;        /* the connection broke inside that transaction */
	int read_only;      /* the session is read-only (replica, setting) */
	char state[6];      /* SQLSTATE of the last failure since BEGIN */
};

enum kind { K_NULL = 0, K_INT, K_DOUBLE, K_TEXT, K_BLOB };

struct param {
	enum kind kind;
	size_t off, len;  /* K_INT, K_DOUBLE, K_TEXT: in the arena */
	const void *blob; /* K_BLOB: the caller's bytes */
};

struct pg_stmt {
	struct trpt_stmt base;
	char *sql; /* with $1..$n */
	int nparams;
	int bad_index;  /* a bind to a parameter that does not exist */
	int use_cursor; /* an uncached SELECT: read through a cursor */
	struct param *params;
	char *arena; /* text renditions of the bound values */
	size_t arena_len, arena_cap;
	/* Prepared on the connection (named statement). */
	char name[32];
	unsigned prep_gen; /* 0: not prepared; else the generation */
	Oid *types;        /* the types it was prepared with */
	Oid *hint;         /* text for a parameter the server cannot type */
	int runs;          /* executions since it was made */
	/* The current run. */
	PGresult *res;
	int started;     /* executed since the last reset */
	int row;         /* the current row of res (-1 before the first) */
	int last_batch;  /* the cursor's last FETCH returned fewer rows */
	char cursor[32]; /* "" when no cursor is open */
	int64_t changes;
	/* Decoded bytea values of the current row, one per column. */
	unsigned char **dec;
	size_t *dec_len;
	int ndec;
};

static struct pg *
conn(const struct trpt_db *db)
{
	return db->conn;
}

static struct pg_stmt *
pst(struct trpt_stmt *st)
{
	return (struct pg_stmt *)st;
}

/*
 * The trpt_rc for a SQLSTATE: retrying later may succeed after a
 * serialization failure, a deadlock, a lock wait past lock_timeout, a lost
 * connection or a server shutting down or starting up, or too many
 * connections; out of memory is TRPT_ENOMEM; anything else TRPT_EDB.
 */
static int
sqlstate_rc(const char *state)
{
	if (state == NULL)
		return TRPT_EDB;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
	    strcmp(state, "53300") == 0 || strncmp(state, "08", 2) == 0)
		return TRPT_ETEMP;
	if (strcmp(state, "53200") == 0)
		return TRPT_ENOMEM;
	return TRPT_EDB;
}

/* The first line of a libpq message, without "ERROR:  " or "FATAL:  ". */
static void
one_line(const char *msg, char *buf, size_t size)
{
	size_t n;

	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	if (strncmp(msg, "ERROR:  ", 8) == 0 ||
	    strncmp(msg, "FATAL:  ", 8) == 0)
		msg += 8;
	n = strcspn(msg, "\n");
	if (n >= size)
		n = size - 1;
	memcpy(buf, msg, n);
	buf[n] = '\0';
}

/*
 * Fills err after a failed call: res is its result (may be NULL).  what
 * names the operation.
 */
static int
pg_fail(struct trpt_db *db, const PGresult *res, const char *what,
    struct trpt_err *err)
{
	struct pg *p = conn(db);
	const char *state = NULL, *msg = NULL;
	char line[200];
	int code;

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	}
	snprintf(p->state, sizeof(p->state), "%s", state != NULL ? state : "");
	if (PQstatus(p->c) == CONNECTION_BAD) {
		code = TRPT_ETEMP;
		if (p->in_tx)
			p->tx_lost = 1;
		if (msg == NULL)
			msg = PQerrorMessage(p->c);
	} else if (res == NULL) {
		/* libpq returns no result only when it ran out of memory. */
		code = TRPT_ENOMEM;
		msg = "out of memory";
	} else
		code = sqlstate_rc(state);
	if (msg == NULL)
		msg = PQerrorMessage(p->c);
	one_line(msg, line, sizeof(line));
	if (code == TRPT_ETEMP)
		return trpt_err_set(err, code,
		    "database %s: %s: %s (temporary, try again later)",
		    db->path, what, line);
	return trpt_err_set(
	    err, code, "database %s: %s: %s", db->path, what, line);
}

static int
sql_fail(struct trpt_db *db, const PGresult *res, const char *sql,
    struct trpt_err *err)
{
	char what[64];

	return pg_fail(db, res, trpt_sql_what(sql, what, sizeof(what)), err);
}

static int
nomem(struct trpt_db *db, struct trpt_err *err)
{
	return trpt_err_set(
	    err, TRPT_ENOMEM, "database %s: out of memory", db->path);
}

/*
 * sql with each '?' (or '?NNN') outside literals, quoted identifiers and
 * comments replaced by $n.  *nparams is the highest number used.
 * Dollar-quoted bodies ($tag$ ... $tag$) are skipped too.  NULL when out
 * of memory.
 */
/* Whether s starts with IS NULL or IS NOT NULL (after blanks). */
static int
is_null_test(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (strncasecmp(s, "IS", 2) != 0 || (s[2] != ' ' && s[2] != '\n'))
		return 0;
	s += 3;
	while (*s == ' ' || *s == '\n')
		s++;
	if (strncasecmp(s, "NOT", 3) == 0 && (s[3] == ' ' || s[3] == '\n')) {
		s += 4;
		while (*s == ' ' || *s == '\n')
			s++;
	}
	return strncasecmp(s, "NULL", 4) == 0 &&
	       !(s[4] == '_' || (s[4] >= 'a' && s[4] <= 'z') ||
		   (s[4] >= 'A' && s[4] <= 'Z') ||
		   (s[4] >= '0' && s[4] <= '9'));
}

/*
 * As trpt__sql_pg_number_params; *uses (when not NULL) gets one flag
 * byte per '?' of sql, from index 1: USE_OTHER when parameter n is used
 * elsewhere than in "? IS [NOT] NULL", USE_ISNULL when it is used there.
 */
#define USE_OTHER  1
#define USE_ISNULL 2
static char *
number_params(const char *sql, int *nparams, unsigned char **uses)
{
	size_t len = strlen(sql), i, o = 0, q = 0, t;
	int next = 0, max = 0, n;
	unsigned char *use = NULL;
	char *out, quote;

	for (i = 0; i < len; i++)
		if (sql[i] == '?')
			q++;
	if ((out = malloc(len + q * 6 + 1)) == NULL)
		return NULL;
	if (uses != NULL && (use = calloc(q + 1, 1)) == NULL) {
		free(out);
		return NULL;
	}
	for (i = 0; i < len;) {
		char ch = sql[i];

		if (ch == '\'' || ch == '"') {
			/* 'it''s', "a""b", E'\'' (backslash escapes) */
			int esc =
			    ch == '\'' && i > 0 &&
			    (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
			    (i < 2 ||
				!(sql[i - 2] == '_' ||
				    (sql[i - 2] >= 'a' && sql[i - 2] <= 'z') ||
				    (sql[i - 2] >= 'A' && sql[i - 2] <= 'Z') ||
				    (sql[i - 2] >= '0' && sql[i - 2] <= '9')));

			quote = ch;
			out[o++] = sql[i++];
			while (i < len) {
				if (esc && sql[i] == '\\' && i + 1 < len) {
					out[o++] = sql[i++];
					out[o++] = sql[i++];
					continue;
				}
				if (sql[i] == quote) {
					out[o++] = sql[i++];
					if (i < len && sql[i] == quote) {
						out[o++] = sql[i++];
						continue;
					}
					break;
				}
				out[o++] = sql[i++];
			}
			continue;
		}
		if (ch == '-' && i + 1 < len && sql[i + 1] == '-') {
			while (i < len && sql[i] != '\n')
				out[o++] = sql[i++];
			continue;
		}
		if (ch == '/' && i + 1 < len && sql[i + 1] == '*') {
			int depth = 0; /* PostgreSQL nests block comments */

			while (i < len) {
				if (sql[i] == '/' && i + 1 < len &&
				    sql[i + 1] == '*') {
					depth++;
					out[o++] = sql[i++];
				} else if (sql[i] == '*' && i + 1 < len &&
					   sql[i + 1] == '/') {
					depth--;
					out[o++] = sql[i++];
					if (depth == 0) {
						out[o++] = sql[i++];
						break;
					}
				}
				out[o++] = sql[i++];
			}
			continue;
		}
		if (ch == '$') {
			/* $tag$ ... $tag$ (not $1, a parameter already) */
			for (t = i + 1;
			     t < len &&
			     (sql[t] == '_' ||
				 (sql[t] >= 'a' && sql[t] <= 'z') ||
				 (sql[t] >= 'A' && sql[t] <= 'Z') ||
				 (t > i + 1 && sql[t] >= '0' && sql[t] <= '9'));
			     t++)
				;
			if (t < len && sql[t] == '$' &&
			    !(i > 0 &&
				(sql[i - 1] == '_' ||
				    (sql[i - 1] >= 'a' && sql[i - 1] <= 'z') ||
				    (sql[i - 1] >= 'A' && sql[i - 1] <= 'Z') ||
				    (sql[i - 1] >= '0' &&
					sql[i - 1] <= '9')))) {
				size_t taglen = t - i + 1;
				const char *end;

				end = NULL;
				for (size_t k = t + 1; k + taglen <= len; k++)
					if (memcmp(sql + k, sql + i, taglen) ==
					    0) {
						end = sql + k;
						break;
					}
				t = end != NULL ? (size_t)(end - sql) + taglen
						: len;
				memcpy(out + o, sql + i, t - i);
				o += t - i;
				i = t;
				continue;
			}
		}
		if (ch == '?') {
			i++;
			if (i < len && sql[i] >= '0' && sql[i] <= '9') {
				n = 0;
				while (i < len && sql[i] >= '0' &&
				       sql[i] <= '9' && n <= MAX_PARAMS)
					n = n * 10 + (sql[i++] - '0');
			} else
				n = ++next;
			if (n > MAX_PARAMS || n < 1) {
				free(out);
				free(use);
				return NULL;
			}
			if (n > max)
				max = n;
			if (use != NULL && (size_t)n <= q)
				use[n] |= is_null_test(sql + i) ? USE_ISNULL
								: USE_OTHER;
			o += (size_t)snprintf(out + o, 8, "$%d", n);
			continue;
		}
		out[o++] = sql[i++];
	}
	out[o] = '\0';
	*nparams = max;
	if (uses != NULL)
		*uses = use;
	return out;
}

char *
trpt__sql_pg_number_params(const char *sql, int *nparams)
{
	return number_params(sql, nparams, NULL);
}

/* Whether sql is a plain SELECT that a cursor WITH HOLD may run. */
static int
cursor_fits(const char *sql)
{
	const char *p = sql, *f;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '(')
		p++;
	if (strncasecmp(p, "SELECT", 6) != 0)
		return 0;
	/* Row locks are not allowed in a cursor WITH HOLD. */
	for (f = p; (f = strstr(f, "FOR ")) != NULL; f += 4)
		if (strncmp(f + 4, "UPDATE", 6) == 0 ||
		    strncmp(f + 4, "SHARE", 5) == 0 ||
		    strncmp(f + 4, "NO KEY", 6) == 0 ||
		    strncmp(f + 4, "KEY SHARE", 9) == 0)
			return 0;
	return 1;
}

/* Runs a statement without parameters and returns its result. */
static PGresult *
simple(struct pg *p, const char *sql)
{
	return PQexec(p->c, sql);
}

static int
res_ok(const PGresult *res)
{
	ExecStatusType s =
	    res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* Settings of the session, again after a new connection. */
static int
session_setup(struct trpt_db *db, struct trpt_err *err)
{
	struct pg *p = conn(db);
	char sql[96];
	PGresult *res;
	int rc = TRPT_OK;

	/*
	 * lock_timeout is SQLite's busy timeout: a lock held elsewhere for
	 * longer gives lock_not_available (55P03), TRPT_ETEMP.  0 in
	 * PostgreSQL waits forever, hence 1 ms for "do not wait".  UTC and
	 * UTF-8 whatever the server's defaults.
	 */
	snprintf(sql, sizeof(sql),
	    "SET lock_timeout = %d; SET client_encoding = 'UTF8'; "
	    "SET TimeZone = 'UTC'",
	    db->busy_ms > 0 ? db->busy_ms : 1);
	res = simple(p, sql);
	if (!res_ok(res))
		rc = pg_fail(db, res, "setting up the session", err);
	PQclear(res);
	if (rc != TRPT_OK)
		return rc;
	res = simple(p, "SHOW transaction_read_only");
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1)
		p->read_only = strcmp(PQgetvalue(res, 0, 0), "on") == 0;
	else
		rc = pg_fail(db, res, "setting up the session", err);
	PQclear(res);
	return rc;
}

/*
 * A message for a failed connection.  libpq gives no SQLSTATE for it:
 * the server being down, starting up, shutting down or full is temporary,
 * anything else (authentication, no such database, TLS verification) is
 * not.
 */
static int
connect_fail(struct trpt_db *db, struct trpt_err *err)
{
	const char *msg = PQerrorMessage(conn(db)->c);
	static const char *const temporary[] = { "Connection refused",
		"could not connect", "timeout expired", "starting up",
		"shutting down", "in recovery mode", "too many clients",
		"closed the connection", "Connection reset", "No route to host",
		"Network is unreachable", "could not translate host name" };
	char line[200];
	size_t i;

	one_line(msg, line, sizeof(line));
	/* "connection to server at ... failed: REASON": keep the reason. */
	for (i = 0; i < sizeof(temporary) / sizeof(temporary[0]); i++)
		if (strstr(msg, temporary[i]) != NULL)
			return trpt_err_set(err, TRPT_ETEMP,
			    "database %s: cannot connect: %s (temporary, try "
			    "again later)",
			    db->path, line);
	if (strstr(msg, "does not exist") != NULL &&
	    strstr(msg, "database") != NULL)
		return trpt_err_set(err, TRPT_ENOTFOUND,
		    "database %s: cannot connect: %s", db->path, line);
	return trpt_err_set(
	    err, TRPT_EDB, "database %s: cannot connect: %s", db->path, line);
}

/*
 * Connects again after the connection broke, outside a transaction: the
 * cached statements are prepared again on first use (gen).
 */
static int
reconnect(struct trpt_db *db, struct trpt_err *err)
{
	struct pg *p = conn(db);

	if (PQstatus(p->c) != CONNECTION_BAD)
		return TRPT_OK;
	if (p->tx_lost)
		return trpt_err_set(err, TRPT_ETEMP,
		    "database %s: the connection was lost in a transaction, "
		    "which the server rolled back (temporary, try again later)",
		    db->path);
	PQreset(p->c);
	p->gen++;
	if (p->gen == 0)
		p->gen = 1;
	if (PQstatus(p->c) != CONNECTION_OK)
		return connect_fail(db, err);
	return session_setup(db, err);
}

/*
 * The name to show for the URI: postgresql://user@host:port/dbname, never
 * the password or other parameters.  Refuses a password in the URI.
 */
static int
display_name(const char *uri, char **out, struct trpt_err *err)
{
	PQconninfoOption *opts, *o;
	const char *user = NULL, *host = NULL, *port = NULL, *dbname = NULL;
	char *errmsg = NULL, line[160];
	size_t n;
	int rc = TRPT_OK;

	opts = PQconninfoParse(uri, &errmsg);
	if (opts == NULL) {
		one_line(errmsg, line, sizeof(line));
		PQfreemem(errmsg);
		/* The URI may hold a password: show only its scheme. */
		return trpt_err_set(err, TRPT_EINVAL,
		    "database %.16s...: not a valid PostgreSQL URI: %s",
		    strncmp(uri, "postgres://", 11) == 0 ? "postgres://"
							 : "postgresql://",
		    line);
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "user") == 0)
			user = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0 && host == NULL)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
		else if (strcmp(o->keyword, "password") == 0 &&
			 o->val[0] != '\0')
			rc = TRPT_EINVAL;
	}
	n = 32 + (user ? strlen(user) : 0) + (host ? strlen(host) : 0) +
	    (port ? strlen(port) : 0) + (dbname ? strlen(dbname) : 0);
	if (rc == TRPT_OK && (*out = malloc(n)) == NULL)
		rc = TRPT_ENOMEM;
	if (rc == TRPT_OK)
		snprintf(*out, n, "postgresql://%s%s%s%s%s/%s",
		    user ? user : "", user ? "@" : "", host ? host : "",
		    port ? ":" : "", port ? port : "", dbname ? dbname : "");
	else if (rc == TRPT_ENOMEM)
		trpt_err_set(err, rc, "database: out of memory");
	else
		trpt_err_set(err, rc,
		    "database postgresql://%s%s%s/%s: the URI holds a "
		    "password, which would show in process lists and "
		    "configuration: put it in a password file (PGPASSFILE, "
		    "~/.pgpass, or passfile= in the URI)",
		    user ? user : "", user ? "@" : "", host ? host : "",
		    dbname ? dbname : "");
	PQconninfoFree(opts);
	return rc;
}

static void
no_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int
pg_open(struct trpt_db *db, int existing, struct trpt_err *err)
{
	/*
	 * The URI is expanded as dbname.  A connection attempt gives up
	 * after 10 s unless the URI says otherwise (connect_timeout comes
	 * before dbname, so the URI's wins).
	 */
	const char *keys[] = { "connect_timeout", "dbname",
		"fallback_application_name", NULL };
	const char *vals[] = { "10", db->path, "tlsrpt-collector", NULL };
	const char *env = getenv("PGPASSWORD");
	struct pg *p;
	char *name = NULL;
	int rc;

	(void)existing; /* a database that does not exist fails to connect */
	if ((rc = display_name(db->path, &name, err)) != TRPT_OK)
		return rc;
	/* libpq would take it before the password file, and it shows in
	 * /proc/PID/environ: refused, as a password in the URI is. */
	if (env != NULL && env[0] != '\0') {
		rc = trpt_err_set(err, TRPT_EINVAL,
		    "database %s: PGPASSWORD is set, but passwords are taken "
		    "only from a password file (PGPASSFILE, ~/.pgpass, or "
		    "passfile= in the URI): unset it",
		    name);
		free(name);
		return rc;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		free(name);
		return nomem(db, err);
	}
	db->conn = p;
	p->gen = 1;
	p->c = PQconnectdbParams(keys, vals, 1);
	/* From here on, messages show the name (db->path held the URI). */
	vals[1] = NULL;
	free(db->path);
	db->path = name;
	if (p->c == NULL)
		return nomem(db, err);
	if (PQstatus(p->c) != CONNECTION_OK)
		return connect_fail(db, err);
	/* libpq prints the server's notices on stderr; a library must not
	 * (the NOTICE of CREATE TABLE IF NOT EXISTS, say). */
	PQsetNoticeProcessor(p->c, no_notice, NULL);
	return session_setup(db, err);
}

static void
pg_close(struct trpt_db *db)
{
	struct pg *p = conn(db);

	if (p == NULL)
		return;
	PQfinish(p->c);
	free(p);
	db->conn = NULL;
}

static int
pg_read_only(struct trpt_db *db)
{
	return conn(db)->read_only;
}

static void
pg_set_busy_timeout(struct trpt_db *db, int ms)
{
	struct pg *p = conn(db);
	char sql[64];

	db->busy_ms = ms;
	if (p == NULL || PQstatus(p->c) != CONNECTION_OK)
		return;
	snprintf(sql, sizeof(sql), "SET lock_timeout = %d", ms > 0 ? ms : 1);
	PQclear(simple(p, sql));
}

static int
pg_prepare(struct trpt_db *db, const char *sql, int cached,
    struct trpt_stmt **out, struct trpt_err *err)
{
	struct pg_stmt *st;
	unsigned char *uses = NULL;
	char what[64];
	size_t nq = 1;
	const char *q;
	int i;

	for (q = sql; *q != '\0'; q++)
		nq += *q == '?';
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return nomem(db, err);
	st->base.db = db;
	st->base.sql = sql;
	st->base.cached = cached;
	st->row = -1;
	st->sql = number_params(sql, &st->nparams, &uses);
	if (st->sql == NULL) {
		free(st);
		return trpt_err_set(err, TRPT_EDB,
		    "database %s: %s: out of memory or a parameter number "
		    "out of range",
		    db->path, trpt_sql_what(sql, what, sizeof(what)));
	}
	if (st->nparams > 0) {
		st->params = calloc((size_t)st->nparams, sizeof(*st->params));
		st->types = calloc((size_t)st->nparams, sizeof(*st->types));
		st->hint = calloc((size_t)st->nparams, sizeof(*st->hint));
		if (st->params == NULL || st->types == NULL ||
		    st->hint == NULL) {
			free(st->params);
			free(st->types);
			free(st->hint);
			free(st->sql);
			free(st);
			free(uses);
			return nomem(db, err);
		}
		/*
		 * "? IS NULL" alone leaves PostgreSQL no type to infer for the
		 * parameter (42P18, an error that would abort a transaction):
		 * one only tested so is sent as text unless bound otherwise.
		 */
		for (i = 1; i <= st->nparams && uses != NULL; i++)
			if ((size_t)i < nq && uses[i] == USE_ISNULL)
				st->hint[i - 1] = OID_TEXT;
	}
	free(uses);
	st->use_cursor = !cached && cursor_fits(st->sql);
	*out = &st->base;
	return TRPT_OK;
}

static void
clear_decoded(struct pg_stmt *st)
{
	int i;

	for (i = 0; i < st->ndec; i++) {
		free(st->dec[i]);
		st->dec[i] = NULL;
	}
}

/* Ends the current run: its result, its cursor. */
static void
end_run(struct pg_stmt *st)
{
	struct pg *p = conn(st->base.db);
	char sql[48];

	clear_decoded(st);
	PQclear(st->res);
	st->res = NULL;
	if (st->cursor[0] != '\0') {
		if (PQstatus(p->c) == CONNECTION_OK &&
		    PQtransactionStatus(p->c) != PQTRANS_INERROR) {
			snprintf(sql, sizeof(sql), "CLOSE %s", st->cursor);
			PQclear(simple(p, sql));
		}
		st->cursor[0] = '\0';
	}
	st->started = 0;
	st->row = -1;
	st->last_batch = 0;
}

static void
pg_reset(struct trpt_stmt *base)
{
	struct pg_stmt *st = pst(base);
	int i;

	end_run(st);
	for (i = 0; i < st->nparams; i++)
		st->params[i].kind = K_NULL;
	st->arena_len = 0;
	st->bad_index = 0;
}

static void
pg_finalize(struct trpt_stmt *base)
{
	struct pg_stmt *st = pst(base);
	struct pg *p = conn(base->db);
	char sql[48];

	end_run(st);
	/* Cached statements go with the connection (trpt_db_close). */
	if (!base->cached && st->prep_gen == p->gen &&
	    PQstatus(p->c) == CONNECTION_OK &&
	    PQtransactionStatus(p->c) != PQTRANS_INERROR) {
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", st->name);
		PQclear(simple(p, sql));
	}
	free(st->dec);
	free(st->dec_len);
	free(st->arena);
	free(st->params);
	free(st->types);
	free(st->hint);
	free(st->sql);
	free(st);
}

/* The parameter for index i (from 1), or NULL (remembered for step). */
static struct param *
param(struct pg_stmt *st, int i)
{
	if (i < 1 || i > st->nparams) {
		st->bad_index = i;
		return NULL;
	}
	return &st->params[i - 1];
}

/* Copies len bytes and a NUL into the arena; its offset in *off. */
static int
arena_put(struct pg_stmt *st, const char *s, size_t len, size_t *off)
{
	size_t cap;
	char *grown;

	if (st->arena_len + len + 1 > st->arena_cap) {
		cap = st->arena_cap ? st->arena_cap : 256;
		while (cap < st->arena_len + len + 1)
			cap *= 2;
		if ((grown = realloc(st->arena, cap)) == NULL)
			return -1;
		st->arena = grown;
		st->arena_cap = cap;
	}
	memcpy(st->arena + st->arena_len, s, len);
	st->arena[st->arena_len + len] = '\0';
	*off = st->arena_len;
	st->arena_len += len + 1;
	return 0;
}

static void
bind_copy(
    struct trpt_stmt *base, int i, enum kind kind, const char *s, size_t len)
{
	struct pg_stmt *st = pst(base);
	struct param *pa = param(st, i);

	if (pa == NULL)
		return;
	if (arena_put(st, s, len, &pa->off) != 0) {
		st->bad_index = -1; /* out of memory */
		return;
	}
	pa->kind = kind;
	pa->len = len;
}

static void
pg_bind_int(struct trpt_stmt *st, int i, int64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);

	bind_copy(st, i, K_INT, buf, (size_t)n);
}

static void
pg_bind_double(struct trpt_stmt *st, int i, double v)
{
	char buf[40];
	int n = snprintf(buf, sizeof(buf), "%.17g", v);

	bind_copy(st, i, K_DOUBLE, buf, (size_t)n);
}

static void
pg_bind_text(struct trpt_stmt *st, int i, const char *s, size_t len)
{
	/* Copied: libpq reads a text parameter up to its NUL. */
	bind_copy(st, i, K_TEXT, s, len);
}

static void
pg_bind_blob(struct trpt_stmt *base, int i, const void *p, size_t len)
{
	struct param *pa = param(pst(base), i);

	if (pa == NULL)
		return;
	pa->kind = K_BLOB;
	pa->blob = len ? p : "";
	pa->len = len;
}

static void
pg_bind_null(struct trpt_stmt *base, int i)
{
	struct param *pa = param(pst(base), i);

	if (pa != NULL)
		pa->kind = K_NULL;
}

static Oid
kind_type(enum kind k)
{
	switch (k) {
	case K_INT:
		return OID_INT8;
	case K_DOUBLE:
		return OID_FLOAT8;
	case K_BLOB:
		return OID_BYTEA;
	default:
		return 0;
	}
}

/*
 * One attempt at running st with the parameter types tp: a cursor
 * declared (its DECLARE's result), a prepared statement (prepared again
 * when the types moved), or an unnamed one.  *skip is the length of what
 * precedes st->sql in the text sent (for error positions).
 */
static PGresult *
run_once(struct pg_stmt *st, const Oid *tp, const char *const *vp,
    const int *lp, const int *fp, size_t *skip)
{
	struct pg *p = conn(st->base.db);
	PGresult *res;
	char sql[64], *decl;
	size_t dlen;
	int i, n = st->nparams, same;

	*skip = 0;
	if (st->use_cursor) {
		snprintf(
		    st->cursor, sizeof(st->cursor), "trpt_c%lu", ++p->next);
		dlen = strlen(st->sql) + 64;
		if ((decl = malloc(dlen)) == NULL)
			return NULL;
		*skip = (size_t)snprintf(decl, dlen,
		    "DECLARE %s NO SCROLL CURSOR WITH HOLD FOR ", st->cursor);
		memcpy(decl + *skip, st->sql, strlen(st->sql) + 1);
		res = PQexecParams(p->c, decl, n, tp, vp, lp, fp, 0);
		free(decl);
		return res;
	}
	if (!st->base.cached && st->runs == 0)
		return PQexecParams(p->c, st->sql, n, tp, vp, lp, fp, 0);
	/* Prepared once per connection, again if the types moved. */
	same = st->prep_gen == p->gen;
	for (i = 0; same && i < n; i++)
		if (tp[i] != 0 && tp[i] != st->types[i])
			same = 0;
	if (!same) {
		if (st->prep_gen == p->gen) {
			snprintf(sql, sizeof(sql), "DEALLOCATE %s", st->name);
			PQclear(simple(p, sql));
		}
		st->prep_gen = 0;
		for (i = 0; i < n; i++)
			if (tp[i] != 0)
				st->types[i] = tp[i];
		snprintf(st->name, sizeof(st->name), "trpt_s%lu", ++p->next);
		res = PQprepare(p->c, st->name, st->sql, n, st->types);
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
			return res;
		PQclear(res);
		st->prep_gen = p->gen;
	}
	return PQexecPrepared(p->c, st->name, n, vp, lp, fp, 0);
}

/*
 * The number of the parameter an indeterminate_datatype error (42P18)
 * names, or 0.  Its position (characters of the text sent, skip bytes of
 * which came before st->sql) points at it when the server gives one;
 * else the message names it ("... of parameter $N", which translations
 * keep).
 */
static int
indeterminate(const struct pg_stmt *st, const PGresult *res, size_t skip)
{
	const char *state, *pos, *q = NULL, *msg;
	long chars;
	int n = 0;

	if (res == NULL)
		return 0;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state == NULL || strcmp(state, "42P18") != 0)
		return 0;
	pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	if (pos != NULL) {
		chars = strtol(pos, NULL, 10) - 1 - (long)skip;
		for (q = st->sql; *q != '\0' && chars > 0; q++)
			if (((unsigned char)q[1] & 0xc0) != 0x80)
				chars--;
		if (chars != 0 || *q != '$')
			q = NULL;
	}
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (q == NULL && msg != NULL)
		q = strrchr(msg, '$');
	if (q == NULL)
		return 0;
	for (q++; *q >= '0' && *q <= '9' && n <= MAX_PARAMS; q++)
		n = n * 10 + (*q - '0');
	return n <= st->nparams ? n : 0;
}

/* Runs st once with its bindings; the result in st->res. */
static int
execute(struct pg_stmt *st, struct trpt_err *err)
{
	struct trpt_db *db = st->base.db;
	struct pg *p = conn(db);
	const char *values[64], **vp = values;
	int lengths[64], formats[64], *lp = lengths, *fp = formats;
	Oid types[64], *tp = types;
	PGresult *res = NULL;
	const char *cmd;
	char sql[64];
	int i, n = st->nparams, rc = TRPT_OK, tries;
	size_t skip = 0;

	if (st->bad_index != 0)
		return st->bad_index < 0
			   ? nomem(db, err)
			   : trpt_err_set(err, TRPT_EDB,
				 "database %s: %s: no parameter %d (it has %d)",
				 db->path,
				 trpt_sql_what(st->base.sql, sql, sizeof(sql)),
				 st->bad_index, n);
	if (p->in_tx && p->tx_lost)
		return reconnect(db, err);
	if (!p->in_tx && (rc = reconnect(db, err)) != TRPT_OK)
		return rc;
	if (n > 64) {
		vp = calloc((size_t)n, sizeof(*vp));
		lp = calloc((size_t)n, sizeof(*lp));
		fp = calloc((size_t)n, sizeof(*fp));
		tp = calloc((size_t)n, sizeof(*tp));
		if (vp == NULL || lp == NULL || fp == NULL || tp == NULL) {
			rc = nomem(db, err);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		struct param *pa = &st->params[i];

		tp[i] = kind_type(pa->kind);
		fp[i] = pa->kind == K_BLOB;
		lp[i] = (int)pa->len;
		if (pa->kind == K_NULL)
			vp[i] = NULL;
		else if (pa->kind == K_BLOB)
			vp[i] = pa->blob;
		else
			vp[i] = st->arena + pa->off;
		if (pa->kind == K_BLOB && pa->len > (size_t)INT32_MAX) {
			rc = trpt_err_set(err, TRPT_ELIMIT,
			    "database %s: %s: a value of %zu bytes is too "
			    "large",
			    db->path,
			    trpt_sql_what(st->base.sql, sql, sizeof(sql)),
			    pa->len);
			goto out;
		}
	}
	for (i = 0; i < n; i++)
		if (tp[i] == 0)
			tp[i] = st->hint[i];
	for (tries = 0;; tries++) {
		res = run_once(st, tp, vp, lp, fp, &skip);
		if (res_ok(res))
			break;
		/* A parameter the server could not type (say "? = ?"):
		 * again with that one as text, as SQLite takes it, unless
		 * the failure aborted the caller's transaction. */
		i = indeterminate(st, res, skip);
		if (i < 1 || tries >= n || tp[i - 1] != 0 ||
		    PQtransactionStatus(p->c) != PQTRANS_IDLE)
			break;
		st->hint[i - 1] = OID_TEXT;
		tp[i - 1] = OID_TEXT;
		PQclear(res);
		res = NULL;
	}
	if (res_ok(res) && st->use_cursor) {
		PQclear(res);
		snprintf(sql, sizeof(sql), "FETCH %d FROM %s", FETCH_ROWS,
		    st->cursor);
		res = PQexec(p->c, sql);
	} else if (!res_ok(res))
		st->cursor[0] = '\0';
	st->runs++;
	if (!res_ok(res)) {
		rc = sql_fail(db, res, st->base.sql, err);
		goto out;
	}
	st->res = res;
	res = NULL;
	st->last_batch = st->use_cursor && PQntuples(st->res) < FETCH_ROWS;
	/* Rows changed, with or without RETURNING (not rows selected). */
	cmd = PQcmdStatus(st->res);
	st->changes = strncmp(cmd, "INSERT", 6) == 0 ||
			      strncmp(cmd, "UPDATE", 6) == 0 ||
			      strncmp(cmd, "DELETE", 6) == 0 ||
			      strncmp(cmd, "MERGE", 5) == 0
			  ? strtoll(PQcmdTuples(st->res), NULL, 10)
			  : 0;
out:
	PQclear(res);
	if (vp != values) {
		free(vp);
		free(lp);
		free(fp);
		free(tp);
	}
	return rc;
}

static int
pg_step(struct trpt_stmt *base, struct trpt_err *err)
{
	struct pg_stmt *st = pst(base);
	struct pg *p = conn(base->db);
	char sql[64];
	int rc;

	if (!st->started) {
		st->started = 1;
		if ((rc = execute(st, err)) != TRPT_OK) {
			end_run(st);
			st->started = 1;
			return rc;
		}
	}
	if (st->res == NULL)
		return 0;
	clear_decoded(st);
	if (st->row + 1 < PQntuples(st->res)) {
		st->row++;
		return 1;
	}
	if (st->cursor[0] == '\0' || st->last_batch)
		return 0;
	/* The next rows of the cursor. */
	PQclear(st->res);
	snprintf(sql, sizeof(sql), "FETCH %d FROM %s", FETCH_ROWS, st->cursor);
	st->res = PQexec(p->c, sql);
	if (st->res == NULL || PQresultStatus(st->res) != PGRES_TUPLES_OK) {
		rc = sql_fail(base->db, st->res, base->sql, err);
		PQclear(st->res);
		st->res = NULL;
		return rc;
	}
	st->last_batch = PQntuples(st->res) < FETCH_ROWS;
	st->row = -1;
	if (PQntuples(st->res) == 0)
		return 0;
	st->row = 0;
	return 1;
}

static int
has_value(struct pg_stmt *st, int col)
{
	return st->res != NULL && st->row >= 0 &&
	       st->row < PQntuples(st->res) && col >= 0 &&
	       col < PQnfields(st->res) && !PQgetisnull(st->res, st->row, col);
}

static int
pg_columns(struct trpt_stmt *base)
{
	struct pg_stmt *st = pst(base);

	return st->res != NULL ? PQnfields(st->res) : 0;
}

static int
pg_is_null(struct trpt_stmt *base, int col)
{
	return !has_value(pst(base), col);
}

static int64_t
pg_col_int(struct trpt_stmt *base, int col)
{
	struct pg_stmt *st = pst(base);
	const char *s;
	char *end;
	long long v;
	double d;

	if (!has_value(st, col))
		return 0;
	s = PQgetvalue(st->res, st->row, col);
	if (PQftype(st->res, col) == OID_BOOL)
		return s[0] == 't';
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end == '.' || *end == 'e' || *end == 'E' || errno == ERANGE) {
		/* numeric or float: truncated as SQLite does, clamped */
		d = strtod(s, NULL);
		if (d >= 9223372036854775807.0)
			return INT64_MAX;
		if (d <= -9223372036854775808.0)
			return INT64_MIN;
		return (int64_t)d;
	}
	return (int64_t)v;
}

static double
pg_col_double(struct trpt_stmt *base, int col)
{
	struct pg_stmt *st = pst(base);
	const char *s;

	if (!has_value(st, col))
		return 0.0;
	s = PQgetvalue(st->res, st->row, col);
	if (PQftype(st->res, col) == OID_BOOL)
		return s[0] == 't' ? 1.0 : 0.0;
	return strtod(s, NULL);
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The bytes of a bytea column of the current row, decoded from the hex
 * text format ("\x..." since PostgreSQL 9.0) into a buffer that lives
 * until the next step, with a NUL after them.  NULL when out of memory.
 */
static const unsigned char *
decoded(struct pg_stmt *st, int col, size_t *len)
{
	const char *s = PQgetvalue(st->res, st->row, col);
	size_t n = (size_t)PQgetlength(st->res, st->row, col), i;
	unsigned char *buf, **dec;
	size_t *dlen;
	int nf = PQnfields(st->res), j;

	if (st->ndec < nf) {
		dec = realloc(st->dec, (size_t)nf * sizeof(*dec));
		if (dec == NULL)
			return NULL;
		st->dec = dec;
		dlen = realloc(st->dec_len, (size_t)nf * sizeof(*dlen));
		if (dlen == NULL)
			return NULL;
		st->dec_len = dlen;
		for (j = st->ndec; j < nf; j++)
			st->dec[j] = NULL;
		st->ndec = nf;
	}
	if (st->dec[col] != NULL) {
		*len = st->dec_len[col];
		return st->dec[col];
	}
	if (n < 2 || s[0] != '\\' || s[1] != 'x') {
		/* bytea_output = escape: libpq's own decoder */
		size_t m;
		unsigned char *u =
		    PQunescapeBytea((const unsigned char *)s, &m);

		if (u == NULL || (buf = malloc(m + 1)) == NULL) {
			PQfreemem(u);
			return NULL;
		}
		memcpy(buf, u, m);
		buf[m] = '\0';
		PQfreemem(u);
		st->dec[col] = buf;
		st->dec_len[col] = m;
		*len = m;
		return buf;
	}
	if ((buf = malloc((n - 2) / 2 + 1)) == NULL)
		return NULL;
	for (i = 2; i + 1 < n; i += 2) {
		int hi = hexval((unsigned char)s[i]);
		int lo = hexval((unsigned char)s[i + 1]);

		buf[(i - 2) / 2] =
		    (unsigned char)((hi < 0 ? 0 : hi) << 4 | (lo < 0 ? 0 : lo));
	}
	buf[(n - 2) / 2] = '\0';
	st->dec[col] = buf;
	st->dec_len[col] = (n - 2) / 2;
	*len = (n - 2) / 2;
	return buf;
}

static const char *
pg_col_text(struct trpt_stmt *base, int col, size_t *len)
{
	struct pg_stmt *st = pst(base);
	const unsigned char *b;
	size_t n = 0;

	if (!has_value(st, col)) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (PQftype(st->res, col) == OID_BYTEA) {
		/* SQLite reads a blob as text byte for byte. */
		b = decoded(st, col, &n);
		if (len != NULL)
			*len = b ? n : 0;
		return (const char *)b;
	}
	if (len != NULL)
		*len = (size_t)PQgetlength(st->res, st->row, col);
	return PQgetvalue(st->res, st->row, col);
}

static const void *
pg_col_blob(struct trpt_stmt *base, int col, size_t *len)
{
	struct pg_stmt *st = pst(base);
	const unsigned char *b;
	size_t n = 0;

	if (!has_value(st, col)) {
		*len = 0;
		return NULL;
	}
	if (PQftype(st->res, col) != OID_BYTEA) {
		*len = (size_t)PQgetlength(st->res, st->row, col);
		return PQgetvalue(st->res, st->row, col);
	}
	b = decoded(st, col, &n);
	*len = b ? n : 0;
	return b;
}

static int64_t
pg_changes(struct trpt_stmt *base)
{
	return pst(base)->changes;
}

static int
pg_exec(struct trpt_db *db, const char *sql, struct trpt_err *err)
{
	struct pg *p = conn(db);
	PGresult *res;
	int rc = TRPT_OK;

	if (p->in_tx && p->tx_lost)
		return reconnect(db, err);
	if (!p->in_tx && (rc = reconnect(db, err)) != TRPT_OK)
		return rc;
	/* The simple query protocol runs several statements in one go. */
	res = PQexec(p->c, sql);
	if (!res_ok(res))
		rc = sql_fail(db, res, sql, err);
	PQclear(res);
	return rc;
}

int
trpt__sql_pg_conflict(const struct trpt_db *db)
{
	const struct pg *p = conn(db);

	return p != NULL && (strcmp(p->state, "40P01") == 0 ||
				strcmp(p->state, "40001") == 0);
}

static int
pg_in_transaction(struct trpt_db *db)
{
	PGTransactionStatusType s = PQtransactionStatus(conn(db)->c);

	return s == PQTRANS_INTRANS || s == PQTRANS_INERROR ||
	       s == PQTRANS_ACTIVE;
}

static int
pg_begin(struct trpt_db *db, struct trpt_err *err)
{
	struct pg *p = conn(db);
	PGresult *res;
	int rc = TRPT_OK;

	if (p->in_tx && !p->tx_lost && pg_in_transaction(db))
		return trpt_err_set(err, TRPT_EDB,
		    "database %s: BEGIN: a transaction is already open",
		    db->path);
	p->in_tx = 0;
	p->tx_lost = 0;
	p->state[0] = '\0';
	if ((rc = reconnect(db, err)) != TRPT_OK)
		return rc;
	res = simple(p, "BEGIN");
	if (!res_ok(res) && PQstatus(p->c) == CONNECTION_BAD) {
		/* The server went away while the connection was idle (a
		 * restart): BEGIN did nothing, so connect again and retry. */
		PQclear(res);
		res = NULL;
		if ((rc = reconnect(db, err)) != TRPT_OK)
			return rc;
		res = simple(p, "BEGIN");
	}
	if (!res_ok(res))
		rc = pg_fail(db, res, "BEGIN", err);
	else
		p->in_tx = 1;
	PQclear(res);
	return rc;
}

static void
pg_rollback(struct trpt_db *db)
{
	struct pg *p = conn(db);

	if (PQstatus(p->c) == CONNECTION_OK && pg_in_transaction(db))
		PQclear(simple(p, "ROLLBACK"));
	p->in_tx = 0;
	p->tx_lost = 0;
}

static int
pg_commit(struct trpt_db *db, struct trpt_err *err)
{
	struct pg *p = conn(db);
	PGresult *res;
	int rc = TRPT_OK;

	if (p->tx_lost) {
		rc = reconnect(db, err);
		pg_rollback(db);
		return rc;
	}
	/* PostgreSQL only warns about a COMMIT outside a transaction; it is
	 * an error here, as in SQLite (nothing that was meant was stored). */
	if (!pg_in_transaction(db))
		return trpt_err_set(err, TRPT_EDB,
		    "database %s: COMMIT: no transaction is active", db->path);
	res = simple(p, "COMMIT");
	if (!res_ok(res))
		rc = pg_fail(db, res, "COMMIT", err);
	else if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
		/* COMMIT of a transaction that had failed rolls it back. */
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: COMMIT: the transaction had failed and was "
		    "rolled back",
		    db->path);
	PQclear(res);
	if (rc != TRPT_OK)
		pg_rollback(db);
	p->in_tx = 0;
	p->tx_lost = 0;
	return rc;
}

const struct trpt_sql_ops trpt_sql_pg_ops = {
	.dialect = TRPT_SQL_PG,
	.open = pg_open,
	.close = pg_close,
	.read_only = pg_read_only,
	.set_busy_timeout = pg_set_busy_timeout,
	.prepare = pg_prepare,
	.finalize = pg_finalize,
	.bind_int = pg_bind_int,
	.bind_double = pg_bind_double,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.reset = pg_reset,
	.columns = pg_columns,
	.is_null = pg_is_null,
	.col_int = pg_col_int,
	.col_double = pg_col_double,
	.col_text = pg_col_text,
	.col_blob = pg_col_blob,
	.changes = pg_changes,
	.exec = pg_exec,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.in_transaction = pg_in_transaction,
};
