#include "schema/migrate.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/sql.h"

/*
 * One loop for both databases; what differs is where the version lives
 * and how two processes migrating at once are kept apart:
 *   SQLite: PRAGMA user_version; BEGIN IMMEDIATE takes the write lock.
 *   PostgreSQL: the one row (id 1) of the table schema_version, created
 *   by the first migration's transaction; a transaction-level advisory
 *   lock (key "TRPTMIGR" in ASCII) makes a second migrator wait, and it
 *   then reads the version again and finds nothing left to do.
 */
#define PG_MIGRATE_LOCK 0x5452505450494752LL

static void
list_of(
    const struct trpt_db *db, const struct trpt_migration **list, int *count)
{
	if (trpt_sql_dialect(db) == TRPT_SQL_PG) {
		*list = trpt_migrations_pg;
		*count = trpt_migrations_pg_count;
	} else {
		*list = trpt_migrations_sqlite;
		*count = trpt_migrations_sqlite_count;
	}
}

int
trpt_migrate_latest(const struct trpt_db *db)
{
	const struct trpt_migration *list;
	int count;

	list_of(db, &list, &count);
	return count;
}

/* The first column of the first row of sql (0 when it has no row). */
static int
query_int(
    struct trpt_db *db, const char *sql, int64_t *out, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	if ((rc = trpt_sql_prepare(db, sql, &st, err)) != TRPT_OK)
		return rc;
	rc = trpt_sql_step(st, err);
	if (rc >= 0) {
		*out = rc > 0 ? trpt_sql_int(st, 0) : 0;
		rc = TRPT_OK;
	}
	trpt_sql_finalize(&st);
	return rc;
}

int
trpt_migrate_version(struct trpt_db *db, int *version, struct trpt_err *err)
{
	int64_t v = 0, exists = 0;
	int rc;

	if (trpt_sql_dialect(db) == TRPT_SQL_PG) {
		/* to_regclass: NULL, not an error, when the table is
		 * missing; reads without writing (a read-only session). */
		rc = query_int(db,
		    "SELECT CASE WHEN to_regclass('schema_version') IS NULL "
		    "THEN 0 ELSE 1 END",
		    &exists, err);
		if (rc == TRPT_OK && exists)
			rc = query_int(db,
			    "SELECT version FROM schema_version WHERE id = 1",
			    &v, err);
	} else
		rc = query_int(db, "PRAGMA user_version", &v, err);
	if (rc != TRPT_OK) {
		trpt_err_prefix(err, "reading the schema version");
		return rc;
	}
	/* Negative: not ours; huge: newer than any binary. */
	*version = v < INT_MIN ? INT_MIN : v > INT_MAX ? INT_MAX : (int)v;
	return TRPT_OK;
}

/*
 * Inside the migration's transaction, before the version is read again:
 * PostgreSQL waits for any other migrator and makes sure the version
 * table exists (SQLite's BEGIN IMMEDIATE already holds the write lock).
 */
