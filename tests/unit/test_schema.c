#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/limits.h"
#include "schema/db.h"
#include "schema/maintain.h"
#include "schema/migrate.h"
#include "schema/report.h"
#include "schema/rollup.h"
#include "schema/sql.h"
#include "schema/store.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"

/*
 * Check queries run through the driver (schema/sql.h), on whichever
 * database the connection has: SQLite (the tests of SQLite's own files
 * and migrations open SQLite paths) or PostgreSQL under the pg setup.
 */
#define qint(db, sql)            trpt_test_db_int(db, sql)
#define qtext(db, sql, buf, len) trpt_test_db_text(db, sql, buf, len)
#define qexec(db, sql)           trpt_test_db_exec(db, sql)

/* 1 when db is SQLite (not PostgreSQL under the pg test setup). */
static int
on_sqlite(struct trpt_db *db)
{
	return trpt_sql_dialect(db) == TRPT_SQL_SQLITE;
}

/* Whether db has a table (kind "table") or a view ("view") called name. */
static int
has_object(struct trpt_db *db, const char *kind, const char *name)
{
	static const char sql_lite[] =
	    "SELECT count(*) FROM sqlite_master WHERE type = ? AND name = ?";
	static const char sql_pg[] =
	    "SELECT count(*) FROM information_schema.tables WHERE"
	    " table_schema = current_schema() AND table_type = CASE ? WHEN"
	    " 'view' THEN 'VIEW' ELSE 'BASE TABLE' END AND table_name = ?";
	struct trpt_stmt *st = NULL;
	struct trpt_err err;
	int64_t n;

	if (trpt_sql_prepare(
		db, on_sqlite(db) ? sql_lite : sql_pg, &st, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	trpt_sql_bind_text(st, 1, kind);
	trpt_sql_bind_text(st, 2, name);
	if (trpt_sql_step(st, &err) != 1)
		fail_msg("%s", err.msg);
	n = trpt_sql_int(st, 0);
	trpt_sql_finalize(&st);
	return n > 0;
}

static int
has_table(struct trpt_db *db, const char *name)
{
	return has_object(db, "table", name);
}

/*
 * SQLite files made and read with SQLite itself (sqlite3_open), as
 * another program would leave them: runs sql on the file at path, or
 * reads one integer from it without changing it.
 */
static void
file_exec(const char *path, const char *sql)
{
	sqlite3 *h = NULL;

	if (sqlite3_open(path, &h) != SQLITE_OK ||
	    sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s: %s", path, sql, sqlite3_errmsg(h));
	sqlite3_close(h);
}

static int64_t
file_int(const char *path, const char *sql)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *h = NULL;
	int64_t v;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) !=
		SQLITE_OK ||
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: %s: %s", path, sql, sqlite3_errmsg(h));
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
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
	if (snprintf(s->bytes, sizeof(s->bytes), "{\"report-id\":\"%s\"}",
		id) >= (int)sizeof(s->bytes))
		fail_msg("report id %s too long for the sample", id);
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

/*
 * A new database has the schema: on SQLite an in-memory one at the latest
 * user_version, with the foreign keys declared (checked by migrations)
 * and off on the ingest path; on PostgreSQL a new database on the server.
 */
static void
test_schema_open_memory(void **state)
{
	struct trpt_db *db = *state;
	int v = -1;

	if (on_sqlite(db)) {
		assert_string_equal(trpt_db_path(db), ":memory:");
		assert_int_equal(trpt_migrate_version(db, &v, NULL), TRPT_OK);
		assert_int_equal(v, trpt_migrations_sqlite_count);
		assert_true(trpt_migrations_sqlite_count >= 1);
		assert_int_equal(qint(db, "PRAGMA foreign_keys"), 0);
	}
	assert_true(has_table(db, "reports"));
	assert_true(has_table(db, "policies"));
	assert_true(has_table(db, "failures"));
	assert_true(has_table(db, "warnings"));
	assert_true(has_table(db, "raw_inputs"));
	assert_true(has_table(db, "quarantine_inputs"));
	assert_true(has_table(db, "quarantine_parts"));
	assert_false(has_table(db, "quarantine"));
	assert_true(has_object(db, "view", "quarantine"));
}

/*
 * The migration tests below open SQLite files and handles themselves: they
 * are about SQLite's files (user_version, old files, WAL, a file that is
 * not a database) and run on SQLite only; PostgreSQL's migrations have
 * their own tests (schema/migrate.c, tests/unit/test_sql_pg.c).
 */

/* The real list, applied step by step with upto. */
static void
test_schema_migrate_upto(void **state)
{
	struct trpt_db *mdb = NULL;
	struct trpt_err err;
	int v = -1, latest = trpt_migrations_sqlite_count;

	(void)state;
	assert_int_equal(
	    trpt_db_open_unmigrated(":memory:", &mdb, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_apply(mdb, 0, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(mdb, &v, NULL), TRPT_OK);
	assert_int_equal(v, 0);
	assert_false(has_table(mdb, "reports"));
	/* Up to the one before the latest, then the rest. */
	assert_int_equal(trpt_migrate_apply(mdb, latest - 1, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(mdb, &v, NULL), TRPT_OK);
	assert_int_equal(v, latest - 1);
	assert_int_equal(trpt_migrate_apply(mdb, -1, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(mdb, &v, NULL), TRPT_OK);
	assert_int_equal(v, latest);
	assert_true(has_table(mdb, "reports"));
	/* Nothing pending: a no-op. */
	assert_int_equal(trpt_migrate_apply(mdb, -1, &err), TRPT_OK);
	/* Beyond what the binary knows. */
	assert_int_equal(
	    trpt_migrate_apply(mdb, latest + 1, &err), TRPT_EINVAL);
	assert_non_null(strstr(err.msg, "no schema version"));
	trpt_db_close(&mdb);
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
	struct trpt_db *mdb = NULL;
	struct trpt_err err;
	int v = -1;

	(void)state;
	assert_int_equal(
	    trpt_db_open_unmigrated(":memory:", &mdb, &err), TRPT_OK);
	assert_int_equal(
	    trpt_migrate_apply_list(mdb, good_list, 3, 1, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(mdb, &v, NULL), TRPT_OK);
	assert_int_equal(v, 1);
	assert_true(has_table(mdb, "a"));
	assert_false(has_table(mdb, "b"));
	/* Running 1 again would fail: "table a already exists". */
	assert_int_equal(
	    trpt_migrate_apply_list(mdb, good_list, 3, -1, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(mdb, &v, NULL), TRPT_OK);
	assert_int_equal(v, 3);
	assert_true(has_table(mdb, "c"));
	assert_int_equal(qint(mdb, "SELECT count(*) FROM a"), 1);
	trpt_db_close(&mdb);
}

/* Files at version 0 with no tables (as sqlite3_open leaves them), and at
 * the version before the latest with data in it. */
static void
test_schema_migrate_old_files(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512];
	struct trpt_db *db = NULL;
	struct trpt_db *mdb = NULL;
	struct trpt_err err;
	int v = -1;

	(void)state;
	snprintf(path, sizeof(path), "%s/old.db", dir);
	file_exec(path, "PRAGMA user_version = 0");
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(db, &v, NULL), TRPT_OK);
	assert_int_equal(v, trpt_migrations_sqlite_count);
	assert_true(has_table(db, "reports"));
	trpt_db_close(&db);
	assert_null(db);
	/* Opening it again changes nothing. */
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	trpt_db_close(&db);

	/* A file left at the version before the latest, with data. */
	snprintf(path, sizeof(path), "%s/prev.db", dir);
	assert_int_equal(trpt_db_open_unmigrated(path, &mdb, &err), TRPT_OK);
	assert_int_equal(
	    trpt_migrate_apply(mdb, trpt_migrations_sqlite_count - 1, &err),
	    TRPT_OK);
	/* The quarantine as that version has it: one table, or (since
	 * 0006) inputs and their parts. */
	if (trpt_migrations_sqlite_count > 1 &&
	    has_table(mdb, "quarantine_parts"))
		qexec(mdb, "INSERT INTO quarantine_inputs (id, sha256, bytes,"
			   " size) VALUES (1, 'x', x'00', 1);"
			   "INSERT INTO quarantine_parts (input, part,"
			   " source_kind, source, reason, received_at,"
			   " last_seen_at) VALUES (1, 0, 'file', 'f', 'kept',"
			   " 1, 1)");
	else if (trpt_migrations_sqlite_count > 1)
		qexec(mdb, "INSERT INTO quarantine (sha256, part, bytes, size,"
			   " source_kind, source, reason, received_at,"
			   " last_seen_at) VALUES ('x', 0, x'00', 1, 'file',"
			   " 'f', 'kept', 1, 1)");
	trpt_db_close(&mdb);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_version(db, &v, NULL), TRPT_OK);
	assert_int_equal(v, trpt_migrations_sqlite_count);
	if (trpt_migrations_sqlite_count > 1)
		assert_int_equal(qint(db, "SELECT count(*) FROM quarantine "
					  "WHERE reason = 'kept'"),
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
	struct trpt_prune_counts pc;
	char *dir = trpt_test_tmpdir(), path[512];
	struct trpt_db *db = NULL;
	struct trpt_db *mdb = NULL;
	struct trpt_err err;

	(void)state;
	snprintf(path, sizeof(path), "%s/v3.db", dir);
	assert_int_equal(trpt_db_open_unmigrated(path, &mdb, &err), TRPT_OK);
	qexec(mdb, "PRAGMA foreign_keys=ON");
	assert_int_equal(trpt_migrate_apply(mdb, 3, &err), TRPT_OK);
	qexec(mdb,
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
	    " ('q', 2, x'0102', 2, 'file', 'f', 'bad 2', 1, 1);");
	trpt_db_close(&mdb);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	assert_int_equal(qint(db, "SELECT count(*) FROM policies"), 3);
	/* 0008 reads the STS mode out of the stored policy strings. */
	assert_int_equal(qint(db, "SELECT count(*) FROM policies WHERE "
				  "(id = 1 AND sts_mode IS NULL) OR (id = 2 "
				  "AND sts_mode = 'enforce') OR (id = 3 AND "
				  "sts_mode = 'testing')"),
	    3);
	assert_int_equal(qint(db, "SELECT count(*) FROM failures"), 1);
	assert_int_equal(qint(db, "SELECT count(*) FROM warnings"), 1);
	assert_int_equal(qint(db, "SELECT seen_count FROM reports WHERE id = 7 "
				  "AND copy = 0 AND counted = 1 AND "
				  "conflict = 0"),
	    3);
	assert_int_equal(qint(db, "SELECT count(*) FROM quarantine"), 2);
	assert_int_equal(qint(db, "SELECT count(*) FROM quarantine_inputs"), 1);
	assert_int_equal(
	    qint(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	/* The report counts in the rollups (0012 rolled it up), and prune
	 * takes it with its children. */
	/* One per policy domain of the report. */
	assert_int_equal(qint(db, "SELECT sum(reports) FROM rollup_daily"), 3);
	assert_int_equal(
	    trpt_maintain_prune(db, 4102444800, 1, &pc, &err), TRPT_OK);
	assert_int_equal(pc.reports_deleted, 1);
	assert_int_equal(qint(db, "SELECT count(*) FROM policies"), 0);
	assert_int_equal(qint(db, "SELECT count(*) FROM failures"), 0);
	assert_int_equal(qint(db, "SELECT count(*) FROM warnings"), 0);
	assert_int_equal(qint(db, "SELECT count(*) FROM raw_inputs"), 0);
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

/*
 * The content digest is part of what is stored (reports.content_sha256)
 * and tells copies apart: it must never change for the same content.
 * The hex values below were computed by the code of main 3ad673f (which
 * built the canonical bytes in a buffer) for two fixed reports; the
 * digest of a stored copy read back from its rows must match too.
 */
#define DIGEST_1                                                               \
	"998cf27420cdea5368319bdb10e5f12e3212e33fe74690de0ae4092ba31e0513"
#define DIGEST_2                                                               \
	"af90210646af0521b5b8e4f88d2a9298b09efeb1fb143f113a6bdd46fcf95cad"
/* The same canonical bytes written out independently (in Python) give
 * DIGEST_1 and DIGEST_2, and these for report id-digest-1b and its
 * input's bytes. */
#define DIGEST_1B                                                              \
	"70a13093d718ed8a7f133de32d6dfeb7a4bf7821ec108bba1ddb9d4e6f57378a"
#define RAW_1B                                                                 \
	"f204f8abdc3397a1a2695d9b85c094dc2f31a8739698be2661af8877244e18da"

/*
 * Lists of printable ASCII are written without jansson (schema/store.c
 * json_list_plain): the same bytes as json_dumps(JSON_COMPACT), for
 * lists around the edges of what that path takes (space, '~', '/', '\'',
 * one empty string) and just past them ('"', '\\', DEL, a tab, UTF-8),
 * which go to jansson.  Stored and read back from both columns.
 */
static void
test_schema_lists_plain(void **state)
{
	struct trpt_db *db = *state;
	static char *const v[] = { "mx1.example.com", "*.example.net",
		" ~/'!#$%&()*+,-.:;<=>?@[]^_`{|}", "", "a\"b", "c\\d", "e\x7f",
		"f\tg", "caf\xc3\xa9" };
	struct sample s;
	struct trpt_err err;
	char id[16], sql[256], got[512];
	json_t *a;
	char *want;
	size_t i, k, n;
	int outcome, col;

	for (i = 0; i < 9; i++) {
		/* The first i + 1 strings, up to 4, from the i-th back. */
		n = (i > 3 ? 3 : i) + 1;
		snprintf(id, sizeof(id), "plain-%zu", i);
		sample_init(&s, "org", id);
		s.p[0].policy_strings =
		    (struct trpt_strlist){ (char **)&v[i + 1 - n], n };
		s.p[0].mx_hosts = (struct trpt_strlist){ (char **)&v[i], 1 };
		assert_int_equal(
		    trpt_store_report(db, &s.r, &s.raw, &outcome, NULL, &err),
		    TRPT_OK);
		for (col = 0; col < 2; col++) {
			const struct trpt_strlist *l =
			    col ? &s.p[0].mx_hosts : &s.p[0].policy_strings;

			a = json_array();
			for (k = 0; k < l->n; k++)
				json_array_append_new(a, json_string(l->v[k]));
			want = json_dumps(a, JSON_COMPACT);
			assert_non_null(want);
			snprintf(sql, sizeof(sql),
			    "SELECT p.%s FROM policies p JOIN reports r ON"
			    " r.id = p.report WHERE r.report_id = '%s' AND"
			    " p.idx = 0",
			    col ? "mx_hosts" : "policy_strings", id);
			qtext(db, sql, got, sizeof(got));
			assert_string_equal(got, want);
			free(want);
			json_decref(a);
		}
	}
}

/*
 * Failure details go in several a statement (schema/store.c
 * insert_failures: 8, 4, 2 or 1 rows, across policies): each lands under
 * its own policy, in the report's order, every column as given (NULLs
 * too), for counts around each statement size and policies without any.
 */
static void
test_schema_failures_in_order(void **state)
{
	static const size_t counts[] = { 0, 3, 0, 9, 1, 17, 2, 0 };
	enum { NPOL = sizeof(counts) / sizeof(counts[0]), NF = 32 };
	struct trpt_db *db = *state;
	struct trpt_failure f[NF];
	struct trpt_policy p[NPOL];
	char ip[NF][24], code[NF][24], sql[512];
	struct sample s;
	struct trpt_err err;
	struct trpt_stmt *st;
	size_t i, j, k = 0;
	int outcome, rc;

	sample_init(&s, "org", "many-details");
	for (i = 0; i < NPOL; i++) {
		p[i] = s.p[0];
		p[i].failures = &f[k];
		p[i].nfailures = counts[i];
		p[i].failed = 0;
		for (j = 0; j < counts[i]; j++, k++) {
			snprintf(ip[k], sizeof(ip[k]), "192.0.2.%zu", k);
			snprintf(code[k], sizeof(code[k]), "code %zu", k);
			f[k] = (struct trpt_failure){
				.result_type = k % 2 ? "validation-failure"
						     : "sts-webpki-invalid",
				.sending_mta_ip = ip[k],
				.receiving_mx_helo = k % 3 ? NULL : "helo",
				.failure_reason_code = k % 5 ? code[k] : NULL,
				.failed_session_count = (int64_t)k + 1
			};
			p[i].failed += (int64_t)k + 1;
		}
	}
	assert_int_equal(k, 32);
	s.r.policies = p;
	s.r.npolicies = NPOL;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &outcome, NULL, &err), TRPT_OK);
	assert_int_equal(outcome, TRPT_STORE_NEW);
	snprintf(sql, sizeof(sql),
	    "SELECT p.idx, f.result_type, f.sending_mta_ip,"
	    " f.receiving_mx_helo, f.failure_reason_code,"
	    " f.failed_session_count FROM failures f JOIN policies p ON"
	    " p.id = f.policy JOIN reports r ON r.id = p.report WHERE"
	    " r.report_id = 'many-details' ORDER BY f.id");
	assert_int_equal(trpt_sql_prepare(db, sql, &st, &err), TRPT_OK);
	k = 0;
	for (i = 0; i < NPOL; i++)
		for (j = 0; j < counts[i]; j++, k++) {
			assert_int_equal(trpt_sql_step(st, &err), 1);
			assert_int_equal(trpt_sql_int(st, 0), (int64_t)i);
			assert_string_equal(
			    trpt_sql_text(st, 1), f[k].result_type);
			assert_string_equal(trpt_sql_text(st, 2), ip[k]);
			if (f[k].receiving_mx_helo == NULL)
				assert_true(trpt_sql_is_null(st, 3));
			else
				assert_string_equal(
				    trpt_sql_text(st, 3), "helo");
			if (f[k].failure_reason_code == NULL)
				assert_true(trpt_sql_is_null(st, 4));
			else
				assert_string_equal(
				    trpt_sql_text(st, 4), code[k]);
			assert_int_equal(trpt_sql_int(st, 5), (int64_t)k + 1);
		}
	rc = trpt_sql_step(st, &err);
	trpt_sql_finalize(&st);
	assert_int_equal(rc, 0);
	/* The rollups and the details agree (a detail under another policy
	 * or lost would show). */
	assert_int_equal(qint(db, "SELECT sum(failed_session_count) FROM"
				  " failures"),
	    qint(db, "SELECT sum(failed) FROM rollup_failures"));
}

static void
test_schema_content_digest_fixed(void **state)
{
	struct trpt_db *db = *state;
	struct sample s;
	struct trpt_err err;
	struct trpt_store_digests dig;
	char sha[80], longinfo[1201];
	int outcome = -1;

	sample_init(&s, "org", "id-digest-1");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &outcome, NULL, &err), TRPT_OK);
	qtext(db,
	    "SELECT content_sha256 FROM reports WHERE report_id = "
	    "'id-digest-1'",
	    sha, sizeof(sha));
	assert_string_equal(sha, DIGEST_1);
	assert_int_equal(trpt_store_content_digest(&s.r, sha, &err), TRPT_OK);
	assert_string_equal(sha, DIGEST_1);
	/* Worked out beforehand (the pipeline's parsing thread): the same. */
	sample_init(&s, "org", "id-digest-1b");
	assert_int_equal(trpt_store_digests(&s.r, &s.raw, &dig, &err), TRPT_OK);
	assert_int_equal(trpt_store_content_digest(&s.r, sha, &err), TRPT_OK);
	assert_string_equal(dig.content_sha256, sha);
	trpt_hash_sha256_hex(s.raw.bytes, s.raw.len, sha);
	assert_string_equal(dig.sha256, sha);
	s.raw.digests = &dig;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &outcome, NULL, &err), TRPT_OK);
	assert_int_equal(
	    qint(db, "SELECT count(*) FROM reports r JOIN "
		     "raw_inputs i ON i.id = r.raw_id WHERE "
		     "r.report_id = 'id-digest-1b' AND "
		     "r.content_sha256 = "
		     "'" DIGEST_1B "' AND i.sha256 = '" RAW_1B "'"),
	    1);
	/* NULL contact, a policy without lists or details, a long string,
	 * UTF-8. */
	memset(longinfo, 'x', sizeof(longinfo) - 1);
	longinfo[sizeof(longinfo) - 1] = '\0';
	sample_init(&s, "org \xc3\xa9", "id-digest-2");
	s.r.contact_info = NULL;
	s.f[1].additional_information = longinfo;
	s.f[0].receiving_mx_hostname = "";
	s.ps[1] = "mode: testing";
	s.p[0].failed = 0;
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &outcome, NULL, &err), TRPT_OK);
	qtext(db,
	    "SELECT content_sha256 FROM reports WHERE report_id = "
	    "'id-digest-2'",
	    sha, sizeof(sha));
	assert_string_equal(sha, DIGEST_2);
	/* Read back from the rows (a copy stored without a digest). */
	trpt_test_db_exec(db, "UPDATE reports SET content_sha256 = NULL");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &outcome, NULL, &err), TRPT_OK);
	assert_int_equal(outcome, TRPT_STORE_DUPLICATE);
	qtext(db,
	    "SELECT content_sha256 FROM reports WHERE report_id = "
	    "'id-digest-2'",
	    sha, sizeof(sha));
	assert_string_equal(sha, DIGEST_2);
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
	struct trpt_db *mdb = NULL;
	struct trpt_err err;
	int v = -1;

	(void)state;
	assert_int_equal(
	    trpt_db_open_unmigrated(":memory:", &mdb, &err), TRPT_OK);
	assert_int_equal(
	    trpt_migrate_apply_list(mdb, broken_list, 2, -1, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "0002_broken"));
	assert_non_null(strstr(err.msg, "no such table: nosuch"));
	assert_non_null(strstr(err.msg, ":memory:"));
	assert_int_equal(trpt_migrate_version(mdb, &v, NULL), TRPT_OK);
	assert_int_equal(v, 1);
	assert_true(has_table(mdb, "a"));
	assert_false(has_table(mdb, "b"));
	assert_int_equal(qint(mdb, "SELECT count(*) FROM a"), 0);
	assert_false(trpt_db_in_transaction(mdb));
	trpt_db_close(&mdb);
}

