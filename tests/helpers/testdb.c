#include "tests/helpers/testdb.h"

#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "schema/db.h"
#include "schema/sql.h"

/* The databases this process created and has not dropped yet. */
#define MAX_CREATED 1024
static char *created[MAX_CREATED];
static int exit_hook;

static const char *
pg_url(void)
{
	const char *url = getenv("TRPT_TEST_PG");
	const char *backend = getenv("TRPT_TEST_BACKEND");

	if (url != NULL && *url != '\0')
		return url;
	if (backend != NULL && strcmp(backend, "pg") == 0)
		fail_msg("the pg test setup needs TRPT_TEST_PG (the conninfo "
			 "printed by sh tools/pgcluster.sh start DIR)");
	return NULL;
}

int
trpt_test_db_pg(void)
{
	return pg_url() != NULL;
}

/*
 * The offset of the database in a postgresql:// URL: after the first '/'
 * that follows "scheme://host[:port]" (or where that '/' would go).
 */
static size_t
db_offset(const char *url)
{
	size_t i = strcspn(url, ":");

	if (strncmp(url + i, "://", 3) != 0)
		fail_msg("TRPT_TEST_PG is not a postgresql:// URL: %s", url);
	i += 3;
	i += strcspn(url + i, "/?");
	return i;
}

/* url with its database replaced by name. */
static char *
url_with_db(const char *url, const char *name)
{
	size_t at = db_offset(url);
	size_t rest = at + (url[at] == '/' ? 1 : 0);
	size_t n;
	char *out;

	rest += strcspn(url + rest, "?");
	n = at + 1 + strlen(name) + strlen(url + rest) + 1;
	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%.*s/%s%s", (int)at, url, name, url + rest);
	return out;
}

/* The database name of a URL from url_with_db. */
static void
db_of_url(const char *url, char *name, size_t size)
{
	size_t at = db_offset(url);

	name[0] = '\0';
	if (url[at] == '/')
		snprintf(name, size, "%.*s", (int)strcspn(url + at + 1, "?"),
		    url + at + 1);
}

