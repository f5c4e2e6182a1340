#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/err.h"
#include "common/hash.h"
#include "schema/db.h"
#include "schema/migrate.h"
#include "schema/report.h"
#include "schema/sql.h"
#include "schema/store.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"

/* One integer from a query, failing the test on any error. */
static int64_t
qint_lite(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: no row: %s", sql, sqlite3_errmsg(h));
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* One text from a query, copied into buf ("(null)" for NULL). */
static const char *
qtext_lite(sqlite3 *h, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *st;
	const unsigned char *t;

	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: no row: %s", sql, sqlite3_errmsg(h));
	t = sqlite3_column_text(st, 0);
	snprintf(buf, len, "%s", t != NULL ? (const char *)t : "(null)");
	sqlite3_finalize(st);
	return buf;
}

/*
 * qint and qtext take an SQLite handle (the tests of SQLite's own files and
 * migrations) or a struct trpt_db (the tests of the store, on either
 * database: tests/helpers/testdb.h).
 */
#define qint(h, sql)                                                           \
	_Generic((h), sqlite3 *                                                \
		 : qint_lite, struct trpt_db *                                 \
		 : trpt_test_db_int)(h, sql)
#define qtext(h, sql, buf, len)                                                \
	_Generic((h), sqlite3 *                                                \
		 : qtext_lite, struct trpt_db *                                \
		 : trpt_test_db_text)(h, sql, buf, len)

/* 1 when the tests run on SQLite (not under the pg test setup). */
static int
on_sqlite(struct trpt_db *db)
{
	return trpt_sql_dialect(db) == TRPT_SQL_SQLITE;
}

static int
has_table(sqlite3 *h, const char *name)
{
	sqlite3_stmt *st;
	int found;

	assert_int_equal(sqlite3_prepare_v2(h,
			     "SELECT 1 FROM sqlite_master WHERE type = 'table' "
			     "AND name = ?1",
			     -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/*
 * A report built by hand: two policies, the first with two failure
 * details, the second without; one warning.
 */
struct sample {
	char *ps[2], *mx[2], *warn[1];
	struct trpt_failure f[2];
	struct trpt_policy p[2];
	struct trpt_report r;
	struct trpt_origin o;
	struct trpt_raw raw;
	char bytes[64];
};

static void
sample_init(struct sample *s, const char *org, const char *id)
{
	memset(s, 0, sizeof(*s));
	s->ps[0] = "version: STSv1";
	s->ps[1] = "mode: enforce";
	s->mx[0] = "mx1.example.com";
	s->mx[1] = "*.example.net";
	s->warn[0] = "date-range: no offset, taken as UTC";
	s->f[0] = (struct trpt_failure){ .result_type = "certificate-expired",
		.sending_mta_ip = "192.0.2.1",
		.receiving_mx_hostname = "mx1.example.com",
		.receiving_ip = "198.51.100.7",
		.failed_session_count = 3 };
	s->f[1] =
	    (struct trpt_failure){ .result_type = "starttls-not-supported",
		    .sending_mta_ip = "2001:db8::1",
		    .receiving_mx_helo = "mx1",
		    .failure_reason_code = "no STARTTLS",
		    .additional_information = "https://example.com/why",
		    .failed_session_count = 2 };
	s->p[0] = (struct trpt_policy){ .policy_type = "sts",
		.policy_domain = "example.com",
		.policy_strings = { s->ps, 2 },
		.mx_hosts = { s->mx, 2 },
		.successful = 100,
		.failed = 5,
		.failures = s->f,
		.nfailures = 2 };
	s->p[1] = (struct trpt_policy){ .policy_type = "no-policy-found",
		.policy_domain = "example.org",
		.successful = 7 };
	s->r = (struct trpt_report){ .organization_name = (char *)org,
		.contact_info = "tlsrpt@example.net",
		.report_id = (char *)id,
		.begin = 1778544000,
		.end = 1778630399,
		.policies = s->p,
		.npolicies = 2,
		.warnings = { s->warn, 1 } };
	s->o = (struct trpt_origin){ .kind = "file",
		.source = "/tmp/in.json",
		.message_id = "<m1@example.net>",
		.report_domain = "example.com",
		.received = 1778700000 };
	snprintf(s->bytes, sizeof(s->bytes), "{\"report-id\":\"%s\"}", id);
	s->raw = (struct trpt_raw){ .bytes = s->bytes,
		.len = strlen(s->bytes),
		.origin = &s->o,
		.part = 0 };
}

static int
setup_db(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;

	if (trpt_test_db_connect(&db, &err) != TRPT_OK) {
		fprintf(stderr, "# %s\n", err.msg);
		return -1;
	}
	*state = db;
	return 0;
}

static int
teardown_db(void **state)
{
	struct trpt_db *db = *state;

	trpt_db_close(&db);
	return 0;
}

static void
test_schema_open_memory(void **state)
{
	struct trpt_db *db = *state;
	sqlite3 *h = trpt_db_handle(db);
	int v = -1;

	if (!on_sqlite(db))
		skip();
	assert_string_equal(trpt_db_path(db), ":memory:");
	assert_int_equal(trpt_migrate_version(h, &v, NULL), TRPT_OK);
	assert_int_equal(v, trpt_migrate_latest());
	assert_true(trpt_migrate_latest() >= 1);
	assert_int_equal(qint(h, "PRAGMA foreign_keys"), 1);
	assert_true(has_table(h, "reports"));
	assert_true(has_table(h, "policies"));
	assert_true(has_table(h, "failures"));
	assert_true(has_table(h, "warnings"));
	assert_true(has_table(h, "raw_inputs"));
	assert_true(has_table(h, "quarantine_inputs"));
	assert_true(has_table(h, "quarantine_parts"));
	assert_int_equal(qint(h, "SELECT count(*) FROM sqlite_schema WHERE "
				 "type = 'view' AND name = 'quarantine'"),
	    1);
}

/*
 * The migration tests below open SQLite files and handles themselves: they
 * are about SQLite's files (user_version, old files, WAL, a file that is
 * not a database) and run on SQLite only; PostgreSQL's migrations have
 * their own test (schema/migrate_pg.c, tests/unit/test_sql_pg.c).
 */

/* The real list, applied step by step with upto. */
static void
test_schema_migrate_upto(void **state)
{
	struct trpt_err err;
	sqlite3 *h;
	int v = -1, latest = trpt_migrate_latest();

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &h), SQLITE_OK);
	assert_int_equal(trpt_migrate_apply(h, 0, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(h, &v, NULL), TRPT_OK);
	assert_int_equal(v, 0);
	assert_false(has_table(h, "reports"));
	/* Up to the one before the latest, then the rest. */
	assert_int_equal(trpt_migrate_apply(h, latest - 1, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(h, &v, NULL), TRPT_OK);
	assert_int_equal(v, latest - 1);
	assert_int_equal(trpt_migrate_apply(h, -1, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(h, &v, NULL), TRPT_OK);
	assert_int_equal(v, latest);
	assert_true(has_table(h, "reports"));
	/* Nothing pending: a no-op. */
	assert_int_equal(trpt_migrate_apply(h, -1, &err), TRPT_OK);
	/* Beyond what the binary knows. */
	assert_int_equal(trpt_migrate_apply(h, latest + 1, &err), TRPT_EINVAL);
	assert_non_null(strstr(err.msg, "no schema version"));
	sqlite3_close(h);
}

static const struct trpt_migration good_list[] = {
	{ 1, "one", "CREATE TABLE a (x INTEGER);" },
	{ 2, "two", "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (2);" },
	{ 3, "three", "CREATE TABLE c (z INTEGER);" },
};

static const struct trpt_migration broken_list[] = {
	{ 1, "one", "CREATE TABLE a (x INTEGER);" },
	{ 2, "broken",
	    "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);"
	    " INSERT INTO nosuch VALUES (1);" },
};

/* An older database gets only the migrations it lacks. */
static void
test_schema_migrate_older(void **state)
{
	struct trpt_err err;
	sqlite3 *h;
	int v = -1;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &h), SQLITE_OK);
	assert_int_equal(
	    trpt_migrate_apply_list(h, good_list, 3, 1, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(h, &v, NULL), TRPT_OK);
	assert_int_equal(v, 1);
	assert_true(has_table(h, "a"));
	assert_false(has_table(h, "b"));
	/* Running 1 again would fail: "table a already exists". */
	assert_int_equal(
	    trpt_migrate_apply_list(h, good_list, 3, -1, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(h, &v, NULL), TRPT_OK);
	assert_int_equal(v, 3);
	assert_true(has_table(h, "c"));
	assert_int_equal(qint(h, "SELECT count(*) FROM a"), 1);
	sqlite3_close(h);
}

/* Files at version 0 with no tables (as sqlite3_open leaves them), and at
 * the version before the latest with data in it. */
static void
test_schema_migrate_old_files(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512];
	struct trpt_db *db = NULL;
	struct trpt_err err;
	sqlite3 *h;
	int v = -1;

	(void)state;
	snprintf(path, sizeof(path), "%s/old.db", dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(h, "PRAGMA user_version = 0", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_migrate_version(trpt_db_handle(db), &v, NULL), TRPT_OK);
	assert_int_equal(v, trpt_migrate_latest());
	assert_true(has_table(trpt_db_handle(db), "reports"));
	trpt_db_close(&db);
	assert_null(db);
	/* Opening it again changes nothing. */
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	trpt_db_close(&db);

	/* A file left at the version before the latest, with data. */
	snprintf(path, sizeof(path), "%s/prev.db", dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(
	    trpt_migrate_apply(h, trpt_migrate_latest() - 1, &err), TRPT_OK);
	/* The quarantine as that version has it: one table, or (since
	 * 0006) inputs and their parts. */
	if (trpt_migrate_latest() > 1 && has_table(h, "quarantine_parts"))
		assert_int_equal(sqlite3_exec(h,
				     "INSERT INTO quarantine_inputs (id, "
				     "sha256, bytes, size) VALUES (1, 'x', "
				     "x'00', 1);"
				     "INSERT INTO quarantine_parts (input, "
				     "part, source_kind, source, reason, "
				     "received_at, last_seen_at) VALUES (1, 0, "
				     "'file', 'f', 'kept', 1, 1)",
				     NULL, NULL, NULL),
		    SQLITE_OK);
	else if (trpt_migrate_latest() > 1)
		assert_int_equal(sqlite3_exec(h,
				     "INSERT INTO quarantine (sha256, part, "
				     "bytes, size, source_kind, source, "
				     "reason, received_at, last_seen_at) "
				     "VALUES ('x', 0, x'00', 1, 'file', 'f', "
				     "'kept', 1, 1)",
				     NULL, NULL, NULL),
		    SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_migrate_version(trpt_db_handle(db), &v, NULL), TRPT_OK);
	assert_int_equal(v, trpt_migrate_latest());
	if (trpt_migrate_latest() > 1)
		assert_int_equal(qint(trpt_db_handle(db),
				     "SELECT count(*) FROM quarantine WHERE "
				     "reason = 'kept'"),
		    1);
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

/*
 * Migrations 4 and 5 rebuild reports (its UNIQUE (organization, report-id)
 * goes) and move the quarantine's bytes: a database at version 3 with a
 * report, its policies and failures, and two quarantined parts of one
 * input keeps all of it.  With foreign keys on during the rebuild, the
 * DROP of the old reports would have cascaded into policies.
 */
static void
test_schema_migrate_copies_keep_data(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512];
	struct trpt_db *db = NULL;
	struct trpt_err err;
	sqlite3 *h;

	(void)state;
	snprintf(path, sizeof(path), "%s/v3.db", dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(h, "PRAGMA foreign_keys=ON", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(trpt_migrate_apply(h, 3, &err), TRPT_OK);
	assert_int_equal(
	    sqlite3_exec(h,
		"INSERT INTO raw_inputs VALUES (1, 'h', x'00', 1, 'file', 'f',"
		" NULL, NULL, NULL, 1);"
		"INSERT INTO reports (id, organization_name, report_id,"
		" begin_ts, end_ts, day, raw_id, part, received_at,"
		" seen_count, last_seen_at, total_successful, total_failed)"
		" VALUES (7, 'org', 'id', 0, 1, 0, 1, 0, 1, 3, 1, 10, 2);"
		"INSERT INTO policies VALUES (1, 7, 0, 0, 'sts', 'd', NULL,"
		" NULL, 10, 2, 2),"
		" (2, 7, 1, 0, 'sts', 'e', '[\"version: STSv1\","
		" \"mode: enforce\", \"mx: testing.example\"]', NULL, 0, 0, 0),"
		" (3, 7, 2, 0, 'sts', 't', '[\" Mode:  Testing \"]', NULL, 0,"
		" 0, 0);"
		"INSERT INTO failures (policy, result_type,"
		" failed_session_count) VALUES (1, 'x', 2);"
		"INSERT INTO warnings (report, message) VALUES (7, 'w');"
		"INSERT INTO quarantine (sha256, part, bytes, size,"
		" source_kind, source, reason, received_at, last_seen_at)"
		" VALUES ('q', 1, x'0102', 2, 'file', 'f', 'bad 1', 1, 1),"
		" ('q', 2, x'0102', 2, 'file', 'f', 'bad 2', 1, 1);",
		NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	h = trpt_db_handle(db);
	assert_int_equal(qint(h, "SELECT count(*) FROM policies"), 3);
	/* 0008 reads the STS mode out of the stored policy strings. */
	assert_int_equal(qint(h, "SELECT count(*) FROM policies WHERE "
				 "(id = 1 AND sts_mode IS NULL) OR (id = 2 "
				 "AND sts_mode = 'enforce') OR (id = 3 AND "
				 "sts_mode = 'testing')"),
	    3);
	assert_int_equal(qint(h, "SELECT count(*) FROM failures"), 1);
	assert_int_equal(qint(h, "SELECT count(*) FROM warnings"), 1);
	assert_int_equal(qint(h, "SELECT seen_count FROM reports WHERE id = 7 "
				 "AND copy = 0 AND counted = 1 AND "
				 "conflict = 0"),
	    3);
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine_inputs"), 1);
	assert_int_equal(qint(h, "PRAGMA foreign_keys"), 1);
	assert_int_equal(
	    qint(h, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	/* Deleting the report still cascades, and marks rollups dirty. */
	assert_int_equal(
	    sqlite3_exec(h, "DELETE FROM reports", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(qint(h, "SELECT count(*) FROM policies"), 0);
	assert_int_equal(qint(h, "SELECT dirty FROM rollup_state"), 1);
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

/*
 * A copy stored before content_sha256 existed (NULL) compares by its
 * stored rows: the same report again is a duplicate of it (the digest
 * read back from the rows equals the report's own), other content a
 * conflicting copy.
 */
static void
test_schema_store_copies_legacy(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample s;
	struct trpt_err err;
	char sha[80], again[80];
	int outcome = -1;

	sample_init(&s, "org", "id-1");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &outcome, NULL, &err), TRPT_OK);
	assert_int_equal(outcome, TRPT_STORE_NEW);
	qtext(h, "SELECT content_sha256 FROM reports", sha, sizeof(sha));
	assert_int_equal(strlen(sha), 64);
	trpt_test_db_exec(h, "UPDATE reports SET content_sha256 = "
			     "NULL");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &outcome, NULL, &err), TRPT_OK);
	assert_int_equal(outcome, TRPT_STORE_DUPLICATE);
	qtext(h, "SELECT content_sha256 FROM reports", again, sizeof(again));
	assert_string_equal(sha, again);
	assert_int_equal(qint(h, "SELECT seen_count FROM reports"), 2);
	/* One failure detail less: another content. */
	s.p[0].nfailures = 1;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &outcome, NULL, &err), TRPT_OK);
	assert_int_equal(outcome, TRPT_STORE_CONFLICT);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports WHERE "
				 "conflict = 1"),
	    2);
	assert_int_equal(qint(h, "SELECT count(*) FROM failures"), 3);
}

/* A failing migration leaves the tables and user_version as they were. */
static void
test_schema_migrate_failure_rolls_back(void **state)
{
	struct trpt_err err;
	sqlite3 *h;
	int v = -1;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &h), SQLITE_OK);
	assert_int_equal(
	    trpt_migrate_apply_list(h, broken_list, 2, -1, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "0002_broken"));
	assert_non_null(strstr(err.msg, "no such table: nosuch"));
	assert_non_null(strstr(err.msg, ":memory:"));
	assert_int_equal(trpt_migrate_version(h, &v, NULL), TRPT_OK);
	assert_int_equal(v, 1);
	assert_true(has_table(h, "a"));
	assert_false(has_table(h, "b"));
	assert_int_equal(qint(h, "SELECT count(*) FROM a"), 0);
	assert_true(sqlite3_get_autocommit(h));
	sqlite3_close(h);
}

static void
test_schema_migrate_bad_list(void **state)
{
	static const struct trpt_migration gap[] = {
		{ 1, "one", "SELECT 1;" },
		{ 3, "three", "SELECT 1;" },
	};
	struct trpt_err err;
	sqlite3 *h;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &h), SQLITE_OK);
	assert_int_equal(
	    trpt_migrate_apply_list(h, gap, 2, -1, &err), TRPT_EINVAL);
	assert_int_equal(
	    sqlite3_exec(h, "PRAGMA user_version = -3", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(
	    trpt_migrate_apply_list(h, good_list, 3, -1, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "-3"));
	sqlite3_close(h);
}

static void
test_schema_refuses_newer(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512], sql[64];
	struct trpt_db *db = NULL;
	struct trpt_err err;
	sqlite3 *h;

	(void)state;
	snprintf(path, sizeof(path), "%s/new.db", dir);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    trpt_migrate_latest() + 1);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_EDB);
	assert_null(db);
	assert_non_null(strstr(err.msg, "newer"));
	assert_non_null(strstr(err.msg, path));
	/* The database was not touched. */
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(
	    qint(h, "PRAGMA user_version"), trpt_migrate_latest() + 1);
	assert_false(has_table(h, "reports"));
	sqlite3_close(h);
	trpt_test_rmrf(dir);
	free(dir);
}

static void
test_schema_open_errors(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;

	(void)state;
	assert_int_equal(
	    trpt_db_open("/nonexistent-dir/x/y.db", &db, &err), TRPT_EDB);
	assert_null(db);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/x/y.db"));
	assert_non_null(strstr(err.msg, "unable to open"));
	assert_int_equal(trpt_db_open(NULL, &db, &err), TRPT_EINVAL);
	trpt_db_close(NULL);
	trpt_db_close(&db);
}

static void
test_schema_not_a_database(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512];
	struct trpt_db *db = NULL;
	struct trpt_err err;
	char junk[4096];

	(void)state;
	memset(junk, 'x', sizeof(junk));
	snprintf(path, sizeof(path), "%s/junk.db", dir);
	trpt_test_write(path, junk, sizeof(junk));
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_EDB);
	assert_null(db);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "not a database"));
	trpt_test_rmrf(dir);
	free(dir);
}