static void
test_schema_migrate_bad_list(void **state)
{
	static const struct trpt_migration gap[] = {
		{ 1, "one", "SELECT 1;" },
		{ 3, "three", "SELECT 1;" },
	};
	struct trpt_db *mdb = NULL;
	struct trpt_err err;

	(void)state;
	assert_int_equal(
	    trpt_db_open_unmigrated(":memory:", &mdb, &err), TRPT_OK);
	assert_int_equal(
	    trpt_migrate_apply_list(mdb, gap, 2, -1, &err), TRPT_EINVAL);
	qexec(mdb, "PRAGMA user_version = -3");
	assert_int_equal(
	    trpt_migrate_apply_list(mdb, good_list, 3, -1, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "-3"));
	trpt_db_close(&mdb);
}

static void
test_schema_refuses_newer(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512], sql[64];
	struct trpt_db *db = NULL;
	struct trpt_err err;

	(void)state;
	snprintf(path, sizeof(path), "%s/new.db", dir);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    trpt_migrations_sqlite_count + 1);
	file_exec(path, sql);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_EDB);
	assert_null(db);
	assert_non_null(strstr(err.msg, "newer"));
	assert_non_null(strstr(err.msg, path));
	/* The database was not touched. */
	assert_int_equal(file_int(path, "PRAGMA user_version"),
	    trpt_migrations_sqlite_count + 1);
	assert_int_equal(
	    file_int(path, "SELECT count(*) FROM sqlite_master"), 0);
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
	    qtext(db, "PRAGMA journal_mode", buf, sizeof(buf)), "wal");
	assert_int_equal(qint(db, "PRAGMA synchronous"), 1);
	assert_int_equal(qint(db, "PRAGMA foreign_keys"), 0);
	trpt_db_close(&db);
	assert_int_equal(trpt_db_open(":memory:", &mem, &err), TRPT_OK);
	assert_string_equal(
	    qtext(mem, "PRAGMA journal_mode", buf, sizeof(buf)), "memory");
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
	char buf[512], sha[TRPT_SHA256_HEX_LEN], sql[256], *raw;
	size_t rawlen;
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
	assert_string_equal(trpt_test_db_rows(h,
				"SELECT result_type || '/' || "
				"failed_session_count || '/' || "
				"COALESCE(receiving_mx_helo, '-') FROM "
				"failures ORDER BY id",
				" ", buf, sizeof(buf)),
	    "certificate-expired/3/- starttls-not-supported/2/mx1");
	assert_string_equal(
	    qtext(h, "SELECT message FROM warnings", buf, sizeof(buf)),
	    "date-range: no offset, taken as UTC");
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 1);
	trpt_hash_sha256_hex(s.bytes, strlen(s.bytes), sha);
	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM raw_inputs WHERE sha256 = '%s' AND size = "
	    "%zu",
	    sha, strlen(s.bytes));
	assert_int_equal(qint(h, sql), 1);
	raw = trpt_test_db_blob(h, "SELECT bytes FROM raw_inputs", &rawlen);
	assert_int_equal(rawlen, strlen(s.bytes));
	assert_memory_equal(raw, s.bytes, rawlen);
	free(raw);
	assert_string_equal(qtext(h,
				"SELECT source_kind || ' ' || source || ' ' "
				"|| message_id || ' ' || report_domain || ' ' "
				"|| COALESCE(report_submitter, '-') FROM "
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

/*
 * Raw inputs are looked up by the first 8 hex digits of their digest
 * (migration 0021) and told apart by the whole digest: a stored row
 * whose digest shares the prefix of a new input's (planted here: one new
 * input in about 8,600 meets one among 500,000 stored) is another input,
 * looked at first and passed over; the input itself, stored after it, is
 * still found as the same bytes by the next report of it and by its
 * duplicate.
 */
static void
test_schema_raw_prefix_collision(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample a, b;
	struct trpt_err err;
	char sha[TRPT_SHA256_HEX_LEN], other[TRPT_SHA256_HEX_LEN];
	char sql[512], buf[128];
	int64_t id1 = 0, id2 = 0;
	int dup = -1;

	sample_init(&a, "Org", "first");
	trpt_hash_sha256_hex(a.raw.bytes, a.raw.len, sha);
	memcpy(other, sha, sizeof(other));
	memset(other + 8, other[8] == '0' ? '1' : '0', 56);
	assert_string_not_equal(other, sha);
	/* The blob literal differs between the two; either is 5 bytes. */
	if (on_sqlite(db))
		snprintf(sql, sizeof(sql),
		    "INSERT INTO raw_inputs (sha256, bytes, size, source_kind,"
		    " source, received_at) VALUES ('%s', x'6f74686572', 5,"
		    " 'file', 'planted', 1)",
		    other);
	else
		snprintf(sql, sizeof(sql),
		    "INSERT INTO raw_inputs (sha256, bytes, size, source_kind,"
		    " source, received_at) VALUES ('%s', 'other', 5, 'file',"
		    " 'planted', 1)",
		    other);
	qexec(h, sql);
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, &id1, &err), TRPT_OK);
	assert_int_equal(dup, 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 2);
	snprintf(sql, sizeof(sql),
	    "SELECT i.source FROM reports r JOIN raw_inputs i ON i.id ="
	    " r.raw_id WHERE i.sha256 = '%s'",
	    sha);
	assert_string_equal(qtext(h, sql, buf, sizeof(buf)), "/tmp/in.json");
	/* A second report of the same bytes shares the input's row. */
	sample_init(&b, "Org", "second");
	b.raw = a.raw;
	b.raw.part = 2;
	assert_int_equal(
	    trpt_store_report(db, &b.r, &b.raw, &dup, &id2, &err), TRPT_OK);
	assert_int_equal(dup, 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 2);
	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM reports r JOIN raw_inputs i ON i.id ="
	    " r.raw_id WHERE i.sha256 = '%s'",
	    sha);
	assert_int_equal(qint(h, sql), 2);
	/* The same input again: a duplicate, nothing new stored. */
	sample_init(&a, "Org", "first");
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, &id2, &err), TRPT_OK);
	assert_int_equal(dup, 1);
	assert_int_equal(id2, id1);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 2);
	assert_int_equal(
	    qint(h, "SELECT count(*) FROM raw_inputs WHERE source ="
		    " 'planted' AND size = 5"),
	    1);
}