/* Runs one statement on the server's maintenance database. */
static int
admin_exec(const char *sql, char *msg, size_t size)
{
	PGconn *c = PQconnectdb(pg_url());
	PGresult *r;
	int ok;

	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(msg, size, "%s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		snprintf(msg, size, "%s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

static void
drop_name(const char *name)
{
	char sql[256], msg[512];

	snprintf(sql, sizeof(sql),
	    "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
	if (admin_exec(sql, msg, sizeof(msg)) != 0)
		fprintf(stderr, "# testdb: could not drop %s: %s\n", name, msg);
}

static void
drop_all(void)
{
	int i;

	for (i = 0; i < MAX_CREATED; i++) {
		if (created[i] != NULL) {
			drop_name(created[i]);
			free(created[i]);
			created[i] = NULL;
		}
	}
}

/*
 * CREATE DATABASE, a copy of template (NULL: the server's template1),
 * with a unique name into name; it is dropped at the latest at exit.
 * FILE_COPY copies the template's files: on PostgreSQL 15 about twice as
 * fast as the default WAL_LOG for databases this small (servers before
 * 15 know only that way and take the statement without STRATEGY).
 */
static void
create_db(const char *template, char *name, size_t size)
{
	static unsigned count;
	char sql[256], msg[512];
	int i;

	for (i = 0; i < MAX_CREATED && created[i] != NULL; i++)
		;
	if (i == MAX_CREATED)
		fail_msg("testdb: more than %d databases open", MAX_CREATED);
	snprintf(name, size, "trpt_unit_%ld_%u_%ld", (long)getpid(), ++count,
	    random() % 1000000);
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"%s%s%s%s", name,
	    template != NULL ? " TEMPLATE \"" : "",
	    template != NULL ? template : "", template != NULL ? "\"" : "",
	    " STRATEGY FILE_COPY");
	if (admin_exec(sql, msg, sizeof(msg)) != 0) {
		sql[strlen(sql) - strlen(" STRATEGY FILE_COPY")] = '\0';
		if (admin_exec(sql, msg, sizeof(msg)) != 0)
			fail_msg("testdb: %s: %s", sql, msg);
	}
	created[i] = strdup(name);
	assert_non_null(created[i]);
	if (!exit_hook) {
		atexit(drop_all);
		exit_hook = 1;
	}
}

/*
 * The template of this process's databases: a database migrated once
 * (by trpt_db_open, as every test would), so that each new one is a copy
 * of it instead of running every migration again (13 of them: about a
 * fifth of the time of a test that makes a database per case).
 */
static const char *
template_db(const char *url)
{
	static char name[64];
	struct trpt_db *db = NULL;
	struct trpt_err err;
	char *turl;
	int rc;

	if (name[0] != '\0')
		return name;
	create_db(NULL, name, sizeof(name));
	turl = url_with_db(url, name);
	rc = trpt_db_open(turl, &db, &err);
	free(turl);
	if (rc != TRPT_OK)
		fail_msg(
		    "testdb: migrating the template %s: %s", name, err.msg);
	/* The server waits (up to 5 s) for this session to end before it
	 * copies the database. */
	trpt_db_close(&db);
	return name;
}

char *
trpt_test_db_new(const char *sqlite_name)
{
	const char *url = pg_url();
	char name[64];
	char *out;

	if (url == NULL) {
		out = strdup(sqlite_name);
		assert_non_null(out);
		return out;
	}
	create_db(template_db(url), name, sizeof(name));
	return url_with_db(url, name);
}

void
trpt_test_db_drop(const char *name)
{
	char db[64];
	int i;

	if (name == NULL || pg_url() == NULL)
		return;
	db_of_url(name, db, sizeof(db));
	for (i = 0; i < MAX_CREATED; i++) {
		if (created[i] != NULL && strcmp(created[i], db) == 0) {
			drop_name(db);
			free(created[i]);
			created[i] = NULL;
			return;
		}
	}
}

struct trpt_db *
trpt_test_db_open(void)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;
	char *name = trpt_test_db_new(":memory:");

	if (trpt_db_open(name, &db, &err) != TRPT_OK) {
		trpt_test_db_drop(name);
		free(name);
		fail_msg("testdb: open: %s", err.msg);
	}
	free(name);
	return db;
}

int
trpt_test_db_connect(struct trpt_db **out, struct trpt_err *err)
{
	char *name = trpt_test_db_new(":memory:");
	int rc = trpt_db_open(name, out, err);

	free(name);
	return rc;
}

void
trpt_test_db_close(struct trpt_db **dbp)
{
	char *name;

	if (dbp == NULL || *dbp == NULL)
		return;
	name = strdup(trpt_db_path(*dbp));
	trpt_db_close(dbp);
	trpt_test_db_drop(name);
	free(name);
}

/* Steps sql to its first row; fails the test on an error or no row. */
static struct trpt_stmt *
first_row(struct trpt_db *db, const char *sql)
{
	struct trpt_stmt *st = NULL;
	struct trpt_err err;
	int rc;

	if (trpt_sql_prepare(db, sql, &st, &err) != TRPT_OK)
		fail_msg("%s: %s", sql, err.msg);
	rc = trpt_sql_step(st, &err);
	if (rc != 1) {
		trpt_sql_finalize(&st);
		fail_msg("%s: %s", sql, rc == 0 ? "no row" : err.msg);
	}
	return st;
}

int64_t
trpt_test_db_int(struct trpt_db *db, const char *sql)
{
	struct trpt_stmt *st = first_row(db, sql);
	int64_t v = trpt_sql_int(st, 0);

	trpt_sql_finalize(&st);
	return v;
}

const char *
trpt_test_db_text(struct trpt_db *db, const char *sql, char *buf, size_t size)
{
	struct trpt_stmt *st = first_row(db, sql);
	const char *t = trpt_sql_text(st, 0);

	snprintf(buf, size, "%s", t != NULL ? t : "");
	trpt_sql_finalize(&st);
	return buf;
}

void
trpt_test_db_exec(struct trpt_db *db, const char *sql)
{
	struct trpt_err err;

	if (trpt_sql_exec(db, sql, &err) != TRPT_OK)
		fail_msg("%s: %s", sql, err.msg);
}

const char *
trpt_test_db_rows(struct trpt_db *db, const char *sql, const char *sep,
    char *buf, size_t size)
{
	struct trpt_stmt *st = NULL;
	struct trpt_err err;
	const char *t;
	size_t n = 0;
	int rc, k;

	if (trpt_sql_prepare(db, sql, &st, &err) != TRPT_OK)
		fail_msg("%s: %s", sql, err.msg);
	buf[0] = '\0';
	while ((rc = trpt_sql_step(st, &err)) == 1) {
		t = trpt_sql_text(st, 0);
		k = snprintf(buf + n, size - n, "%s%s", n > 0 ? sep : "",
		    t != NULL ? t : "(null)");
		if (k < 0 || (size_t)k >= size - n) {
			trpt_sql_finalize(&st);
			fail_msg("%s: more than %zu bytes", sql, size);
		}
		n += (size_t)k;
	}
	trpt_sql_finalize(&st);
	if (rc < 0)
		fail_msg("%s: %s", sql, err.msg);
	return buf;
}

void *
trpt_test_db_blob(struct trpt_db *db, const char *sql, size_t *len)
{
	struct trpt_stmt *st = first_row(db, sql);
	const void *p = trpt_sql_blob(st, 0, len);
	char *out = malloc(*len + 1);

	assert_non_null(out);
	if (*len > 0)
		memcpy(out, p, *len);
	out[*len] = '\0';
	trpt_sql_finalize(&st);
	return out;
}

/* The first column of the first row of sql as a JSON array. */
static json_t *
json_array_of(struct trpt_db *db, const char *sql)
{
	char text[8192];
	json_error_t je;
	json_t *j;

	trpt_test_db_text(db, sql, text, sizeof(text));
	j = json_loads(text, JSON_DECODE_ANY, &je);
	if (j == NULL || !json_is_array(j))
		fail_msg("%s: not a JSON array: %s (%s)", sql, text,
		    j == NULL ? je.text : "another JSON value");
	return j;
}

int64_t
trpt_test_db_json_len(struct trpt_db *db, const char *sql)
{
	json_t *j = json_array_of(db, sql);
	int64_t n = (int64_t)json_array_size(j);

	json_decref(j);
	return n;
}

const char *
trpt_test_db_json_str(
    struct trpt_db *db, const char *sql, size_t i, char *buf, size_t size)
{
	json_t *j = json_array_of(db, sql);
	json_t *e = json_array_get(j, i);

	if (!json_is_string(e)) {
		json_decref(j);
		fail_msg("%s: element %zu is not a string", sql, i);
	}
	snprintf(buf, size, "%s", json_string_value(e));
	json_decref(j);
	return buf;
}

int64_t
trpt_test_db_size(struct trpt_db *db)
{
	if (trpt_sql_dialect(db) == TRPT_SQL_PG)
		return trpt_test_db_int(db,
		    "SELECT CAST(COALESCE(sum(pg_total_relation_size(c.oid)),"
		    " 0) AS BIGINT) FROM pg_class c JOIN pg_namespace n ON"
		    " n.oid = c.relnamespace WHERE n.nspname ="
		    " current_schema() AND c.relkind = 'r'");
	return trpt_test_db_int(db,
		   "SELECT page_count * page_size FROM pragma_page_count(),"
		   " pragma_page_size()") -
	       trpt_test_db_int(db,
		   "SELECT freelist_count * page_size FROM"
		   " pragma_freelist_count(), pragma_page_size()");
}

static void
skipped_test(void **state)
{
	(void)state;
}

void
trpt_test_db_sqlite_only(
    struct CMUnitTest *tests, size_t n, const char *name, const char *why)
{
	/* The new names: cmocka reads them until the process exits. */
	static char *labels[32];
	static size_t nlabels;
	char *label;
	size_t i, len;

	if (!trpt_test_db_pg())
		return;
	for (i = 0; i < n; i++) {
		if (strcmp(tests[i].name, name) != 0)
			continue;
		if (nlabels == sizeof(labels) / sizeof(labels[0]))
			fail_msg("more than %zu tests skipped", nlabels);
		len = strlen(name) + strlen(why) + 32;
		label = malloc(len);
		assert_non_null(label);
		labels[nlabels++] = label;
		snprintf(label, len, "%s # SKIP on PostgreSQL: %s", name, why);
		tests[i].name = label;
		tests[i].test_func = skipped_test;
		tests[i].setup_func = NULL;
		tests[i].teardown_func = NULL;
		return;
	}
	fail_msg("no test %s to skip", name);
}
