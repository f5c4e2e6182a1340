/*
 * SQLite's foreign keys during migrations (schema/migrate.c): a migration
 * that rebuilds a table runs with them off and PRAGMA foreign_key_check
 * over the whole database before its commit; any other runs with them on
 * and without that check (which read all of a year's 1.9 GB database
 * after every migration).  These tests open SQLite handles themselves:
 * the pragma is SQLite's; PostgreSQL checks every key on every statement
 * (its migrations: tests/unit/test_schema.c, test_sql_pg.c).
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/migrate.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"

#define qint(db, sql)  trpt_test_db_int(db, sql)
#define qexec(db, sql) trpt_test_db_exec(db, sql)

/* Which SQL counts as rebuilding a table, and which does not. */
static void
test_migrate_rebuilds_table(void **state)
{
	static const struct {
		const char *sql;
		int rebuilds;
	} cases[] = {
		{ "CREATE TABLE a (x INTEGER);", 0 },
		{ "CREATE INDEX i ON a (x); DROP INDEX i; DROP VIEW v;"
		  " DROP TRIGGER t;",
		    0 },
		{ "DROP TABLE reports;", 1 },
		{ "drop\n\ttable  IF EXISTS \"Reports\";", 1 },
		{ "DROP TABLE main.reports;", 1 },
		{ "DROP TABLE [two words];", 1 },
		{ "DROP TABLE", 1 },
		{ "DROP TABLE temp.scratch;", 0 },
		{ "DROP TABLE \"temp\" . scratch;", 0 },
		/* A scratch table of the migration itself. */
		{ "CREATE TABLE bump (x INTEGER); DROP TABLE bump;", 0 },
		{ "CREATE TABLE IF NOT EXISTS Bump (x); DROP TABLE main.bUMP;",
		    0 },
		{ "CREATE TEMP TABLE s (x); DROP TABLE s;", 0 },
		{ "CREATE TABLE bump (x); DROP TABLE other;", 1 },
		/* Created after the drop: the drop is of the old one. */
		{ "DROP TABLE t; CREATE TABLE t (x);", 1 },
		{ "ALTER TABLE reports RENAME TO old;", 1 },
		{ "ALTER TABLE reports RENAME COLUMN a TO b;", 1 },
		{ "ALTER TABLE reports ADD COLUMN c INTEGER;", 0 },
		{ "ALTER TABLE reports DROP COLUMN c;", 0 },
		/* The rebuild's last step, of a table it made. */
		{ "CREATE TABLE n (x); ALTER TABLE n RENAME TO reports;", 0 },
		/* Comments and strings are not statements. */
		{ "-- DROP TABLE reports\nSELECT 'DROP TABLE reports';", 0 },
		{ "/* DROP TABLE reports; */ SELECT 1;", 0 },
		{ "SELECT 'it''s'; DROP TABLE x;", 1 },
		{ "SELECT '/*'; DROP TABLE x; -- */", 1 },
		{ "", 0 },
	};
	char longsql[600], name[260];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("# case %zu\n", i);
		assert_int_equal(trpt_migrate_rebuilds_table(cases[i].sql),
		    cases[i].rebuilds);
	}
	/* A name too long to compare is not taken for the one created. */
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(longsql, sizeof(longsql),
	    "CREATE TABLE %s (x); DROP TABLE %s;", name, name);
	assert_int_equal(trpt_migrate_rebuilds_table(longsql), 1);
}

/*
 * The real list: 0005 and 0028 (reports), 0006 (quarantine), 0012
 * (rollup_state) and 0021 (raw_inputs) drop tables; 0017's scratch table
 * does not count.
 */
static void
test_migrate_rebuilds_real_list(void **state)
{
	int i, want;

	(void)state;
	for (i = 0; i < trpt_migrations_sqlite_count; i++) {
		want = trpt_migrations_sqlite[i].version == 5 ||
		       trpt_migrations_sqlite[i].version == 6 ||
		       trpt_migrations_sqlite[i].version == 12 ||
		       trpt_migrations_sqlite[i].version == 21 ||
		       trpt_migrations_sqlite[i].version == 28 ||
		       strcmp(trpt_migrations_sqlite[i].name,
			   "weekly_blocks") == 0;
		print_message("# %04d_%s\n", trpt_migrations_sqlite[i].version,
		    trpt_migrations_sqlite[i].name);
		assert_int_equal(
		    trpt_migrate_rebuilds_table(trpt_migrations_sqlite[i].sql),
		    want);
	}
}

/* Version 1 of the lists below: a parent and a child that refers to it. */
#define V1                                                                     \
	"CREATE TABLE p (id INTEGER PRIMARY KEY);"                             \
	"CREATE TABLE c (p INTEGER NOT NULL REFERENCES p(id)"                  \
	" ON DELETE CASCADE);"                                                 \
	"INSERT INTO p VALUES (1); INSERT INTO c VALUES (1);"