/*
 * A report is known by its sender, report-id and begin time (migration
 * 0028): the same report-id for another day is another report, counted
 * on its own, and not a conflicting copy; the same day again is a
 * duplicate, or a conflicting copy when its content differs, as before.
 */
static void
test_schema_store_key_begin(void **state)
{
	struct trpt_db *db = *state;
	struct sample a, b;
	struct trpt_err err;
	int64_t ida = 0, idb = 0, id = 0;
	int dup = -1;

	sample_init(&a, "Org", "counter-1");
	sample_init(&b, "Org", "counter-1");
	b.r.begin += 86400;
	b.r.end += 86400;
	b.p[0].successful = 90;
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, &ida, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_NEW);
	assert_int_equal(
	    trpt_store_report(db, &b.r, &b.raw, &dup, &idb, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_NEW);
	assert_true(idb != ida);
	assert_int_equal(
	    trpt_store_report(db, &b.r, &b.raw, &dup, &id, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_DUPLICATE);
	assert_int_equal(id, idb);
	/* Another content for the first day: a conflicting copy of it. */
	a.p[0].successful = 80;
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, &id, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_CONFLICT);
	assert_int_equal(qint(db, "SELECT count(*) FROM reports WHERE"
				  " report_id = 'counter-1'"),
	    3);
	assert_int_equal(qint(db, "SELECT count(*) FROM reports WHERE"
				  " report_id = 'counter-1' AND conflict = 1"
				  " AND begin_ts = 1778544000"),
	    2);
	assert_int_equal(qint(db, "SELECT count(*) FROM reports WHERE"
				  " report_id = 'counter-1' AND conflict = 0"
				  " AND counted = 1 AND begin_ts = 1778630400"),
	    1);
	assert_int_equal(qint(db, "SELECT count(*) FROM reports WHERE"
				  " report_id = 'counter-1' AND counted = 1"),
	    2);
}

/*
 * Migration 0028 (SQLite) rebuilds reports with the unique key (begin_ts,
 * organization_name, report_id, copy) as reports_begin: every row keeps
 * every column, copies stored before keep their conflict and counted
 * flags, the policies still refer to their reports (foreign keys on
 * while the rows are written), and the table has the two indexes and no
 * other.
 */