static void
test_schema_wal_file(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512], buf[32];
	struct trpt_db *db = NULL, *mem = NULL;
	struct trpt_err err;

	(void)state;
	snprintf(path, sizeof(path), "%s/wal.db", dir);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	assert_string_equal(
	    qtext(trpt_db_handle(db), "PRAGMA journal_mode", buf, sizeof(buf)),
	    "wal");
	assert_int_equal(qint(trpt_db_handle(db), "PRAGMA synchronous"), 1);
	assert_int_equal(qint(trpt_db_handle(db), "PRAGMA foreign_keys"), 1);
	trpt_db_close(&db);
	assert_int_equal(trpt_db_open(":memory:", &mem, &err), TRPT_OK);
	assert_string_equal(
	    qtext(trpt_db_handle(mem), "PRAGMA journal_mode", buf, sizeof(buf)),
	    "memory");
	trpt_db_close(&mem);
	trpt_test_rmrf(dir);
	free(dir);
}

static void
test_schema_store_report(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample s;
	struct trpt_err err;
	char buf[512], sha[TRPT_SHA256_HEX_LEN], sql[256];
	int64_t id = -1;
	int dup = -1;

	sample_init(&s, "Example Org", "r-1");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, &id, &err), TRPT_OK);
	assert_int_equal(dup, 0);
	assert_true(id > 0);
	assert_false(trpt_db_in_transaction(db));
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 1);
	assert_int_equal(qint(h, "SELECT id FROM reports"), id);
	assert_int_equal(
	    qint(h, "SELECT day FROM reports"), 1778544000 / 86400);
	assert_int_equal(qint(h, "SELECT total_successful FROM reports"), 107);
	assert_int_equal(qint(h, "SELECT total_failed FROM reports"), 5);
	assert_int_equal(qint(h, "SELECT seen_count FROM reports"), 1);
	assert_int_equal(
	    qint(h, "SELECT received_at FROM reports"), 1778700000);
	assert_int_equal(
	    qint(h, "SELECT last_seen_at FROM reports"), 1778700000);
	assert_int_equal(qint(h, "SELECT end_ts FROM reports"), 1778630399);
	assert_string_equal(
	    qtext(h, "SELECT contact_info FROM reports", buf, sizeof(buf)),
	    "tlsrpt@example.net");
	assert_int_equal(qint(h, "SELECT count(*) FROM policies"), 2);
	assert_string_equal(qtext(h,
				"SELECT policy_strings FROM policies "
				"WHERE idx = 0",
				buf, sizeof(buf)),
	    "[\"version: STSv1\",\"mode: enforce\"]");
	assert_string_equal(qtext(h,
				"SELECT mx_hosts FROM policies "
				"WHERE idx = 0",
				buf, sizeof(buf)),
	    "[\"mx1.example.com\",\"*.example.net\"]");
	assert_int_equal(qint(h, "SELECT policy_strings IS NULL AND mx_hosts "
				 "IS NULL FROM policies WHERE idx = 1"),
	    1);
	assert_int_equal(
	    qint(h, "SELECT details_failed FROM policies WHERE idx = 0"), 5);
	assert_int_equal(
	    qint(h, "SELECT details_failed FROM policies WHERE idx = 1"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM policies WHERE day = "
				 "(SELECT day FROM reports)"),
	    2);
	assert_int_equal(qint(h, "SELECT count(*) FROM failures"), 2);
	assert_string_equal(qtext(h,
				"SELECT group_concat(result_type || '/' || "
				"failed_session_count || '/' || "
				"ifnull(receiving_mx_helo, '-'), ' ') FROM "
				"(SELECT * FROM failures ORDER BY id)",
				buf, sizeof(buf)),
	    "certificate-expired/3/- starttls-not-supported/2/mx1");
	assert_string_equal(
	    qtext(h, "SELECT message FROM warnings", buf, sizeof(buf)),
	    "date-range: no offset, taken as UTC");
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 1);
	trpt_hash_sha256_hex(s.bytes, strlen(s.bytes), sha);
	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM raw_inputs WHERE sha256 = '%s' AND size = %zu"
	    " AND bytes = CAST('%s' AS BLOB)",
	    sha, strlen(s.bytes), s.bytes);
	assert_int_equal(qint(h, sql), 1);
	assert_string_equal(qtext(h,
				"SELECT source_kind || ' ' || source || ' ' "
				"|| message_id || ' ' || report_domain || ' ' "
				"|| ifnull(report_submitter, '-') FROM "
				"raw_inputs",
				buf, sizeof(buf)),
	    "file /tmp/in.json <m1@example.net> example.com -");
	/* Nothing reads NULL out-params. */
	sample_init(&s, "Example Org", "r-2");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, NULL, NULL, &err), TRPT_OK);
}