/* Rebuilds p as ALTER TABLE's documentation says, keeping its rows. */
#define REBUILD_P                                                              \
	"CREATE TABLE p_new (id INTEGER PRIMARY KEY, y INTEGER);"              \
	"INSERT INTO p_new (id) SELECT id FROM p;"                             \
	"DROP TABLE p; ALTER TABLE p_new RENAME TO p;"

static struct trpt_db *
open_at_1(const struct trpt_migration *list, int count)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;

	assert_int_equal(
	    trpt_db_open_unmigrated(":memory:", &db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_migrate_apply_list(db, list, count, 1, &err), TRPT_OK);
	return db;
}

/*
 * A rebuild runs with foreign keys off (its DROP does not cascade into c)
 * and is checked: one that leaves c's row pointing nowhere fails, names
 * the migration and the table, and leaves the database as it was.
 */
static void
test_migrate_rebuild_checked(void **state)
{
	static const struct trpt_migration good[] = {
		{ 1, "one", V1 },
		{ 2, "rebuild", REBUILD_P },
	};
	static const struct trpt_migration bad[] = {
		{ 1, "one", V1 },
		{ 2, "lossy_rebuild",
		    "CREATE TABLE p_new (id INTEGER PRIMARY KEY, y INTEGER);"
		    "DROP TABLE p; ALTER TABLE p_new RENAME TO p;" },
	};
	struct trpt_db *db;
	struct trpt_err err;
	int v = -1;

	(void)state;
	db = open_at_1(good, 2);
	qexec(db, "PRAGMA foreign_keys=ON");
	assert_int_equal(
	    trpt_migrate_apply_list(db, good, 2, -1, &err), TRPT_OK);
	assert_int_equal(qint(db, "SELECT count(*) FROM c"), 1);
	assert_int_equal(qint(db, "SELECT count(*) FROM p"), 1);
	assert_int_equal(qint(db, "PRAGMA foreign_keys"), 1);
	trpt_db_close(&db);

	db = open_at_1(bad, 2);
	qexec(db, "PRAGMA foreign_keys=ON");
	assert_int_equal(
	    trpt_migrate_apply_list(db, bad, 2, -1, &err), TRPT_EDB);
	print_message("# %s\n", err.msg);
	assert_non_null(strstr(err.msg, "migration 0002_lossy_rebuild"));
	assert_non_null(strstr(err.msg, "a row of table c refers to nothing"));
	assert_non_null(strstr(err.msg, ":memory:"));
	assert_int_equal(trpt_migrate_version(db, &v, NULL), TRPT_OK);
	assert_int_equal(v, 1);
	assert_int_equal(qint(db, "SELECT count(*) FROM p"), 1);
	assert_int_equal(qint(db, "SELECT count(*) FROM c"), 1);
	assert_int_equal(qint(db, "PRAGMA foreign_keys"), 1);
	trpt_db_close(&db);
}

/*
 * A plain migration is not followed by the whole-database check: a
 * dangling row from before (written with foreign keys off) does not fail
 * it, as it did when every migration ended with PRAGMA
 * foreign_key_check.  A rebuild after it still reads everything and finds
 * the row.
 */
static void
test_migrate_plain_not_checked(void **state)
{
	static const struct trpt_migration list[] = {
		{ 1, "one", V1 },
		{ 2, "plain",
		    "CREATE TABLE d (x INTEGER);"
		    "INSERT INTO c VALUES (1);" },
		{ 3, "rebuild", REBUILD_P },
	};
	struct trpt_db *db;
	struct trpt_err err;
	int v = -1;

	(void)state;
	db = open_at_1(list, 3);
	qexec(db, "PRAGMA foreign_keys=OFF; INSERT INTO c VALUES (99);"
		  " PRAGMA foreign_keys=ON");
	assert_int_equal(
	    trpt_migrate_apply_list(db, list, 3, 2, &err), TRPT_OK);
	assert_int_equal(qint(db, "SELECT count(*) FROM c"), 3);
	assert_int_equal(
	    trpt_migrate_apply_list(db, list, 3, -1, &err), TRPT_EDB);
	print_message("# %s\n", err.msg);
	assert_non_null(strstr(err.msg, "migration 0003_rebuild"));
	assert_non_null(strstr(err.msg, "a row of table c refers to nothing"));
	assert_int_equal(trpt_migrate_version(db, &v, NULL), TRPT_OK);
	assert_int_equal(v, 2);
	trpt_db_close(&db);
}

/*
 * A plain migration runs with foreign keys on even on a connection that
 * has them off (as the store's): a row it writes that refers to nothing
 * fails it (SQLite's own check), and the connection's setting is back
 * afterwards, failed or not.
 */