static void
test_schema_migrate_reports_key(void **state)
{
	static const char *dump =
	    "SELECT id, organization_name, report_id, copy, conflict, counted,"
	    " content_sha256, contact_info, begin_ts, end_ts, day, raw_id,"
	    " part, received_at, seen_count, last_seen_at, total_successful,"
	    " total_failed, dkim, dkim_reason, dkim_domain, dkim_selector,"
	    " dkim_key_service, dkim_aligned, dkim_accepted FROM reports"
	    " ORDER BY id";
	static char before[4096], after[4096];
	char *dir = trpt_test_tmpdir(), path[512];
	struct trpt_db *db = NULL;
	struct trpt_err err;

	(void)state;
	snprintf(path, sizeof(path), "%s/v27.db", dir);
	assert_int_equal(trpt_db_open_unmigrated(path, &db, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_apply(db, 27, &err), TRPT_OK);
	qexec(db, "PRAGMA foreign_keys=ON");
	qexec(db,
	    "INSERT INTO raw_inputs (id, sha256, bytes, size, source_kind,"
	    " source, received_at) VALUES (1, 'h', x'00', 1, 'file', 'f', 1);"
	    "INSERT INTO reports (id, organization_name, report_id, copy,"
	    " conflict, counted, content_sha256, contact_info, begin_ts,"
	    " end_ts, day, raw_id, part, received_at, seen_count,"
	    " last_seen_at, total_successful, total_failed, dkim,"
	    " dkim_reason, dkim_domain, dkim_selector, dkim_key_service,"
	    " dkim_aligned, dkim_accepted) VALUES"
	    " (3, 'Org', 'a', 0, 1, 0, 's1', 'c', 86400, 172799, 1, 1, 0, 5,"
	    " 2, 6, 10, 1, NULL, NULL, NULL, NULL, NULL, NULL, 0),"
	    " (4, 'Org', 'a', 1, 1, 1, 's2', NULL, 172800, 259199, 2, 1, 1,"
	    " 7, 1, 7, 11, 0, 'pass', 'ok', 'org.example', 'sel', 'dns',"
	    " 'same', 1),"
	    " (9, 'Other', 'a', 0, 0, 1, NULL, 'x', 86400, 172799, 1, 1, 2,"
	    " 8, 1, 8, 3, 3, 'none', NULL, NULL, NULL, NULL, NULL, 0);"
	    "INSERT INTO policies (id, report, idx, day, policy_type,"
	    " policy_domain, successful, failed, details_failed) VALUES"
	    " (1, 3, 0, 1, 'sts', 'd', 10, 1, 1), (2, 4, 0, 2, 'sts', 'd',"
	    " 11, 0, 0), (3, 9, 0, 1, 'sts', 'e', 3, 3, 0);");
	trpt_test_db_rows(db, dump, ";", before, sizeof(before));
	trpt_db_close(&db);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	assert_int_equal(
	    qint(db, "PRAGMA user_version"), trpt_migrations_sqlite_count);
	trpt_test_db_rows(db, dump, ";", after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(qint(db, "SELECT count(*) FROM policies p JOIN"
				  " reports r ON r.id = p.report"),
	    3);
	assert_int_equal(
	    qint(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	assert_int_equal(qint(db, "SELECT count(*) FROM sqlite_schema WHERE"
				  " type = 'index' AND tbl_name = 'reports'"),
	    2);
	assert_int_equal(qint(db, "SELECT count(*) FROM pragma_index_list("
				  "'reports') WHERE name = 'reports_begin'"
				  " AND \"unique\" = 1"),
	    1);
	assert_int_equal(qint(db, "SELECT group_concat(name, ',') = "
				  "'begin_ts,organization_name,report_id,copy'"
				  " FROM (SELECT name FROM pragma_index_info("
				  "'reports_begin') ORDER BY seqno)"),
	    1);
	/* The key holds: the second copy's key cannot be taken again. */
	assert_int_equal(trpt_sql_exec(db,
			     "INSERT INTO reports (organization_name,"
			     " report_id, copy, begin_ts, end_ts, day, raw_id,"
			     " part, received_at, last_seen_at,"
			     " total_successful, total_failed) VALUES ('Org',"
			     " 'a', 1, 172800, 1, 2, 1, 0, 1, 1, 0, 0)",
			     &err),
	    TRPT_EDB);
	assert_non_null(strstr(err.msg, "UNIQUE"));
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

/*
 * An input that is one report (TRPT_RAW_ONE_REPORT, migration 0023) is
 * not in the digest index: its bytes are found again through the stored
 * copies of its report.  Planted here: the stored copy's content digest
 * as another version might have worked it out, so that the same bytes
 * make a new (conflicting) copy instead of a duplicate: the new copy must
 * still point at the bytes stored, not at a second row of them.  Then an
 * input stored as one report and, later, as not one report (another
 * version's reading of it) is still one row; and an input that is not
 * one report is found by its digest for its next report, as before.
 */
static void
test_schema_raw_one_report(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample a, b;
	struct trpt_err err;
	int64_t id1 = 0, id2 = 0;
	int dup = -1;

	sample_init(&a, "Org", "one");
	a.raw.flags = TRPT_RAW_ONE_REPORT;
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, &id1, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_NEW);
	assert_int_equal(
	    qint(h, "SELECT count(*) FROM raw_inputs WHERE one_report = 1"), 1);
	/* The same bytes again: a duplicate, one row of them. */
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, &id2, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_DUPLICATE);
	assert_int_equal(id2, id1);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 1);
	/* The stored copy's digest as another version worked it out. */
	qexec(h, "UPDATE reports SET content_sha256 = 'older'");
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, &id2, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_CONFLICT);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 1);
	assert_int_equal(
	    qint(h, "SELECT count(DISTINCT raw_id) FROM reports"), 1);
	/* A third copy from other bytes, then those bytes again: found
	 * through the third copy, not the first. */
	sample_init(&b, "Org", "one");
	memcpy(b.bytes, "{\"third\":1}", 12);
	b.raw.len = strlen(b.bytes);
	b.raw.flags = TRPT_RAW_ONE_REPORT;
	b.p[1].successful = 8;
	assert_int_equal(
	    trpt_store_report(db, &b.r, &b.raw, &dup, &id2, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_CONFLICT);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 2);
	qexec(h, "UPDATE reports SET content_sha256 = 'older' WHERE copy = 2");
	assert_int_equal(
	    trpt_store_report(db, &b.r, &b.raw, &dup, &id2, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_CONFLICT);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 4);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports r JOIN"
				 " raw_inputs i ON i.id = r.raw_id WHERE"
				 " r.copy = 3 AND i.size = 11"),
	    1);
	/* Stored as one report, then read as several (another version):
	 * still one row, which now joins the digest index, so that a report
	 * of the same bytes that is new shares it too. */
	a.raw.flags = 0;
	a.raw.part = 1;
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, &id2, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_DUPLICATE);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 2);
	sample_init(&b, "Org", "one-more");
	b.raw = a.raw;
	b.raw.part = 2;
	assert_int_equal(
	    trpt_store_report(db, &b.r, &b.raw, &dup, &id2, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_NEW);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 2);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports WHERE"
				 " report_id = 'one-more' AND raw_id = (SELECT"
				 " raw_id FROM reports WHERE report_id = 'one'"
				 " AND copy = 0)"),
	    1);
	/* Not one report: in the digest index, found for its next report
	 * (a part of the same e-mail, say). */
	sample_init(&a, "Org", "many");
	a.raw.part = 1;
	assert_int_equal(
	    trpt_store_report(db, &a.r, &a.raw, &dup, &id1, &err), TRPT_OK);
	sample_init(&b, "Org", "many-2");
	b.raw = a.raw;
	b.raw.part = 2;
	assert_int_equal(
	    trpt_store_report(db, &b.r, &b.raw, &dup, &id2, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_NEW);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 3);
	assert_int_equal(qint(h, "SELECT one_report FROM raw_inputs WHERE id ="
				 " (SELECT raw_id FROM reports WHERE"
				 " report_id = 'many')"),
	    0);
	assert_int_equal(qint(h, "SELECT count(DISTINCT raw_id) FROM reports"
				 " WHERE report_id LIKE 'many%'"),
	    1);
}

/*
 * The ingest path runs without SQLite's foreign-key checks: what it
 * stores still satisfies every declared key, and prune, which cannot rely
 * on cascades, removes a report's policies, failures, warnings and bytes
 * by name while the rollups keep counting it.  PostgreSQL checks its
 * keys (declared as in SQLite) on every statement: there the store and
 * prune run with them on.
 */
static int64_t
fk_violations(struct trpt_db *db)
{
	if (on_sqlite(db))
		return qint(
		    db, "SELECT count(*) FROM pragma_foreign_key_check");
	/* Checked by the server: none can be there. */
	return 0;
}

static void
test_schema_foreign_keys(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct trpt_prune_counts pc;
	struct sample s, c;
	struct trpt_err err;
	int64_t id = 0;
	int dup;

	if (on_sqlite(db))
		assert_int_equal(qint(h, "PRAGMA foreign_keys"), 0);
	else
		assert_int_equal(
		    qint(h, "SELECT count(*) FROM"
			    " information_schema.table_constraints"
			    " WHERE constraint_type = 'FOREIGN KEY'"
			    " AND table_schema = current_schema()"),
		    5);
	sample_init(&s, "Org", "fk");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, &id, &err), TRPT_OK);
	sample_init(&c, "Org", "fk");
	c.p[0].successful = 99; /* a conflicting copy */
	assert_int_equal(
	    trpt_store_report(db, &c.r, &c.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_CONFLICT);
	assert_int_equal(
	    trpt_store_quarantine(db, &s.raw, "kept", &err), TRPT_OK);
	assert_int_equal(fk_violations(db), 0);
	assert_int_equal(
	    qint(h, "SELECT sum(successful) FROM rollup_daily"), 107);
	assert_int_equal(
	    trpt_maintain_prune(db, 4102444800, 1, &pc, &err), TRPT_OK);
	assert_int_equal(pc.reports_deleted, 2);
	assert_int_equal(pc.raw_deleted, 1); /* the copies' bytes are one */
	assert_int_equal(qint(h, "SELECT count(*) FROM policies"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM failures"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM warnings"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM quarantine"), 1);
	assert_int_equal(fk_violations(db), 0);
	assert_int_equal(
	    qint(h, "SELECT sum(successful) FROM rollup_daily"), 107);
}

/*
 * A database failure half-way through a report (here a trigger that
 * refuses the second failure detail) leaves nothing of it behind: alone,
 * its transaction is rolled back; in a batch, the whole batch is, and the
 * commit says so (on SQLite the failure itself comes at the commit, which
 * inserts the batch's failure details).
 */
static void
test_schema_store_failure_rolls_back(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	struct sample s, first;
	struct trpt_err err;
	int64_t id = 42;
	int dup = 42;

	if (on_sqlite(db))
		qexec(h, "CREATE TEMP TRIGGER boom BEFORE INSERT ON failures"
			 " WHEN NEW.result_type = 'starttls-not-supported'"
			 " BEGIN SELECT RAISE(ABORT, 'boom'); END");
	else
		qexec(h, "CREATE FUNCTION boom() RETURNS trigger LANGUAGE"
			 " plpgsql AS $$ BEGIN IF NEW.result_type ="
			 " 'starttls-not-supported' THEN RAISE EXCEPTION"
			 " 'boom'; END IF; RETURN NEW; END $$;"
			 " CREATE TRIGGER boom BEFORE INSERT ON failures FOR"
			 " EACH ROW EXECUTE FUNCTION boom()");
	sample_init(&s, "Org", "broken");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, &id, &err), TRPT_EDB);
	assert_int_equal(err.code, TRPT_EDB);
	assert_non_null(strstr(err.msg, "report broken from Org"));
	assert_non_null(strstr(err.msg, "boom"));
	assert_non_null(strstr(err.msg, trpt_db_path(db)));
	assert_int_equal(dup, 42); /* out-params untouched */
	assert_int_equal(id, 42);
	assert_false(trpt_db_in_transaction(db));
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM policies"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM failures"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM raw_inputs"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM rollup_daily"), 0);

	/* In a batch: the report before it goes too. */
	sample_init(&first, "Org", "first");
	first.p[0].nfailures = 1;
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_report(db, &first.r, &first.raw, &dup, NULL, &err),
	    TRPT_OK);
	/* PostgreSQL inserts the details at once; SQLite when the batch
	 * commits (schema/store.c, the deferred child rows). */
	assert_int_equal(trpt_store_report(db, &s.r, &s.raw, &dup, &id, &err),
	    on_sqlite(db) ? TRPT_OK : TRPT_EDB);
	assert_int_equal(trpt_db_in_transaction(db), on_sqlite(db));
	assert_int_equal(trpt_store_commit(db, &err), TRPT_EDB);
	if (on_sqlite(db))
		assert_non_null(strstr(err.msg, "boom"));
	assert_false(trpt_db_in_transaction(db));
	assert_int_equal(qint(h, "SELECT count(*) FROM reports"), 0);
	assert_int_equal(qint(h, "SELECT count(*) FROM rollup_daily"), 0);

	/* The statements were reset: the next report stores fine. */
	qexec(h, on_sqlite(db) ? "DROP TRIGGER temp.boom"
			       : "DROP TRIGGER boom ON failures");
	sample_init(&s, "Org", "fine");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, &id, &err), TRPT_OK);
	assert_int_equal(qint(h, "SELECT count(*) FROM failures"), 2);
	assert_int_equal(qint(h, "SELECT sum(reports) FROM rollup_daily"), 2);
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