static void
test_schema_store_duplicate(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample s, again;
	struct trpt_err err;
	int64_t id1 = 0, id2 = 0;
	int dup = -1;

	sample_init(&s, "Example Org", "r-1");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, &id1, &err), TRPT_OK);
	assert_int_equal(dup, 0);
	/* The same report, in other bytes, received later. */
	sample_init(&again, "Example Org", "r-1");
	memcpy(again.bytes, "{\"resent\":1}", 13);
	again.raw.len = strlen(again.bytes);
	again.o.received = 1778800000;
	assert_int_equal(
	    trpt_store_report(db, &again.r, &again.raw, &dup, &id2, &err),
	    TRPT_OK);
	assert_int_equal(dup, 1);
	assert_int_equal(id2, id1);
	assert_int_equal(qint(h, "SELECT seen_count FROM reports"), 2);
	assert_int_equal(
	    qint(h, "SELECT last_seen_at FROM reports"), 1778800000);
	assert_int_equal(
	    qint(h, "SELECT received_at FROM reports"), 1778700000);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 1);
	assert_int_equal(qint(h, "SELECT count(*) FROM policies"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM failures"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM warnings"), 1);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 1);
	/* An older sighting does not move last_seen_at back. */
	again.o.received = 1778000000;
	assert_int_equal(
	    trpt_store_report(db, &again.r, &again.raw, &dup, NULL, &err),
	    TRPT_OK);
	assert_int_equal(dup, 1);
	assert_int_equal(qint(h, "SELECT seen_count FROM reports"), 3);
	assert_int_equal(
	    qint(h, "SELECT last_seen_at FROM reports"), 1778800000);
	/* Same report-id from another organization is another report. */
	sample_init(&s, "Other Org", "r-1");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, &id2, &err), TRPT_OK);
	assert_int_equal(dup, 0);
	assert_int_not_equal(id2, id1);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 2);
}