static void
test_migrate_plain_keys_on(void **state)
{
	static const struct trpt_migration list[] = {
		{ 1, "one", V1 },
		{ 2, "dangling",
		    "CREATE TABLE d (x INTEGER);"
		    "INSERT INTO c VALUES (42);" },
	};
	static const struct trpt_migration ok[] = {
		{ 1, "one", V1 },
		{ 2, "fine",
		    "INSERT INTO p VALUES (2); INSERT INTO c VALUES (2);"
		    "DELETE FROM p WHERE id = 1;" },
	};
	struct trpt_db *db;
	struct trpt_err err;
	int v = -1;

	(void)state;
	db = open_at_1(list, 2);
	qexec(db, "PRAGMA foreign_keys=OFF");
	assert_int_equal(
	    trpt_migrate_apply_list(db, list, 2, -1, &err), TRPT_EDB);
	print_message("# %s\n", err.msg);
	assert_non_null(strstr(err.msg, "migration 0002_dangling"));
	assert_non_null(strstr(err.msg, "FOREIGN KEY constraint failed"));
	assert_int_equal(trpt_migrate_version(db, &v, NULL), TRPT_OK);
	assert_int_equal(v, 1);
	assert_int_equal(qint(db, "SELECT count(*) FROM c"), 1);
	assert_int_equal(qint(db, "PRAGMA foreign_keys"), 0);
	trpt_db_close(&db);

	/* With them on, a plain DELETE cascades as declared. */
	db = open_at_1(ok, 2);
	qexec(db, "PRAGMA foreign_keys=OFF");
	assert_int_equal(trpt_migrate_apply_list(db, ok, 2, -1, &err), TRPT_OK);
	assert_int_equal(qint(db, "SELECT count(*) FROM c"), 1);
	assert_int_equal(qint(db, "SELECT p FROM c"), 2);
	assert_int_equal(qint(db, "PRAGMA foreign_keys"), 0);
	trpt_db_close(&db);
}

/*
 * A rebuild's DROP of the old table does not zero its pages (secure_delete
 * FAST during the migration, ON again after): the rows live on in the
 * copy, and zeroing wrote the whole table once more into the WAL (and,
 * with temp_store=MEMORY, the statement journal in memory).  4 MB of rows
 * rebuilt: the WAL holds the copy, not the copy and the zeros.
 */