/* Lists are JSON arrays that a JSON parser (jansson) reads back. */
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
	assert_int_equal(trpt_test_db_json_len(h,
			     "SELECT policy_strings FROM policies WHERE "
			     "idx = 0"),
	    5);
	assert_string_equal(trpt_test_db_json_str(h,
				"SELECT policy_strings FROM policies WHERE "
				"idx = 0",
				1, buf, sizeof(buf)),
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

/*
 * Explicit transactions: a report refused for what it is leaves the
 * batch as it was (no savepoint: every check runs before its first row
 * goes in).
 */
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
	    TRPT_EINVAL);
	assert_non_null(strstr(err.msg, "result-type"));
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

/*
 * The statements prepared on the connection: SQLite's sqlite_stmt table
 * (every statement not finalized, this query's own among them), or
 * PostgreSQL's pg_prepared_statements (the named statements of the
 * session: the driver's cached statements).
 */
static int64_t
prepared(struct trpt_db *db)
{
	return qint(db, on_sqlite(db)
			    ? "SELECT count(*) FROM sqlite_stmt"
			    : "SELECT count(*) FROM pg_prepared_statements");
}

/* Storing again and again prepares no new statements. */
static void
test_schema_statement_cache(void **state)
{
	struct trpt_db *db = *state;
	struct sample s;
	struct trpt_err err;
	char id[32];
	int i, dup;
	int64_t before, after;

	sample_init(&s, "Org", "warm");
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err), TRPT_OK);
	before = prepared(db);
	for (i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		sample_init(&s, "Org", id);
		assert_int_equal(
		    trpt_store_report(db, &s.r, &s.raw, &dup, NULL, &err),
		    TRPT_OK);
		assert_int_equal(dup, 0);
	}
	after = prepared(db);
	assert_int_equal(after, before);
	assert_true(before >= 7);
	/* Each was reset after its use (none is still running). */
	if (on_sqlite(db))
		assert_int_equal(qint(db, "SELECT count(*) FROM sqlite_stmt"
					  " WHERE busy AND sql NOT LIKE"
					  " '%sqlite_stmt%'"),
		    0);
	assert_int_equal(qint(db, "SELECT count(*) FROM reports"), 51);
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
	assert_int_equal(qint(b, "SELECT count(*) FROM reports"), 0);
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
	struct trpt_db *h = db;
	struct sample s;
	struct trpt_err err;
	long n;
	int rc, dup, failures = 0;

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
			qexec(h, "DELETE FROM failures; DELETE FROM policies;"
				 " DELETE FROM warnings; DELETE FROM reports;"
				 " DELETE FROM raw_inputs");
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

/* Every rollup as text, in key order, into buf. */
static void
dump_rollups(struct trpt_db *db, char *buf, size_t len)
{
	static const char *const sql[] = {
		"SELECT domain || ',' || day || ',' || org || ',' || successful"
		" || ',' || failed || ',' || reports AS x FROM rollup_daily"
		" ORDER BY 1",
		"SELECT org || ',' || day || ',' || successful || ',' || failed"
		" AS x FROM rollup_org_day ORDER BY 1",
		"SELECT domain || ',' || day || ',' || successful || ',' ||"
		" failed AS x FROM rollup_domain_day ORDER BY 1",
		"SELECT domain || ',' || week || ',' || org || ',' || "
		"successful"
		" || ',' || failed AS x FROM " TRPT_TEST_WEEKLY_ROWS
		" w ORDER BY 1",
		"SELECT domain || ',' || week || ',' || successful || ',' ||"
		" failed AS x FROM rollup_domain_week ORDER BY 1",
		"SELECT day || ',' || org || ',' || domain || ',' || "
		"result_type"
		" || ',' || mx || ',' || ip || ',' || failed AS x FROM"
		" rollup_failures ORDER BY 1",
		"SELECT day || ',' || org || ',' || domain || ',' || successful"
		" || ',' || failed AS x FROM rollup_testing ORDER BY 1",
		"SELECT domain || ',' || result_type || ',' || first_day AS x"
		" FROM rollup_type_first ORDER BY 1",
		"SELECT domain || ',' || week || ',' || org || ',' ||"
		" result_type || ',' || mx || ',' || ip || ',' || failed AS x"
		" FROM rollup_failures_week ORDER BY 1",
		"SELECT domain || ',' || week || ',' || successful || ',' ||"
		" failed AS x FROM rollup_testing_week ORDER BY 1",
	};
	static char part[65536];
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		trpt_test_db_rows(db, sql[i], ";", part, sizeof(part));
		n += (size_t)snprintf(buf + n, len - n, "%s\n", part);
		assert_true(n < len);
	}
}

/*
 * The rollups kept at write time equal a rebuild from the counted
 * reports, whatever happened on the way: the double-count guard (tlsa
 * and sts of one domain), failure details without failed sessions, an
 * MTA-STS policy in testing mode, duplicates, a batch rolled back, a
 * refused report inside a batch, and a verified conflicting copy that
 * takes over the counting from the unverified one (its rollups move).
 */
static void
test_schema_rollups_exact(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_db *h = db;
	static char before[65536], after[65536];
	struct trpt_auth pass = { .dkim = "pass",
		.dkim_domain = "org.example",
		.dkim_aligned = "same" };
	struct sample s[8];
	char *testing[2] = { "version: STSv1", "mode: testing" };
	struct trpt_err err;
	int i, dup;

	for (i = 0; i < 8; i++) {
		char id[16];

		snprintf(id, sizeof(id), "r%d", i);
		sample_init(&s[i], i % 2 ? "Org A" : "Org B", strdup(id));
		s[i].r.begin += (int64_t)(i % 3) * 86400 * 4;
		s[i].r.end += (int64_t)(i % 3) * 86400 * 4;
	}
	/* The guard: the same domain under tlsa and sts; most sessions
	 * win (tlsa here). */
	s[0].p[1].policy_type = "tlsa";
	s[0].p[1].policy_domain = "example.com";
	s[0].p[1].successful = 500;
	s[0].r.begin += 20 * 86400; /* a day of its own */
	s[0].r.end += 20 * 86400;
	/* A failure detail without failed sessions. */
	s[1].f[1].failed_session_count = 0;
	/* MTA-STS testing with failures. */
	s[2].p[0].policy_strings = (struct trpt_strlist){ testing, 2 };
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (i = 0; i < 4; i++)
		assert_int_equal(
		    trpt_store_report(db, &s[i].r, &s[i].raw, &dup, NULL, &err),
		    TRPT_OK);
	/* Refused inside the batch: nothing of it counts. */
	s[4].f[0].result_type = NULL;
	assert_int_equal(
	    trpt_store_report(db, &s[4].r, &s[4].raw, &dup, NULL, &err),
	    TRPT_EINVAL);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	/* A batch rolled back counts nothing. */
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_report(db, &s[5].r, &s[5].raw, &dup, NULL, &err),
	    TRPT_OK);
	trpt_store_rollback(db);
	/* Alone, and a duplicate. */
	for (i = 5; i < 8; i++)
		assert_int_equal(
		    trpt_store_report(db, &s[i].r, &s[i].raw, &dup, NULL, &err),
		    TRPT_OK);
	assert_int_equal(
	    trpt_store_report(db, &s[6].r, &s[6].raw, &dup, NULL, &err),
	    TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_DUPLICATE);
	/* Another content for r7, unverified: stored, not counted; then a
	 * verified one, in a batch: counted instead of the first, for
	 * another policy domain (its cells are not the first's). */
	s[7].p[0].successful = 1000;
	assert_int_equal(
	    trpt_store_report(db, &s[7].r, &s[7].raw, &dup, NULL, &err),
	    TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_CONFLICT);
	s[7].p[0].successful = 2000;
	s[7].p[0].policy_domain = "example.net";
	s[7].raw.auth = &pass;
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_store_report(db, &s[7].r, &s[7].raw, &dup, NULL, &err),
	    TRPT_OK);
	assert_int_equal(dup, TRPT_STORE_CONFLICT);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	assert_int_equal(qint(h, "SELECT count(*) FROM reports WHERE"
				 " report_id = 'r7' AND counted = 1 AND"
				 " dkim = 'pass'"),
	    1);
	/* The guard counted tlsa's 500 for r0's example.com, not sts's. */
	assert_int_equal(qint(h, "SELECT count(*) FROM rollup_daily WHERE"
				 " successful = 500"),
	    1);
	assert_int_equal(qint(h, "SELECT count(*) FROM rollup_testing"), 1);
	assert_int_equal(qint(h, "SELECT count(*) FROM rollup_failures"
				 " WHERE failed = 0"),
	    0);
	/* The unverified copy's 1000 is gone, the verified 2000 counts. */
	assert_int_equal(qint(h, "SELECT count(*) FROM rollup_daily WHERE"
				 " successful = 1000"),
	    0);
	assert_int_equal(qint(h, "SELECT count(*) FROM rollup_daily WHERE"
				 " successful = 2000"),
	    1);
	dump_rollups(h, before, sizeof(before));
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_int_equal(trpt_rollup_rebuild(db, &err), TRPT_OK);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	dump_rollups(h, after, sizeof(after));
	assert_string_equal(before, after);
	assert_true(strlen(before) > 200);
	for (i = 0; i < 8; i++)
		free(s[i].r.report_id);
}

/*
 * rollup_failures_week and rollup_type_first equal what rollup_failures
 * says (migrations 0016, 0018: the week's sum of each key's days; the
 * first day of each (domain, result type)), computed from it here with
 * GROUP BY, after each step of mixed batches: new keys; the same days
 * and weeks again (rows that exist); an earlier first day; a duplicate;
 * a refused report in a batch; a batch rolled back; a verified copy that
 * takes over from an unverified one (the set-based path takes the old
 * copy's cells out: its type goes from the week and the first days); and
 * a cell that stops at TRPT_MAX_ROLLUP_COUNT (the week is then summed
 * from its days).  Any rollup the commit missed or got wrong shows as a
 * difference.
 */
static void
check_derived(struct trpt_db *db, const char *step)
{
	static char want[65536], got[65536];
	static const char *const q[2][2] = {
		{ "SELECT domain || ',' || week || ',' || org || ',' ||"
		  " result_type || ',' || mx || ',' || ip || ',' || failed"
		  " FROM rollup_failures_week ORDER BY 1",
		    "SELECT domain || ',' || ((day + 3) / 7) || ',' || org ||"
		    " ',' || result_type || ',' || mx || ',' || ip || ',' ||"
		    " sum(failed) FROM rollup_failures GROUP BY domain,"
		    " (day + 3) / 7, org, result_type, mx, ip ORDER BY 1" },
		{ "SELECT domain || ',' || result_type || ',' || first_day"
		  " FROM rollup_type_first ORDER BY 1",
		    "SELECT domain || ',' || result_type || ',' || min(day)"
		    " FROM rollup_failures WHERE result_type <> '' GROUP BY"
		    " domain, result_type ORDER BY 1" },
	};
	int i;

	for (i = 0; i < 2; i++) {
		trpt_test_db_rows(db, q[i][0], ";", got, sizeof(got));
		trpt_test_db_rows(db, q[i][1], ";", want, sizeof(want));
		if (strcmp(got, want) != 0)
			fail_msg("%s: %s\n  kept: %s\n  from rollup_failures: "
				 "%s",
			    step,
			    i ? "rollup_type_first" : "rollup_failures_week",
			    got, want);
	}
}