/* Several reports from one input keep one copy of its bytes. */
static void
test_schema_raw_dedupe(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample a, b;
	struct trpt_err err;
	int dup;

	sample_init(&a, "Org", "first");
	sample_init(&b, "Org", "second");
	b.raw = a.raw;
	b.raw.part = 2;
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_report(db, &b.r, &b.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(dup, 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 1);
	assert_int_equal(
	    qint(h, "SELECT count(DISTINCT raw_id) FROM reports"), 1);
	assert_int_equal(qint(h, "SELECT part FROM reports WHERE report_id = "
				 "'second'"),
	    2);
	/* Empty bytes are a valid (if odd) input: a blob, not NULL. */
	sample_init(&b, "Org", "third");
	b.raw.bytes = NULL;
	b.raw.len = 0;
	assert_int_equal(
	    trpt_store_report(db, &b.r, &b.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs WHERE size "
				 "= 0 AND bytes IS NOT NULL"),
	    1);
}

static void
test_schema_foreign_keys(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample s;
	struct trpt_err err;
	int64_t id = 0;
	int dup;

	sample_init(&s, "Org", "fk");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, &id, &err), TRPT_OK);
	/* A policy of no report, and deleting bytes still referenced. */
	assert_int_equal(trpt_sql_exec(h,
			     "INSERT INTO policies (report, idx, day, "
			     "policy_type, policy_domain, successful, failed, "
			     "details_failed) VALUES (9999, 0, 0, 'sts', "
			     "'x', 0, 0, 0)",
			     &err),
	    TRPT_EDB);
	assert_int_equal(
	    trpt_sql_exec(h, "DELETE FROM raw_inputs", &err), TRPT_EDB);
	/* Deleting a report takes its policies, failures and warnings. */
	trpt_test_db_exec(h, "DELETE FROM reports");
	assert_int_equal(qint(h, "SELECT count(*) FROM policies"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM failures"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM warnings"), 0);
	trpt_test_db_exec(h, "DELETE FROM raw_inputs");
}