static void
test_migrate_rebuild_no_zeroing(void **state)
{
	static const struct trpt_migration list[] = {
		{ 1, "one",
		    "CREATE TABLE b (id INTEGER PRIMARY KEY, v BLOB);"
		    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
		    " FROM n WHERE i < 1000) INSERT INTO b SELECT i,"
		    " randomblob(4000) FROM n;" },
		{ 2, "rebuild",
		    "CREATE TABLE b_new (id INTEGER PRIMARY KEY, v BLOB);"
		    "INSERT INTO b_new SELECT * FROM b;"
		    "DROP TABLE b; ALTER TABLE b_new RENAME TO b;" },
	};
	char *dir = trpt_test_tmpdir(), path[512], wal[520];
	struct trpt_db *db = NULL;
	struct trpt_err err;
	struct stat sb;

	(void)state;
	snprintf(path, sizeof(path), "%s/z.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(trpt_db_open_unmigrated(path, &db, &err), TRPT_OK);
	assert_int_equal(
	    trpt_migrate_apply_list(db, list, 2, 1, &err), TRPT_OK);
	qexec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	qexec(db, "PRAGMA secure_delete=ON");
	assert_int_equal(
	    trpt_migrate_apply_list(db, list, 2, -1, &err), TRPT_OK);
	assert_int_equal(stat(wal, &sb), 0);
	print_message(
	    "# WAL after rebuilding 4 MB: %lld bytes\n", (long long)sb.st_size);
	assert_true(sb.st_size > 4000000);
	assert_true(sb.st_size < 6000000);
	assert_int_equal(qint(db, "SELECT count(*) FROM b"), 1000);
	assert_int_equal(qint(db, "PRAGMA secure_delete"), 1);
	trpt_db_close(&db);
	trpt_test_rmrf(dir);
	free(dir);
}

/* sqlite_master as it reads, row by row in its order, but for rootpage. */
#define MASTER                                                                 \
	"SELECT type || ' ' || name || ' ' || tbl_name || ' ' ||"              \
	" coalesce(sql, '(none)') FROM sqlite_master ORDER BY rowid"

/*
 * A new SQLite database is created from the schema generated at build
 * time (trpt_migrate_sqlite_schema) in one transaction: every object the
 * migrations one by one leave, in the same order, with the same SQL, and
 * the same user_version.  The schema cookie tells the two ways apart (one
 * bump per statement: the created database had far fewer).
 */
static void
test_migrate_created_as_migrated(void **state)
{
	static char a[65536], b[65536];
	char ok[16];
	struct trpt_db *stepped = NULL, *created = NULL;
	struct trpt_err err;
	int64_t cookie_stepped, cookie_created;

	(void)state;
	assert_int_equal(
	    trpt_migrate_sqlite_schema_version, trpt_migrations_sqlite_count);
	assert_int_equal(
	    trpt_db_open_unmigrated(":memory:", &stepped, &err), TRPT_OK);
	assert_int_equal(
	    trpt_migrate_apply_list(stepped, trpt_migrations_sqlite,
		trpt_migrations_sqlite_count, -1, &err),
	    TRPT_OK);
	assert_int_equal(trpt_db_open(":memory:", &created, &err), TRPT_OK);

	trpt_test_db_rows(stepped, MASTER, "\n", a, sizeof(a));
	trpt_test_db_rows(created, MASTER, "\n", b, sizeof(b));
	assert_true(strlen(a) > 1000);
	assert_string_equal(a, b);
	assert_int_equal(
	    qint(created, "PRAGMA user_version"), trpt_migrations_sqlite_count);
	assert_int_equal(qint(stepped, "PRAGMA user_version"),
	    qint(created, "PRAGMA user_version"));
	assert_int_equal(qint(created, "SELECT count(*) FROM pragma_table_list"
				       " WHERE schema = 'main'"),
	    qint(stepped, "SELECT count(*) FROM pragma_table_list"
			  " WHERE schema = 'main'"));

	cookie_stepped = qint(stepped, "PRAGMA schema_version");
	cookie_created = qint(created, "PRAGMA schema_version");
	print_message("# schema cookie: migrated %lld, created %lld\n",
	    (long long)cookie_stepped, (long long)cookie_created);
	assert_true(cookie_created <
		    qint(created, "SELECT count(*) FROM sqlite_master") + 2);
	assert_true(cookie_created < cookie_stepped);

	assert_string_equal(trpt_test_db_text(created, "PRAGMA integrity_check",
				ok, sizeof(ok)),
	    "ok");
	trpt_db_close(&stepped);
	trpt_db_close(&created);
}

/*
 * Only an empty database is created from the generated schema: one at
 * version 0 that holds a table of somebody else's is migrated step by
 * step as before (its table kept), and a database at an older version is
 * migrated from there.
 */
static void
test_migrate_created_only_when_empty(void **state)
{
	static char a[65536], b[65536];
	struct trpt_db *db = NULL, *ref = NULL;
	struct trpt_err err;

	(void)state;
	assert_int_equal(
	    trpt_db_open_unmigrated(":memory:", &db, &err), TRPT_OK);
	qexec(db, "CREATE TABLE somebody (x INTEGER)");
	assert_int_equal(trpt_migrate_apply(db, -1, &err), TRPT_OK);
	assert_int_equal(
	    qint(db, "PRAGMA user_version"), trpt_migrations_sqlite_count);
	assert_int_equal(qint(db, "SELECT count(*) FROM somebody"), 0);
	assert_true(qint(db, "PRAGMA schema_version") >
		    qint(db, "SELECT count(*) FROM sqlite_master") + 2);
	trpt_db_close(&db);

	/* Version 3 first, then the rest by trpt_migrate_apply. */
	assert_int_equal(
	    trpt_db_open_unmigrated(":memory:", &db, &err), TRPT_OK);
	assert_int_equal(trpt_migrate_apply(db, 3, &err), TRPT_OK);
	assert_int_equal(qint(db, "PRAGMA user_version"), 3);
	assert_int_equal(trpt_migrate_apply(db, -1, &err), TRPT_OK);
	assert_int_equal(
	    qint(db, "PRAGMA user_version"), trpt_migrations_sqlite_count);
	assert_int_equal(trpt_db_open(":memory:", &ref, &err), TRPT_OK);
	trpt_test_db_rows(db, MASTER, "\n", a, sizeof(a));
	trpt_test_db_rows(ref, MASTER, "\n", b, sizeof(b));
	assert_string_equal(a, b);
	trpt_db_close(&db);
	trpt_db_close(&ref);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_rebuilds_table),
		cmocka_unit_test(test_migrate_rebuilds_real_list),
		cmocka_unit_test(test_migrate_rebuild_checked),
		cmocka_unit_test(test_migrate_plain_not_checked),
		cmocka_unit_test(test_migrate_plain_keys_on),
		cmocka_unit_test(test_migrate_rebuild_no_zeroing),
		cmocka_unit_test(test_migrate_created_as_migrated),
		cmocka_unit_test(test_migrate_created_only_when_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