static void
store_ok(struct trpt_db *db, struct sample *s, int want)
{
	struct trpt_err err;
	int dup = -1;

	if (trpt_store_report(db, &s->r, &s->raw, &dup, NULL, &err) != TRPT_OK)
		fail_msg("%s: %s", s->r.report_id, err.msg);
	assert_int_equal(dup, want);
}

static void
test_schema_rollups_derived(void **state)
{
	struct trpt_db *db = *state;
	static char before[262144], after[262144];
	struct trpt_auth pass = { .dkim = "pass",
		.dkim_domain = "org.example",
		.dkim_aligned = "same" };
	static struct sample s[16];
	char ids[16][16];
	struct trpt_err err;
	int64_t day = 86400;
	int i, dup;

	for (i = 0; i < 16; i++) {
		snprintf(ids[i], sizeof(ids[i]), "d%d", i);
		sample_init(&s[i], i % 2 ? "Org A" : "Org B", ids[i]);
	}
	/* Batch 1: three days of one week (20585-20587; week 2941 is
	 * 20584-20590) and one of the next, two senders. */
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (i = 0; i < 4; i++) {
		s[i].r.begin += (i < 3 ? i : 7) * day;
		s[i].r.end += (i < 3 ? i : 7) * day;
		store_ok(db, &s[i], TRPT_STORE_NEW);
	}
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	check_derived(db, "new keys");
	assert_true(qint(db, "SELECT count(*) FROM rollup_failures_week") >= 4);
	assert_true(qint(db, "SELECT max(failed) FROM rollup_failures_week"
			     " WHERE result_type = 'certificate-expired'") > 3);

	/* Batch 2: the same days again (cells and weeks that exist), a
	 * type on an earlier day (its first day moves), another type of
	 * the domain, a duplicate, and a refused report. */
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	s[4].r.begin += day;
	s[4].r.end += day;
	store_ok(db, &s[4], TRPT_STORE_NEW);
	s[5].r.begin -= 10 * day;
	s[5].r.end -= 10 * day;
	store_ok(db, &s[5], TRPT_STORE_NEW);
	s[6].f[0].result_type = "dane-required";
	s[6].r.begin += 2 * day;
	s[6].r.end += 2 * day;
	store_ok(db, &s[6], TRPT_STORE_NEW);
	store_ok(db, &s[1], TRPT_STORE_DUPLICATE);
	s[7].f[1].result_type = NULL;
	assert_int_equal(
	    trpt_store_report(db, &s[7].r, &s[7].raw, &dup, NULL, &err),
	    TRPT_EINVAL);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	check_derived(db, "existing keys, an earlier day");
	assert_int_equal(qint(db, "SELECT first_day FROM rollup_type_first"
				  " WHERE result_type = 'certificate-expired'"),
	    20575);

	/* A batch rolled back leaves nothing. */
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	s[8].r.begin -= 20 * day;
	s[8].r.end -= 20 * day;
	store_ok(db, &s[8], TRPT_STORE_NEW);
	trpt_store_rollback(db);
	check_derived(db, "rolled back");

	/* A verified copy of d9 with another type takes over from the
	 * unverified one: the old copy's type goes, from its week and its
	 * first day.  (A copy dated otherwise is another report since
	 * migration 0028.) */
	s[9].f[0].result_type = "tlsa-invalid";
	s[9].r.begin += 30 * day;
	s[9].r.end += 30 * day;
	store_ok(db, &s[9], TRPT_STORE_NEW);
	check_derived(db, "alone");
	assert_int_equal(qint(db, "SELECT count(*) FROM rollup_type_first"
				  " WHERE result_type = 'tlsa-invalid'"),
	    1);
	s[9].f[0].result_type = "validation-failure";
	s[9].p[0].successful = 50;
	s[9].raw.auth = &pass;
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	store_ok(db, &s[9], TRPT_STORE_CONFLICT);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	check_derived(db, "a copy taken out");
	assert_int_equal(qint(db, "SELECT count(*) FROM rollup_type_first"
				  " WHERE result_type = 'tlsa-invalid'"),
	    0);
	assert_int_equal(qint(db, "SELECT count(*) FROM rollup_failures_week"
				  " WHERE result_type = 'tlsa-invalid'"),
	    0);

	/* A cell at the cap, then more in its week: the week is its days'
	 * sum, not the sum of what was added. */
	s[10].p[0].failed = (int64_t)1 << 45;
	s[10].f[0].failed_session_count = ((int64_t)1 << 45) - 2;
	s[10].r.begin -= 40 * day;
	s[10].r.end -= 40 * day;
	store_ok(db, &s[10], TRPT_STORE_NEW);
	check_derived(db, "a cell at the cap");
	assert_int_equal(qint(db, "SELECT max(failed) FROM rollup_failures"),
	    TRPT_MAX_ROLLUP_COUNT);
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (i = 11; i < 13; i++) {
		s[i].r.begin -= (40 - (i - 11)) * day;
		s[i].r.end -= (40 - (i - 11)) * day;
		s[i].r.organization_name = s[10].r.organization_name;
		store_ok(db, &s[i], TRPT_STORE_NEW);
	}
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	check_derived(db, "more in the capped week");
	assert_true(qint(db, "SELECT max(failed) FROM rollup_failures_week") >
		    TRPT_MAX_ROLLUP_COUNT);
	/* Two cells at the cap in a new week of one batch: the week holds
	 * both. */
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (i = 13; i < 15; i++) {
		s[i].p[0].failed = (int64_t)1 << 45;
		s[i].f[0].failed_session_count = ((int64_t)1 << 45) - 2;
		s[i].r.organization_name = "Org C";
		s[i].r.begin -= (60 + (i - 13)) * day;
		s[i].r.end -= (60 + (i - 13)) * day;
		store_ok(db, &s[i], TRPT_STORE_NEW);
	}
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	check_derived(db, "two capped cells in a new week");
	assert_int_equal(qint(db, "SELECT failed FROM rollup_failures_week"
				  " WHERE org = 'Org C' AND result_type ="
				  " 'certificate-expired'"),
	    2 * TRPT_MAX_ROLLUP_COUNT);

	/* And everything equals a rebuild from the reports. */
	dump_rollups(db, before, sizeof(before));
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_int_equal(trpt_rollup_rebuild(db, &err), TRPT_OK);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	dump_rollups(db, after, sizeof(after));
	assert_string_equal(before, after);
	check_derived(db, "rebuilt");
}

/*
 * The rollups of a batch are summed in memory and written 32, 8 or 1 keys
 * a statement (schema/rollup.c): 45 reports over 41 domains and 3 days
 * give more than 32 keys per table, and the result equals a rebuild.  The
 * guard's tie (the same sessions under sts and tlsa) goes to the first
 * type in byte order (sts); failed sessions that no detail accounts for
 * count under result type ''.
 */
static void
test_schema_rollups_chunks(void **state)
{
	struct trpt_db *db = *state;
	static char before[262144], after[262144];
	static struct sample s[45];
	char ids[45][16], doms[41][32];
	struct trpt_err err;
	int i, dup;

	for (i = 0; i < 41; i++)
		snprintf(doms[i], sizeof(doms[i]), "d%02d.example", i);
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (i = 0; i < 45; i++) {
		snprintf(ids[i], sizeof(ids[i]), "c%d", i);
		sample_init(&s[i], i % 2 ? "Org A" : "Org B", ids[i]);
		s[i].r.begin += (int64_t)(i % 3) * 86400;
		s[i].r.end += (int64_t)(i % 3) * 86400;
		s[i].p[0].policy_domain = doms[i % 41];
		s[i].p[0].failed = 9; /* details account for 5 */
		s[i].p[1] = (struct trpt_policy){ .policy_type = "tlsa",
			.policy_domain = doms[i % 41],
			.successful = 104,
			.failed = 5 };
		assert_int_equal(
		    trpt_store_report(db, &s[i].r, &s[i].raw, &dup, NULL, &err),
		    TRPT_OK);
		assert_int_equal(dup, TRPT_STORE_NEW);
	}
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	assert_true(qint(db, "SELECT count(*) FROM rollup_daily") > 40);
	assert_true(qint(db, "SELECT count(*) FROM rollup_failures") > 120);
	/* sts's 100 a report, never tlsa's 104. */
	assert_int_equal(qint(db, "SELECT count(*) FROM rollup_daily WHERE"
				  " successful % 100 <> 0"),
	    0);
	assert_int_equal(qint(db, "SELECT sum(failed) FROM rollup_failures"
				  " WHERE result_type = ''"),
	    45 * 4);
	dump_rollups(db, before, sizeof(before));
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	assert_int_equal(trpt_rollup_rebuild(db, &err), TRPT_OK);
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	dump_rollups(db, after, sizeof(after));
	assert_string_equal(before, after);
}

/*
 * Migration 0012 brings an old database's rollups up to date: a
 * version-10 database whose refresh of old rolled up to some report
 * (rollup_state.last_report) gets the counted reports after it; one
 * marked dirty gets all of them again.  Either way the rollups end equal
 * to a rebuild, and the state table and its triggers are gone.
 */