/* A failure half-way through a report leaves nothing of it behind. */
static void
test_schema_store_failure_rolls_back(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample s;
	struct trpt_err err;
	int64_t id = 42;
	int dup = 42;

	sample_init(&s, "Org", "broken");
	s.f[1].result_type = NULL; /* NOT NULL in failures */
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, &id, &err), TRPT_EDB);
	assert_int_equal(err.code, TRPT_EDB);
	assert_non_null(strstr(err.msg, "report broken from Org"));
	assert_non_null(strstr(err.msg, "NOT NULL constraint failed"));
	assert_non_null(strstr(err.msg, ":memory:"));
	assert_int_equal(dup, 42); /* out-params untouched */
	assert_int_equal(id, 42);
	assert_false(trpt_db_in_transaction(db));
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM policies"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM failures"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 0);
	/* The statements were reset: the next report stores fine. */
	sample_init(&s, "Org", "fine");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, &id, &err), TRPT_OK);
	assert_int_equal(qint(h, "SELECT count(*) FROM failures"), 2);
}

static void
test_schema_store_limits(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample s;
	struct trpt_err err;
	int dup;

	sample_init(&s, "Org", "huge");
	s.p[0].successful = INT64_MAX;
	s.p[1].successful = 1;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "report huge from Org"));
	sample_init(&s, "Org", "huge2");
	s.f[0].failed_session_count = INT64_MAX;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_ELIMIT);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 0);
	/* Arguments. */
	sample_init(&s, "Org", "args");
	s.raw.origin = NULL;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_EINVAL);
	assert_int_equal(
	    trpt_store_report(db, &s.r, NULL, &dup, NULL, &err), TRPT_EINVAL);
	sample_init(&s, "Org", "args");
	s.r.report_id = NULL;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_EINVAL);
	assert_int_equal(
	    trpt_store_quarantine(db, NULL, "x", &err), TRPT_EINVAL);
}