static int
lock_version(struct trpt_db *db, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	if (trpt_sql_dialect(db) != TRPT_SQL_PG)
		return TRPT_OK;
	if ((rc = trpt_sql_prepare(
		 db, "SELECT pg_advisory_xact_lock(?)", &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, PG_MIGRATE_LOCK);
	rc = trpt_sql_step(st, err);
	trpt_sql_finalize(&st);
	if (rc < 0)
		return rc;
	return trpt_sql_exec(db,
	    "CREATE TABLE IF NOT EXISTS schema_version (id BIGINT PRIMARY "
	    "KEY CHECK (id = 1), version BIGINT NOT NULL); INSERT INTO "
	    "schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO "
	    "NOTHING",
	    err);
}

/* Records version in the transaction of its migration. */
static int
set_version(struct trpt_db *db, int version, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	char sql[64];
	int rc;

	if (trpt_sql_dialect(db) != TRPT_SQL_PG) {
		/* A pragma takes no parameters; the version is an int from
		 * the embedded list, never input. */
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
		return trpt_sql_exec(db, sql, err);
	}
	if ((rc = trpt_sql_prepare(db,
		 "UPDATE schema_version SET version = ? WHERE id = 1", &st,
		 err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, version);
	rc = trpt_sql_run(st, err);
	trpt_sql_finalize(&st);
	return rc;
}

/* A version this binary cannot work with: newer, or not ours. */
static int
refuse_version(
    struct trpt_db *db, int version, int latest, struct trpt_err *err)
{
	if (version < 0)
		return trpt_err_set(err, TRPT_EDB,
		    "database %s: schema version %d is not one of ours",
		    trpt_db_path(db), version);
	return trpt_err_set(err, TRPT_EDB,
	    "database %s: schema version %d is newer than this program "
	    "knows (%d); use a newer tlsrpt-collector",
	    trpt_db_path(db), version, latest);
}

/* SQLite: whether PRAGMA foreign_keys is on (0 on PostgreSQL). */
static int
foreign_keys_on(struct trpt_db *db)
{
	int64_t on = 0;

	if (trpt_sql_dialect(db) == TRPT_SQL_PG ||
	    query_int(db, "PRAGMA foreign_keys", &on, NULL) != TRPT_OK)
		return 0;
	return on != 0;
}

/*
 * A small SQL tokenizer, enough to find the statements that drop,
 * rename or create a table: comments and string literals are skipped,
 * an identifier (bare or quoted) or keyword is one word, folded to lower
 * case (SQLite compares table names without case), anything else one
 * character.  A word longer than its buffer is marked long and never
 * equals a recorded name.
 */
enum { TOK_END, TOK_WORD, TOK_OTHER };

#define TOK_MAX 128

struct sqltok {
	const char *p;
	char word[TOK_MAX];
	int type, is_long;
};

static int
word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

static void
tok_put(struct sqltok *t, size_t *n, char c)
{
	if (*n + 1 >= sizeof(t->word)) {
		t->is_long = 1;
		return;
	}
	t->word[(*n)++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

static int
tok_next(struct sqltok *t)
{
	const char *p = t->p;
	size_t n = 0;
	char close;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		       *p == '\f' || *p == '\v')
			p++;
		if (p[0] == '-' && p[1] == '-') {
			while (*p != '\0' && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			for (p += 2;
			     *p != '\0' && !(p[0] == '*' && p[1] == '/'); p++)
				;
			if (*p != '\0')
				p += 2;
		} else
			break;
	}
	t->is_long = 0;
	t->word[0] = '\0';
	if (*p == '\0') {
		t->p = p;
		return t->type = TOK_END;
	}
	if (*p == '\'') { /* a string literal; '' is a quote inside it */
		for (p++; *p != '\0'; p++)
			if (*p == '\'' && *++p != '\'')
				break;
		t->p = p;
		return t->type = TOK_OTHER;
	}
	if (*p == '"' || *p == '`' || *p == '[') {
		close = *p == '[' ? ']' : *p;
		for (p++; *p != '\0'; p++) {
			if (*p == close && *++p != close)
				break;
			tok_put(t, &n, *p);
		}
	} else if (word_char((unsigned char)*p)) {
		while (word_char((unsigned char)*p))
			tok_put(t, &n, *p++);
	} else {
		t->p = p + 1;
		return t->type = TOK_OTHER;
	}
	t->word[n] = '\0';
	t->p = p;
	return t->type = TOK_WORD;
}

static int
tok_is(const struct sqltok *t, const char *word)
{
	return t->type == TOK_WORD && !t->is_long && strcmp(t->word, word) == 0;
}

/*
 * After DROP TABLE, CREATE [TEMP] TABLE or ALTER TABLE: skips IF [NOT]
 * EXISTS, reads [schema .] name.  *temp is set when the schema is temp
 * (a table that lives only in this connection).  0 when no name follows.
 */
static int
tok_table_name(struct sqltok *t, int *temp)
{
	struct sqltok ahead;

	*temp = 0;
	if (tok_next(t) != TOK_WORD)
		return 0;
	if (tok_is(t, "if")) {
		tok_next(t);
		if (tok_is(t, "not"))
			tok_next(t);
		if (!tok_is(t, "exists") || tok_next(t) != TOK_WORD)
			return 0;
	}
	ahead = *t;
	if (tok_next(&ahead) == TOK_OTHER && ahead.p[-1] == '.') {
		*temp = tok_is(t, "temp") || tok_is(t, "temporary");
		*t = ahead;
		return tok_next(t) == TOK_WORD;
	}
	return 1;
}

/*
 * Whether a SQLite migration rebuilds a table the way ALTER TABLE's
 * documentation prescribes (create the new one, copy, DROP the old one,
 * RENAME the new one): with foreign keys on, that DROP would cascade into
 * the tables that refer to the old one.  Such a migration runs with them
 * off and PRAGMA foreign_key_check reads the whole database before its
 * commit.  Every other migration runs with them on, so SQLite checks each
 * row it writes and nothing else needs reading (the check read all of a
 * year's 1.9 GB database: 2.3 s of CPU per migration).
 *
 * Conservative: any DROP TABLE, and any ALTER TABLE ... RENAME, counts,
 * but for tables in temp or created by the same migration before (a
 * scratch table).  Unparsable names count too.
 */
int
trpt_migrate_rebuilds_table(const char *sql)
{
	char made[32][TOK_MAX];
	struct sqltok t = { .p = sql };
	int nmade = 0, temp, i, drop;

	while (tok_next(&t) != TOK_END) {
		if (tok_is(&t, "create")) {
			tok_next(&t);
			if (tok_is(&t, "temp") || tok_is(&t, "temporary"))
				tok_next(&t);
			if (!tok_is(&t, "table"))
				continue;
			if (tok_table_name(&t, &temp) && !t.is_long &&
			    nmade < (int)(sizeof(made) / sizeof(made[0])))
				memcpy(made[nmade++], t.word, sizeof(t.word));
			continue;
		}
		if (!tok_is(&t, "drop") && !tok_is(&t, "alter"))
			continue;
		drop = tok_is(&t, "drop");
		tok_next(&t);
		if (!tok_is(&t, "table"))
			continue;
		if (!tok_table_name(&t, &temp))
			return 1;
		if (!drop) { /* ALTER TABLE name: only RENAME counts */
			struct sqltok ahead = t;

			if (tok_next(&ahead) != TOK_WORD ||
			    !tok_is(&ahead, "rename"))
				continue;
		}
		if (temp)
			continue;
		for (i = 0; i < nmade; i++)
			if (!t.is_long && strcmp(made[i], t.word) == 0)
				break;
		if (i == nmade)
			return 1;
	}
	return 0;
}

/* SQLite: fails when the migration left a row whose foreign key points
 * nowhere (PostgreSQL checks every constraint itself). */
static int
check_foreign_keys(struct trpt_db *db, const char *what, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	if (trpt_sql_dialect(db) == TRPT_SQL_PG)
		return TRPT_OK;
	if ((rc = trpt_sql_prepare(db, "PRAGMA foreign_key_check", &st, err)) !=
	    TRPT_OK)
		return rc;
	rc = trpt_sql_step(st, err);
	if (rc > 0)
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: %s: a row of table %s refers to nothing",
		    trpt_db_path(db), what,
		    trpt_sql_text(st, 0) != NULL ? trpt_sql_text(st, 0) : "?");
	trpt_sql_finalize(&st);
	return rc;
}

/*
 * Applies migration m in its own transaction.  The version is read again
 * under the write lock, so that two processes opening the same old
 * database do not both migrate it: *now is the version afterwards.
 * check: the migration ran with SQLite's foreign keys off, so they are
 * checked before the commit.
 */
static int
apply_locked(struct trpt_db *db, const struct trpt_migration *m, int latest,
    int check, int *now, struct trpt_err *err)
{
	char what[128];
	int rc, cur;

	snprintf(what, sizeof(what), "migration %04d_%s", m->version, m->name);
	if ((rc = trpt_db_begin(db, err)) != TRPT_OK ||
	    (rc = lock_version(db, err)) != TRPT_OK ||
	    (rc = trpt_migrate_version(db, &cur, err)) != TRPT_OK)
		goto out;
	if (cur > latest || cur < 0) {
		rc = refuse_version(db, cur, latest, err);
		goto out;
	}
	if (cur < m->version) {
		if ((rc = trpt_sql_exec(db, m->sql, err)) != TRPT_OK ||
		    (rc = set_version(db, m->version, err)) != TRPT_OK ||
		    (check &&
			(rc = check_foreign_keys(db, what, err)) != TRPT_OK))
			goto out;
		cur = m->version;
	}
	if ((rc = trpt_db_commit(db, err)) != TRPT_OK)
		goto out;
	*now = cur;
	rc = TRPT_OK;
out:
	if (rc != TRPT_OK) {
		trpt_db_rollback(db);
		trpt_err_prefix(err, "%s", what);
	}
	return rc;
}

/*
 * SQLite: a migration that rebuilds a table (trpt_migrate_rebuilds_table)
 * runs with foreign keys off and checked before its commit; any other with
 * them on, whatever the connection had (the store's connections run with
 * them off), so SQLite refuses a row it writes that refers to nothing.
 * The pragma is a no-op inside a transaction, hence here; the
 * connection's setting is restored after.
 */
static int
apply_one(struct trpt_db *db, const struct trpt_migration *m, int latest,
    int *now, struct trpt_err *err)
{
	int lite = trpt_sql_dialect(db) != TRPT_SQL_PG;
	int fk = foreign_keys_on(db), want, rc, fast = 0;
	int64_t secure = 0;

	want = lite && !trpt_migrate_rebuilds_table(m->sql);
	if (lite && fk != want &&
	    (rc = trpt_sql_exec(db,
		 want ? "PRAGMA foreign_keys=ON" : "PRAGMA foreign_keys=OFF",
		 err)) != TRPT_OK)
		return rc;
	/*
	 * A rebuild drops a table whose rows live on in its copy: with
	 * secure_delete on (Debian's SQLite is built so), SQLite zeroes every
	 * page of it as it frees it, i.e. writes the whole table once more
	 * into the WAL and, with temp_store=MEMORY, into the statement
	 * journal in memory (0021 on 428 MiB of raw inputs: 531 MB of RSS,
	 * DROP TABLE 6 s).  FAST still clears what stays in the b-trees.
	 */
	if (lite && !want &&
	    query_int(db, "PRAGMA secure_delete", &secure, NULL) == TRPT_OK &&
	    secure == 1 &&
	    trpt_sql_exec(db, "PRAGMA secure_delete=FAST", NULL) == TRPT_OK)
		fast = 1;
	rc = apply_locked(db, m, latest, lite && !want, now, err);
	if (fast)
		trpt_sql_exec(db, "PRAGMA secure_delete=ON", NULL);
	if (lite && fk != want)
		trpt_sql_exec(db,
		    fk ? "PRAGMA foreign_keys=ON" : "PRAGMA foreign_keys=OFF",
		    NULL);
	return rc;
}

int
trpt_migrate_apply_list(struct trpt_db *db, const struct trpt_migration *list,
    int count, int upto, struct trpt_err *err)
{
	int i, version, rc;

	for (i = 0; i < count; i++)
		if (list[i].version != i + 1 || list[i].sql == NULL)
			return trpt_err_set(err, TRPT_EINVAL,
			    "database %s: migration %d of the list is "
			    "numbered %d",
			    trpt_db_path(db), i + 1, list[i].version);
	if (upto < 0)
		upto = count;
	if (upto > count)
		return trpt_err_set(err, TRPT_EINVAL,
		    "database %s: no schema version %d (latest is %d)",
		    trpt_db_path(db), upto, count);
	if ((rc = trpt_migrate_version(db, &version, err)) != TRPT_OK)
		return rc;
	if (version > count || version < 0)
		return refuse_version(db, version, count, err);
	while (version < upto)
		if ((rc = apply_one(
			 db, &list[version], count, &version, err)) != TRPT_OK)
			return rc;
	return TRPT_OK;
}

/*
 * A new SQLite database gets the latest schema from the generated
 * statements in one transaction, under the same write lock as a
 * migration: the version and the emptiness are read again under it, so
 * that of two processes creating the same file one creates and the other
 * finds it done.  *created is 0 when the database was not new (the
 * migrations then run as for any other); a failure leaves it as it was.
 */
static int
create_sqlite(
    struct trpt_db *db, int latest, int *created, struct trpt_err *err)
{
	int64_t objects = 0;
	int rc, cur;

	*created = 0;
	if ((rc = trpt_db_begin(db, err)) != TRPT_OK ||
	    (rc = trpt_migrate_version(db, &cur, err)) != TRPT_OK ||
	    (rc = query_int(db, "SELECT count(*) FROM sqlite_master", &objects,
		 err)) != TRPT_OK)
		goto out;
	if (cur == 0 && objects == 0) {
		if ((rc = trpt_sql_exec(db, trpt_migrate_sqlite_schema, err)) !=
			TRPT_OK ||
		    (rc = set_version(db, latest, err)) != TRPT_OK ||
		    (rc = trpt_db_commit(db, err)) != TRPT_OK)
			goto out;
		*created = 1;
	} else
		trpt_db_rollback(db);
	rc = TRPT_OK;
out:
	if (rc != TRPT_OK) {
		trpt_db_rollback(db);
		trpt_err_prefix(err, "creating schema version %d", latest);
	}
	return rc;
}

int
trpt_migrate_apply(struct trpt_db *db, int upto, struct trpt_err *err)
{
	const struct trpt_migration *list;
	int count, version, created, rc;

	list_of(db, &list, &count);
	if (trpt_sql_dialect(db) != TRPT_SQL_PG &&
	    (upto < 0 || upto == count) &&
	    count == trpt_migrate_sqlite_schema_version) {
		if ((rc = trpt_migrate_version(db, &version, err)) != TRPT_OK)
			return rc;
		if (version == 0 &&
		    (rc = create_sqlite(db, count, &created, err)) != TRPT_OK)
			return rc;
	}
	return trpt_migrate_apply_list(db, list, count, upto, err);
}