static void
test_schema_migrate_rollups(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512];
	static char want[65536], got[65536];
	struct trpt_db *db = NULL, *mdb = NULL;
	struct trpt_err err;
	int dirty;

	(void)state;
	for (dirty = 0; dirty < 2; dirty++) {
		snprintf(path, sizeof(path), "%s/v10-%d.db", dir, dirty);
		assert_int_equal(
		    trpt_db_open_unmigrated(path, &mdb, &err), TRPT_OK);
		assert_int_equal(trpt_migrate_apply(mdb, 10, &err), TRPT_OK);
		/* Three reports; the refresh of old had rolled up the first
		 * (by hand here), or left everything dirty. */
		qexec(mdb,
		    "INSERT INTO raw_inputs (id, sha256, bytes, size,"
		    " source_kind, source, received_at) VALUES"
		    " (1, 'h', x'00', 1, 'file', 'f', 1);"
		    "INSERT INTO reports (id, organization_name, report_id,"
		    " begin_ts, end_ts, day, raw_id, part, received_at,"
		    " last_seen_at, total_successful, total_failed) VALUES"
		    " (1, 'o', 'a', 86400, 90000, 1, 1, 0, 1, 1, 10, 2),"
		    " (2, 'o', 'b', 86400, 90000, 1, 1, 0, 1, 1, 5, 1),"
		    " (3, 'p', 'c', 172800, 180000, 2, 1, 0, 1, 1, 7, 3);"
		    "INSERT INTO policies (id, report, idx, day,"
		    " policy_type, policy_domain, successful, failed,"
		    " details_failed, sts_mode) VALUES"
		    " (1, 1, 0, 1, 'sts', 'd.example', 10, 2, 2,"
		    " 'testing'),"
		    " (2, 2, 0, 1, 'sts', 'd.example', 5, 1, 0, NULL),"
		    " (3, 3, 0, 2, 'tlsa', 'e.example', 7, 3, 3, NULL);"
		    "INSERT INTO failures (policy, result_type,"
		    " receiving_mx_hostname, sending_mta_ip,"
		    " failed_session_count) VALUES"
		    " (1, 'certificate-expired', 'mx', '192.0.2.1', 2),"
		    " (3, 'dane-required', 'mx2', '192.0.2.2', 3);"
		    "INSERT INTO rollup_daily VALUES"
		    " ('d.example', 1, 'o', 10, 2, 1);"
		    "INSERT INTO rollup_org_day VALUES ('o', 1, 10, 2);"
		    "INSERT INTO rollup_domain_day VALUES"
		    " ('d.example', 1, 10, 2);"
		    "INSERT INTO rollup_weekly VALUES"
		    " ('d.example', 0, 'o', 10, 2);"
		    "INSERT INTO rollup_domain_week VALUES"
		    " ('d.example', 0, 10, 2);"
		    "INSERT INTO rollup_failures VALUES (1, 'o',"
		    " 'd.example', 'certificate-expired', 'mx',"
		    " '192.0.2.1', 2);"
		    "INSERT INTO rollup_testing VALUES (1, 'o',"
		    " 'd.example', 10, 2);"
		    "UPDATE rollup_state SET last_report = 1;");
		if (dirty)
			qexec(mdb, "UPDATE rollup_state SET dirty = 1;"
				   " UPDATE rollup_daily SET successful = 999");
		trpt_db_close(&mdb);
		assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
		assert_false(has_table(db, "rollup_state"));
		assert_int_equal(qint(db, "SELECT count(*) FROM sqlite_schema"
					  " WHERE type = 'trigger' AND name IN"
					  " ('rollup_report_deleted',"
					  " 'rollup_report_recounted')"),
		    0);
		assert_int_equal(
		    qint(db, "SELECT sum(reports) FROM rollup_daily"), 3);
		assert_int_equal(
		    qint(db, "SELECT sum(successful) FROM rollup_org_day"), 22);
		assert_int_equal(
		    qint(db, "SELECT sum(failed) FROM rollup_failures"), 6);
		dump_rollups(db, got, sizeof(got));
		assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
		assert_int_equal(trpt_rollup_rebuild(db, &err), TRPT_OK);
		assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
		dump_rollups(db, want, sizeof(want));
		assert_string_equal(got, want);
		trpt_db_close(&db);
	}
	trpt_test_rmrf(dir);
	free(dir);
}

/*
 * Migration 0017 (SQLite) spells the DKIM columns' CHECKs without an IN
 * list, which SQLite evaluated through a temporary index on every insert,
 * in place: on a database of version 16 holding a row, the connection
 * that migrates already prepares inserts without that index, and the
 * checks refuse what they refused (and pass NULL).
 */
static void
test_schema_checks_without_in_list(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512];
	struct trpt_db *db = NULL;
	struct trpt_err err;
	sqlite3 *h;
	sqlite3_stmt *st;
	const char *ins = "INSERT INTO raw_inputs (sha256, bytes, size,"
			  " source_kind, source, received_at, dkim)"
			  " VALUES ('b', x'00', 1, 'file', 'f', 1, 'pass')";
	int i, eph = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/v16.db", dir);
	assert_int_equal(trpt_db_open_unmigrated(path, &db, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_apply(db, 16, &err), TRPT_OK);
	qexec(db, "INSERT INTO raw_inputs (sha256, bytes, size, source_kind,"
		  " source, received_at, dkim) VALUES ('a', x'00', 1, 'file',"
		  " 'f', 1, 'temperror')");
	assert_int_equal(trpt_migrate_apply(db, -1, &err), TRPT_OK);
	assert_int_equal(qint(db, "SELECT count(*) FROM sqlite_schema WHERE"
				  " name IN ('raw_inputs', 'reports') AND"
				  " (sql LIKE '%dkim IN (%' OR"
				  " sql LIKE '%dkim_aligned IN (%')"),
	    0);
	trpt_db_close(&db);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	/* The plan of the insert opens no ephemeral table. */
	assert_int_equal(sqlite3_prepare_v2(h, ins, -1, &st, NULL), SQLITE_OK);
	sqlite3_finalize(st);
	{
		char ex[512];
		snprintf(ex, sizeof(ex), "EXPLAIN %s", ins);
		assert_int_equal(
		    sqlite3_prepare_v2(h, ex, -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW)
			eph += strcmp((const char *)sqlite3_column_text(st, 1),
				   "OpenEphemeral") == 0;
		sqlite3_finalize(st);
	}
	assert_int_equal(eph, 0);
	assert_int_equal(sqlite3_exec(h, ins, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
			     "UPDATE raw_inputs SET dkim = NULL WHERE"
			     " sha256 = 'a'",
			     NULL, NULL, NULL),
	    SQLITE_OK);
	for (i = 0; i < 2; i++)
		assert_int_equal(
		    sqlite3_exec(h,
			i == 0 ? "UPDATE raw_inputs SET dkim ="
				 " 'passed'"
			       : "UPDATE reports SET dkim_aligned ="
				 " 'other'",
			NULL, NULL, NULL) &
			0xff,
		    i == 0 ? SQLITE_CONSTRAINT : SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
			     "INSERT INTO reports (organization_name,"
			     " report_id, begin_ts, end_ts, day, raw_id, part,"
			     " received_at, last_seen_at, total_successful,"
			     " total_failed, dkim_aligned) VALUES ('o', 'r', 1,"
			     " 2, 0, 1, 0, 1, 1, 0, 0, 'other')",
			     NULL, NULL, NULL) &
			     0xff,
	    SQLITE_CONSTRAINT);
	sqlite3_close(h);
	trpt_test_rmrf(dir);
	free(dir);
}

/* Frames that one transaction wrote to the WAL (checkpointed after). */
static int
wal_frames(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st;
	int frames;

	assert_int_equal(sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)",
			     NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA wal_checkpoint(PASSIVE)",
			     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	frames = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	return frames;
}

/*
 * The pages the failing days' index adds to the transaction that stores
 * day (one day for 500 domains) in a database that fill filled with 40
 * days each: that transaction's frames minus those of the same
 * transaction without the index.  check, when given, looks at the filled
 * database first.
 */
static int
failing_index_pages(const char *fill, const char *day, void (*check)(sqlite3 *))
{
	char *dir = trpt_test_tmpdir(), path[512];
	struct trpt_db *db = NULL;
	struct trpt_err err;
	sqlite3 *h;
	int with, without;

	snprintf(path, sizeof(path), "%s/fail.db", dir);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	trpt_db_close(&db);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(h, "PRAGMA wal_autocheckpoint = 0", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, fill, NULL, NULL, NULL), SQLITE_OK);
	with = wal_frames(h, day);
	if (check != NULL)
		check(h);
	assert_int_equal(sqlite3_exec(h,
			     "DELETE FROM rollup_domain_day WHERE day = 20040;"
			     " DROP INDEX rollup_domain_day_failing",
			     NULL, NULL, NULL),
	    SQLITE_OK);
	without = wal_frames(h, day);
	sqlite3_close(h);
	trpt_test_rmrf(dir);
	free(dir);
	return with - without;
}

/*
 * The failing days' index (migration 0020) costs few pages when a new day
 * comes in: 500 domains with 40 failing days each (10%, 25% or 50%
 * failed), then a day more for each domain in one transaction.  The pages
 * the index adds are the frames of that transaction minus those of the
 * same transaction without the index: 18 here; keyed by the exact share
 * (migration 0016) it wrote 195, a random leaf per domain.
 */
static void
test_schema_failing_index_appends(void **state)
{
	static const char *day = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL"
				 " SELECT i + 1 FROM n WHERE i < 499) INSERT"
				 " INTO rollup_domain_day SELECT"
				 " printf('domain%04d.example', i), 20040,"
				 " 9 / (1 + 2 * (i % 3)), 1 FROM n";
	int pages;

	(void)state;
	pages =
	    failing_index_pages("WITH RECURSIVE"
				" n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM"
				" n WHERE i < 19999) INSERT INTO"
				" rollup_domain_day SELECT"
				" printf('domain%04d.example', i / 40), 20000 +"
				" i % 40, 9 / (1 + 2 * (i % 3)), 1 FROM n",
		day, NULL);
	if (pages > 40)
		fail_msg("the failing days' index wrote %d pages for one day"
			 " of 500 domains",
		    pages);
}

/* The alerts' query (schema/analysis.c FAILING_DAY) seeks the index. */
static void
failing_plan(sqlite3 *h)
{
	sqlite3_stmt *st;

	assert_int_equal(
	    sqlite3_prepare_v2(h,
		"EXPLAIN QUERY PLAN SELECT domain FROM rollup_domain_day WHERE"
		" failed > 0 AND successful <= failed * 199.0 AND CASE WHEN"
		" successful > failed * 99.0 THEN 0 WHEN successful > failed"
		" * 49.0 THEN 1 WHEN successful > failed * 24.0 THEN 2 WHEN"
		" successful > failed * 11.5 THEN 3 WHEN successful > failed"
		" * 5.25 THEN 4 WHEN successful > failed * 2.125 THEN 5 WHEN"
		" successful > failed * 0.5625 THEN 6 ELSE 7 END >= ? AND"
		" failed / NULLIF(successful + failed * 1.0, 0) >= ?",
		-1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 3),
	    "SEARCH rollup_domain_day USING INDEX rollup_domain_day_failing "
	    "(<expr>>?)");
	sqlite3_finalize(st);
}

/*
 * The same when the failed shares spread over every percent, as in a
 * database of many senders (migration 0025): 500 domains with 40 days
 * each, failed shares from 1% to 97%, then a day more for each domain, as
 * spread.  Keyed by the share's class (8 of them) the index adds 28
 * pages; keyed by the whole percent (migration 0020) it wrote 130, the
 * last leaf of each of the 97 percents and the splits.
 */
static void
test_schema_failing_index_classes(void **state)
{
	static const char *day = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL"
				 " SELECT i + 1 FROM n WHERE i < 499) INSERT"
				 " INTO rollup_domain_day SELECT"
				 " printf('domain%04d.example', i), 20040,"
				 " 99 - i * 7 % 97, 1 + i * 7 % 97 FROM n";
	int pages;

	(void)state;
	pages = failing_index_pages(
	    "WITH RECURSIVE"
	    " n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM"
	    " n WHERE i < 19999) INSERT INTO"
	    " rollup_domain_day SELECT"
	    " printf('domain%04d.example', i / 40), 20000 +"
	    " i % 40, 99 - i * 13 % 97, 1 + i * 13 % 97 FROM n",
	    day, failing_plan);
	if (pages > 40)
		fail_msg("the failing days' index wrote %d pages for one day"
			 " of 500 domains",
		    pages);
}