/* Before 1970 the day still rounds down. */
static void
test_schema_store_day(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample s;
	struct trpt_err err;
	int dup;

	sample_init(&s, "Org", "old");
	s.r.begin = -1;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	sample_init(&s, "Org", "older");
	s.r.begin = -86400;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	sample_init(&s, "Org", "epoch");
	s.r.begin = 86399;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(
	    qint(h, "SELECT day FROM reports WHERE report_id = 'old'"), -1);
	assert_int_equal(
	    qint(h, "SELECT day FROM reports WHERE report_id = 'older'"), -1);
	assert_int_equal(
	    qint(h, "SELECT day FROM reports WHERE report_id = 'epoch'"), 0);
}

/* Lists are JSON arrays that SQLite's own JSON functions read back. */
static void
test_schema_store_json(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample s;
	struct trpt_err err;
	char buf[512];
	char *odd[] = { "quote\" back\\slash", "line\nfeed\ttab\r\b\f",
		"ctl\x01\x1f del\x7f", "utf-8 \xc3\xbc \xe2\x82\xac", "" };
	int dup;

	sample_init(&s, "Org", "json");
	s.p[0].policy_strings = (struct trpt_strlist){ odd, 5 };
	s.p[0].mx_hosts = (struct trpt_strlist){ odd + 4, 1 };
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	assert_string_equal(
	    qtext(h, "SELECT policy_strings FROM policies WHERE idx = 0", buf,
		sizeof(buf)),
	    "[\"quote\\\" back\\\\slash\",\"line\\nfeed\\ttab\\r\\b\\f\","
	    "\"ctl\\u0001\\u001F del\x7f\",\"utf-8 \xc3\xbc \xe2\x82\xac\","
	    "\"\"]");
	assert_int_equal(qint(h, "SELECT json_valid(policy_strings) AND "
				 "json_array_length(policy_strings) = 5 FROM "
				 "policies WHERE idx = 0"),
	    1);
	assert_string_equal(qtext(h,
				"SELECT json_extract(policy_strings, '$[1]') "
				"FROM policies WHERE idx = 0",
				buf, sizeof(buf)),
	    odd[1]);
	assert_string_equal(qtext(h,
				"SELECT mx_hosts FROM policies WHERE "
				"idx = 0",
				buf, sizeof(buf)),
	    "[\"\"]");
	/* Lists are written by jansson, which refuses text that is not
	 * UTF-8 (the validator passes only what jansson read). */
	odd[3] = "latin-1 \xfc";
	sample_init(&s, "Org", "json-2");
	s.p[0].policy_strings = (struct trpt_strlist){ odd, 5 };
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_EINVAL);
	assert_non_null(strstr(err.msg, "not UTF-8"));
}

/* Explicit transactions: each report is still atomic inside them. */
static void
test_schema_batch(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample a, bad, c;
	struct trpt_err err;
	int dup;

	sample_init(&a, "Org", "a");
	sample_init(&bad, "Org", "bad");
	bad.f[1].result_type = NULL;
	sample_init(&c, "Org", "c");
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_true(trpt_db_in_transaction(db));
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_report(db, &bad.r, &bad.raw, &dup, NULL, &err),
	    TRPT_EDB);
	assert_true(trpt_db_in_transaction(db));
	assert_int_equal(
	    trpt_store_report(db, &c.r, &c.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_quarantine(db, &bad.raw, "bad", &err), TRPT_OK);
	/* A duplicate inside the batch is counted. */
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(dup, 1);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	assert_false(trpt_db_in_transaction(db));
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM policies"), 4);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine"), 1);
	assert_int_equal(
	    qint(h, "SELECT seen_count FROM reports WHERE report_id = 'a'"), 2);
	/* A rolled back batch leaves nothing. */
	sample_init(&a, "Org", "d");
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, NULL, &err), TRPT_OK);
	trpt_store_rollback(db);
	assert_false(trpt_db_in_transaction(db));
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 2);
	trpt_store_rollback(db); /* nothing open: harmless */
	/* Commit without begin is an error that names the database. */
	assert_int_equal(trpt_store_commit(db, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "no transaction is active"));
}

/* Storing again and again prepares no new statements. */
static void
test_schema_statement_cache(void **state)
{
	struct trpt_db *db = *state;
	sqlite3 *h = trpt_db_handle(db);
	sqlite3_stmt *st = NULL;
	struct sample s;
	struct trpt_err err;
	char id[32];
	int i, dup, before = 0, after = 0;

	if (!on_sqlite(db))
		skip();
	sample_init(&s, "Org", "warm");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	while ((st = sqlite3_next_stmt(h, st)) != NULL)
		before++;
	for (i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		sample_init(&s, "Org", id);
		assert_int_equal(
		    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err),
		    TRPT_OK);
		assert_int_equal(dup, 0);
	}
	while ((st = sqlite3_next_stmt(h, st)) != NULL) {
		after++;
		assert_false(sqlite3_stmt_busy(st));
	}
	assert_int_equal(after, before);
	assert_true(before >= 7);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 51);
}

struct visit {
	int n;
	int inputs;
	int64_t ids[8];
	char reasons[8][64];
	char sources[8][64];
	int parts[8];
	size_t lens[8];
	int stop_at;
	struct trpt_db *db;
	int delete_each;
};