/*
 * reports_begin, the reports' unique key since migration 0028 (begin_ts,
 * organization_name, report_id, copy), takes the reports of a new day at
 * the index's newest edge, whatever their report-ids: 20,000 reports of
 * one sender over 90 earlier days, report-ids spread over the key space
 * (as UUIDs are), then 20 reports of the next day in one transaction.
 * The pages the key adds to that transaction (its frames minus those of
 * the same transaction with no key on the report-id): 1-2 here.  The key
 * of migrations 0005 to 0027 (organization_name, report_id, copy) wrote a
 * random leaf a report, and so does it here: the check sees it.
 */
static int
report_key_pages(const char *key)
{
	static const char *fill =
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
	    " WHERE i < %d) INSERT INTO reports (id, organization_name,"
	    " report_id, begin_ts, end_ts, day, raw_id, part, received_at,"
	    " last_seen_at, total_successful, total_failed) SELECT i, 'Org',"
	    " printf('%%08x-report', i * 2654435761 %% 4294967296),"
	    " %s, 1778630399, 20584, 1, 0, 1778700000, 1778700000, 1,"
	    " 0 FROM n WHERE i > %d";
	char *dir = trpt_test_tmpdir(), path[512], sql[1024], more[1024];
	struct trpt_db *db = NULL;
	struct trpt_err err;
	sqlite3 *h;
	int with, without;

	snprintf(path, sizeof(path), "%s/begin.db", dir);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	trpt_db_close(&db);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
			     "PRAGMA wal_autocheckpoint = 0;"
			     " DROP INDEX reports_begin",
			     NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, key, NULL, NULL, NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql), fill, 20000,
	    "1778544000 - (1 + i % 90) * 86400", 0);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	/* Each measured transaction comes after the same 20 were stored and
	 * deleted, so that the pages they take are there each time. */
	snprintf(more, sizeof(more), fill, 20020, "1778544000", 20000);
	assert_int_equal(sqlite3_exec(h, more, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "DELETE FROM reports WHERE id > 20000",
			     NULL, NULL, NULL),
	    SQLITE_OK);
	with = wal_frames(h, more);
	assert_int_equal(sqlite3_exec(h,
			     "DELETE FROM reports WHERE id > 20000;"
			     " DROP INDEX k",
			     NULL, NULL, NULL),
	    SQLITE_OK);
	without = wal_frames(h, more);
	sqlite3_close(h);
	trpt_test_rmrf(dir);
	free(dir);
	return with - without;
}

static void
test_schema_reports_key_appends(void **state)
{
	int pages;

	(void)state;
	pages = report_key_pages("CREATE UNIQUE INDEX k ON reports (begin_ts,"
				 " organization_name, report_id, copy)");
	if (pages > 4)
		fail_msg("reports_begin wrote %d pages for 20 reports", pages);
	pages = report_key_pages("CREATE UNIQUE INDEX k ON reports"
				 " (organization_name, report_id, copy)");
	if (pages < 15)
		fail_msg("the key by report-id wrote %d pages for 20 reports",
		    pages);
}

/*
 * Migration 0021 (SQLite) rebuilds raw_inputs without the unique index on
 * the digest, with an index on its first 8 hex digits: every row keeps
 * its id, digest, bytes and columns, the reports still refer to them, the
 * store's look-up uses the new index, and an input stored before the
 * migration is still found as the same bytes after it (0023 keeps every
 * input stored before it in that index, now partial: one_report 0).
 */
static void
test_schema_migrate_raw_prefix(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512], sha[TRPT_SHA256_HEX_LEN];
	char sql[512], buf[256];
	struct trpt_db *db = NULL;
	struct sample a, b;
	sqlite3_stmt *st;
	sqlite3 *h;
	struct trpt_err err;
	int dup = -1;

	(void)state;
	snprintf(path, sizeof(path), "%s/v20.db", dir);
	assert_int_equal(trpt_db_open_unmigrated(path, &db, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_apply(db, 20, &err), TRPT_OK);
	sample_init(&a, "Org", "first");
	/* A report and its input as a version 20 store wrote them (today's
	 * store writes columns added since). */
	trpt_hash_sha256_hex(a.raw.bytes, a.raw.len, sha);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO raw_inputs (id, sha256, bytes, size, source_kind,"
	    " source, received_at) VALUES (1, '%s', CAST('%s' AS BLOB), %zu,"
	    " 'file', '/tmp/in.json', 1778700000)",
	    sha, a.bytes, a.raw.len);
	qexec(db, sql);
	qexec(db, "INSERT INTO reports (organization_name, report_id, begin_ts,"
		  " end_ts, day, raw_id, part, received_at, last_seen_at,"
		  " total_successful, total_failed) VALUES ('Org', 'first',"
		  " 1778544000, 1778630399, 20584, 1, 0, 1778700000,"
		  " 1778700000, 107, 0)");
	qexec(db, "INSERT INTO raw_inputs (id, sha256, bytes, size,"
		  " source_kind, source, message_id, report_domain,"
		  " report_submitter, received_at, dkim, dkim_reason,"
		  " dkim_domain, dkim_selector, dkim_key_service, client)"
		  " VALUES (7, 'b', x'0001', 2, 'mail', 'm', '<i>', 'd',"
		  " 's', 3, 'pass', 'r', 'dd', 'sel', 'ks', 'c')");
	assert_int_equal(qint(db, "SELECT count(*) FROM sqlite_schema WHERE"
				  " name = 'sqlite_autoindex_raw_inputs_1'"),
	    1);
	trpt_db_close(&db);
	assert_int_equal(trpt_db_open(path, &db, &err), TRPT_OK);
	assert_int_equal(
	    qint(db, "PRAGMA user_version"), trpt_migrations_sqlite_count);
	assert_int_equal(qint(db, "SELECT count(*) FROM sqlite_schema WHERE"
				  " tbl_name = 'raw_inputs' AND type ="
				  " 'index' AND name != "
				  "'raw_inputs_sha256_prefix'"),
	    0);
	assert_int_equal(qint(db, "SELECT count(*) FROM raw_inputs"), 2);
	assert_int_equal(
	    qint(db, "SELECT count(*) FROM raw_inputs WHERE one_report = 0"),
	    2);
	assert_string_equal(
	    qtext(db,
		"SELECT quote(bytes) || size || source_kind || source ||"
		" message_id || report_domain || report_submitter ||"
		" received_at || dkim || dkim_reason || dkim_domain ||"
		" dkim_selector || dkim_key_service || client FROM"
		" raw_inputs WHERE id = 7 AND sha256 = 'b'",
		buf, sizeof(buf)),
	    "X'0001'2mailm<i>ds3passrddselksc");
	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM reports r JOIN raw_inputs i ON i.id ="
	    " r.raw_id WHERE i.sha256 = '%s' AND i.bytes = CAST('%s' AS"
	    " BLOB)",
	    sha, a.bytes);
	assert_int_equal(qint(db, sql), 1);
	assert_int_equal(
	    qint(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	assert_int_equal(qint(db, "SELECT count(*) FROM pragma_integrity_check"
				  " WHERE integrity_check != 'ok'"),
	    0);
	/* The store's look-up (schema/store.c sql_raw_id) searches it. */
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h,
			     "EXPLAIN QUERY PLAN SELECT id, sha256 FROM"
			     " raw_inputs WHERE substr(sha256, 1, 8) = ?"
			     " AND one_report = 0",
			     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 3),
	    "SEARCH raw_inputs USING INDEX raw_inputs_sha256_prefix "
	    "(<expr>=?)");
	sqlite3_finalize(st);
	sqlite3_close(h);
	/* Stored before, found after: one row for two reports of it. */
	sample_init(&b, "Org", "second");
	b.raw = a.raw;
	b.raw.part = 2;
	assert_int_equal(
	    trpt_store_report(db, &b.r, &b.raw, &dup, NULL, &err), TRPT_OK);
	assert_int_equal(dup, 0);
	assert_int_equal(qint(db, "SELECT count(*) FROM raw_inputs"), 2);
	assert_int_equal(
	    qint(db, "SELECT count(DISTINCT raw_id) FROM reports"), 1);
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

int
main(void)
{
	struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_schema_open_memory, setup_db, teardown_db),
		cmocka_unit_test(test_schema_migrate_upto),
		cmocka_unit_test(test_schema_migrate_older),
		cmocka_unit_test(test_schema_migrate_old_files),
		cmocka_unit_test(test_schema_migrate_copies_keep_data),
		cmocka_unit_test_setup_teardown(
		    test_schema_store_copies_legacy, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_lists_plain, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_failures_in_order, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_content_digest_fixed, setup_db, teardown_db),
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
		    test_schema_raw_prefix_collision, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_raw_one_report, setup_db, teardown_db),
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
		cmocka_unit_test_setup_teardown(
		    test_schema_rollups_exact, setup_db, teardown_db),
		cmocka_unit_test(test_schema_migrate_rollups),
		cmocka_unit_test_setup_teardown(
		    test_schema_rollups_chunks, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(
		    test_schema_rollups_derived, setup_db, teardown_db),
		cmocka_unit_test(test_schema_checks_without_in_list),
		cmocka_unit_test(test_schema_failing_index_appends),
		cmocka_unit_test(test_schema_failing_index_classes),
		cmocka_unit_test(test_schema_reports_key_appends),
		cmocka_unit_test(test_schema_migrate_raw_prefix),
		cmocka_unit_test_setup_teardown(
		    test_schema_store_key_begin, setup_db, teardown_db),
		cmocka_unit_test(test_schema_migrate_reports_key),
	};

	trpt_test_db_sqlite_only(tests, sizeof(tests) / sizeof(tests[0]),
	    "test_schema_store_oom",
	    "SQLite's allocator hook makes the failures");
	trpt_test_db_sqlite_only(tests, sizeof(tests) / sizeof(tests[0]),
	    "test_schema_checks_without_in_list",
	    "the migration and the plan are SQLite's");
	trpt_test_db_sqlite_only(tests, sizeof(tests) / sizeof(tests[0]),
	    "test_schema_failing_index_appends", "WAL frames are SQLite's");
	trpt_test_db_sqlite_only(tests, sizeof(tests) / sizeof(tests[0]),
	    "test_schema_failing_index_classes", "WAL frames are SQLite's");
	trpt_test_db_sqlite_only(tests, sizeof(tests) / sizeof(tests[0]),
	    "test_schema_reports_key_appends", "WAL frames are SQLite's");
	trpt_test_db_sqlite_only(tests, sizeof(tests) / sizeof(tests[0]),
	    "test_schema_migrate_raw_prefix",
	    "the rebuild and the plan are SQLite's");
	trpt_test_db_sqlite_only(tests, sizeof(tests) / sizeof(tests[0]),
	    "test_schema_migrate_reports_key", "the rebuild is SQLite's");
	install_faulty_malloc();
	return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