static int
visit_fn(void *arg, const struct trpt_quarantined *q)
{
	struct visit *v = arg;
	struct trpt_err err;

	size_t i;

	v->inputs++;
	for (i = 0; i < q->nparts; i++) {
		if (v->n >= 8)
			return TRPT_EINVAL;
		v->ids[v->n] = q->parts[i].id;
		snprintf(v->reasons[v->n], 64, "%s", q->parts[i].reason);
		snprintf(v->sources[v->n], 64, "%s %s %s", q->origin.kind,
		    q->origin.source,
		    q->origin.filename != NULL ? q->origin.filename : "-");
		v->parts[v->n] = q->parts[i].part;
		v->lens[v->n] = q->len;
		v->n++;
		if (v->delete_each && trpt_store_quarantine_delete(v->db,
					  q->parts[i].id, &err) != TRPT_OK)
			return err.code;
	}
	if (v->inputs == v->stop_at)
		return TRPT_ETEMP;
	return TRPT_OK;
}

static void
test_schema_quarantine(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct trpt_origin o = { .kind = "imap",
		.source = "INBOX/17",
		.filename = "google.com!example.com!1!2!x.json.gz",
		.received = 1000 };
	struct trpt_raw raw = { .bytes = "not json", .len = 8, .origin = &o };
	struct visit v;
	struct trpt_err err;

	assert_int_equal(
	    trpt_store_quarantine(db, &raw, "not JSON: line 1", &err), TRPT_OK);
	o.received = 2000;
	assert_int_equal(
	    trpt_store_quarantine(db, &raw, "second reason", &err), TRPT_OK);
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine"), 1);
	assert_int_equal(qint(h, "SELECT seen_count FROM quarantine"), 2);
	assert_int_equal(qint(h, "SELECT received_at FROM quarantine"), 1000);
	assert_int_equal(qint(h, "SELECT last_seen_at FROM quarantine"), 2000);
	/* Another part of the same bytes is another row, but the bytes are
	 * kept once, and the walk sees the input once with both parts. */
	raw.part = 3;
	o.filename = NULL;
	assert_int_equal(
	    trpt_store_quarantine(db, &raw, "part 3 bad", &err), TRPT_OK);
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine_inputs"), 1);

	memset(&v, 0, sizeof(v));
	assert_int_equal(
	    trpt_store_quarantine_each(db, visit_fn, &v, &err), TRPT_OK);
	assert_int_equal(v.inputs, 1);
	assert_int_equal(v.n, 2);
	assert_true(v.ids[0] < v.ids[1]);
	assert_string_equal(v.reasons[0], "second reason");
	assert_string_equal(v.reasons[1], "part 3 bad");
	assert_string_equal(
	    v.sources[0], "imap INBOX/17 google.com!example.com!1!2!x.json.gz");
	assert_int_equal(v.parts[0], 0);
	assert_int_equal(v.parts[1], 3);
	assert_int_equal(v.lens[0], 8);

	/* The callback's error stops the walk and is returned. */
	raw.bytes = "other";
	raw.len = 5;
	assert_int_equal(
	    trpt_store_quarantine(db, &raw, "other", &err), TRPT_OK);
	memset(&v, 0, sizeof(v));
	v.stop_at = 1;
	assert_int_equal(
	    trpt_store_quarantine_each(db, visit_fn, &v, &err), TRPT_ETEMP);
	assert_int_equal(v.inputs, 1);
	assert_int_equal(v.n, 2);
	v.ids[2] = qint(h, "SELECT id FROM quarantine WHERE reason = 'other'");
	assert_int_equal(
	    trpt_store_quarantine_delete(db, v.ids[2], &err), TRPT_OK);

	assert_int_equal(
	    trpt_store_quarantine_update(db, v.ids[0], "updated", &err),
	    TRPT_OK);
	assert_string_equal(v.reasons[0], "second reason");
	memset(&v, 0, sizeof(v));
	assert_int_equal(
	    trpt_store_quarantine_each(db, visit_fn, &v, &err), TRPT_OK);
	assert_string_equal(v.reasons[0], "updated");
	assert_int_equal(
	    trpt_store_quarantine_delete(db, v.ids[0], &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_quarantine_delete(db, v.ids[0], &err), TRPT_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no quarantined input"));
	assert_int_equal(trpt_store_quarantine_update(db, v.ids[0], "x", &err),
	    TRPT_ENOTFOUND);
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine"), 1);
	/* The bytes stay while a part refers to them, and go with the last. */
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine_inputs"), 1);
	assert_int_equal(
	    trpt_store_quarantine_delete(db, v.ids[1], &err), TRPT_OK);
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine_inputs"), 0);
}

/* The callback may write (store, delete) while the walk goes on. */
static void
test_schema_quarantine_each_writes(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct trpt_origin o = { .kind = "file", .source = "a" };
	struct trpt_raw raw = { .origin = &o };
	char data[4][8] = { "one", "two", "three", "four" };
	struct visit v;
	struct trpt_err err;
	int i;

	for (i = 0; i < 4; i++) {
		raw.bytes = data[i];
		raw.len = strlen(data[i]);
		assert_int_equal(
		    trpt_store_quarantine(db, &raw, data[i], &err), TRPT_OK);
	}
	memset(&v, 0, sizeof(v));
	v.db = db;
	v.delete_each = 1;
	assert_int_equal(
	    trpt_store_quarantine_each(db, visit_fn, &v, &err), TRPT_OK);
	assert_int_equal(v.n, 4);
	assert_string_equal(v.reasons[3], "four");
	assert_int_equal(v.lens[2], 5);
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine"), 0);
	/* An empty quarantine calls nothing. */
	memset(&v, 0, sizeof(v));
	assert_int_equal(
	    trpt_store_quarantine_each(db, visit_fn, &v, &err), TRPT_OK);
	assert_int_equal(v.n, 0);
}

/*
 * A database kept locked by another writer gives TRPT_ETEMP.  SQLite only:
 * its database-wide write lock on a file (PostgreSQL's lock timeout is
 * tests/unit/test_sql_pg.c's).
 */
static void
test_schema_busy(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512];
	struct trpt_db *a = NULL, *b = NULL;
	struct timespec t0, t1;
	long ms;
	struct sample s;
	struct trpt_err err;
	int dup;

	(void)state;
	snprintf(path, sizeof(path), "%s/busy.db", dir);
	assert_int_equal(trpt_db_open(path, &a, &err), TRPT_OK);
	assert_int_equal(trpt_db_open(path, &b, &err), TRPT_OK);
	trpt_db_set_busy_timeout(b, 50);
	assert_int_equal(trpt_store_begin(a, &err), TRPT_OK);
	sample_init(&s, "Org", "busy");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(
	    trpt_store_report(b, &s.r, &s.raw, &dup, NULL, &err), TRPT_ETEMP);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* It waited for the busy timeout, and not much longer. */
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 40);
	assert_true(ms < 3000); /* not 5 s, even under valgrind */
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "busy"));
	assert_false(trpt_db_in_transaction(b));
	assert_int_equal(
	    trpt_store_quarantine(b, &s.raw, "x", &err), TRPT_ETEMP);
	/* A reader is not blocked by the writer (WAL). */
	assert_int_equal(qint(trpt_db_handle(b), "SELECT count(*) FROM "
						 "reports"),
	    0);
	trpt_store_rollback(a);
	assert_int_equal(
	    trpt_store_report(b, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(dup, 0);
	/* And the other connection sees it as a duplicate. */
	assert_int_equal(
	    trpt_store_report(a, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(dup, 1);
	trpt_db_close(&a);
	trpt_db_close(&b);
	trpt_test_rmrf(dir);
	free(dir);
}

/*
 * SQLite's allocator with a fault injector: the allocation numbered
 * fail_at (counting from 0 after arming) fails once.
 */
static sqlite3_mem_methods real_mem;
static long fail_at = -1;
static int injected;

static void *
faulty_malloc(int n)
{
	if (fail_at == 0) {
		fail_at = -1;
		injected = 1;
		return NULL;
	}
	if (fail_at > 0)
		fail_at--;
	return real_mem.xMalloc(n);
}

static void *
faulty_realloc(void *p, int n)
{
	if (fail_at == 0) {
		fail_at = -1;
		injected = 1;
		return NULL;
	}
	if (fail_at > 0)
		fail_at--;
	return real_mem.xRealloc(p, n);
}

static void
install_faulty_malloc(void)
{
	sqlite3_mem_methods m;

	assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
	assert_int_equal(
	    sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem), SQLITE_OK);
	m = real_mem;
	m.xMalloc = faulty_malloc;
	m.xRealloc = faulty_realloc;
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
	/* Every allocation through the injector, none from lookaside. */
	assert_int_equal(
	    sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0), SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
}

/*
 * Out of memory at every allocation a store makes in turn: the call fails
 * cleanly (TRPT_ENOMEM or TRPT_EDB) and the report is all there or not at
 * all; then the same connection stores it.
 */
static void
test_schema_store_oom(void **state)
{
	struct trpt_db *db = *state;
	sqlite3 *h = trpt_db_handle(db);
	struct sample s;
	struct trpt_err err;
	long n;
	int rc, dup, failures = 0;

	if (!on_sqlite(db))
		skip();
	sample_init(&s, "Org", "oom");
	for (n = 0; n < 100000; n++) {
		injected = 0;
		fail_at = n;
		rc = trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err);
		fail_at = -1;
		assert_false(trpt_db_in_transaction(db));
		if (qint(h, "SELECT count(*) FROM reports") == 1) {
			assert_int_equal(rc, TRPT_OK);
			assert_int_equal(
			    qint(h, "SELECT count(*) FROM policies"), 2);
			assert_int_equal(
			    qint(h, "SELECT count(*) FROM failures"), 2);
			assert_int_equal(
			    qint(h, "SELECT count(*) FROM warnings"), 1);
			assert_int_equal(
			    sqlite3_exec(h,
				"DELETE FROM reports; DELETE FROM raw_inputs",
				NULL, NULL, NULL),
			    SQLITE_OK);
		} else {
			assert_int_not_equal(rc, TRPT_OK);
			assert_int_equal(
			    qint(h, "SELECT count(*) FROM policies"), 0);
			assert_int_equal(
			    qint(h, "SELECT count(*) FROM raw_inputs"), 0);
		}
		if (rc != TRPT_OK) {
			if (rc != TRPT_ENOMEM && rc != TRPT_EDB)
				fail_msg(
				    "allocation %ld: %d %s", n, rc, err.msg);
			failures++;
		}
		if (!injected)
			break;
	}
	assert_int_equal(rc, TRPT_OK);
	assert_true(failures > 0);
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(dup, 0);
	assert_int_equal(trpt_store_quarantine(db, &s.raw, "r", &err), TRPT_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_schema_open_memory, setup_db, teardown_db),
		cmocka_unit_test(test_schema_migrate_upto),
		cmocka_unit_test(test_schema_migrate_older),
		cmocka_unit_test(test_schema_migrate_old_files),
		cmocka_unit_test(test_schema_migrate_copies_keep_data),
		cmocka_unit_test_setup_teardown(
		    test_schema_store_copies_legacy, setup_db, teardown_db),
		cmocka_unit_test(test_schema_migrate_failure_rolls_back),
		cmocka_unit_test(test_schema_migrate_bad_list),
		cmocka_unit_test(test_schema_refuses_newer),
		cmocka_unit_test(test_schema_open_errors),
		cmocka_unit_test(test_schema_not_a_database),
		cmocka_unit_test(test_schema_wal_file),
		cmocka_unit_test_setup_teardown(
		    test_schema_store_report, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_store_duplicate, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_raw_dedupe, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_foreign_keys, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_store_failure_rolls_back, setup_db,
		    teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_store_limits, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_store_day, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_store_json, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_batch, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_statement_cache, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_quarantine, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_quarantine_each_writes, setup_db, teardown_db),
		cmocka_unit_test(test_schema_busy),
		cmocka_unit_test_setup_teardown(
		    test_schema_store_oom, setup_db, teardown_db),
	};

	install_faulty_malloc();
	return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
