#include "schema/store.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hash.h"
#include "schema/db.h"
#include "schema/report.h"

/* SQLite's default SQLITE_MAX_LENGTH: no string or blob can be longer. */
#define JSON_MAX 1000000000u

static const char sql_report_seen[] =
    "UPDATE reports SET seen_count = seen_count + 1,"
    " last_seen_at = max(last_seen_at, ?1)"
    " WHERE organization_name = ?2 AND report_id = ?3 RETURNING id";
static const char sql_raw_insert[] =
    "INSERT INTO raw_inputs (sha256, bytes, size, source_kind, source,"
    " message_id, report_domain, report_submitter, received_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    " ON CONFLICT (sha256) DO NOTHING";
static const char sql_raw_id[] = "SELECT id FROM raw_inputs WHERE sha256 = ?1";
static const char sql_report_insert[] =
    "INSERT INTO reports (organization_name, report_id, contact_info,"
    " begin_ts, end_ts, day, raw_id, part, received_at, last_seen_at,"
    " total_successful, total_failed)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)"
    " ON CONFLICT (organization_name, report_id) DO NOTHING";
static const char sql_policy_insert[] =
    "INSERT INTO policies (report, idx, day, policy_type, policy_domain,"
    " policy_strings, mx_hosts, successful, failed, details_failed)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_failure_insert[] =
    "INSERT INTO failures (policy, result_type, sending_mta_ip,"
    " receiving_mx_hostname, receiving_mx_helo, receiving_ip,"
    " failed_session_count, failure_reason_code, additional_information)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_warning_insert[] =
    "INSERT INTO warnings (report, message) VALUES (?1, ?2)";
static const char sql_quarantine_upsert[] =
    "INSERT INTO quarantine (sha256, part, bytes, size, source_kind, source,"
    " message_id, report_domain, report_submitter, filename, reason,"
    " received_at, last_seen_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)"
    " ON CONFLICT (sha256, part) DO UPDATE SET"
    " seen_count = seen_count + 1,"
    " last_seen_at = max(last_seen_at, excluded.last_seen_at),"
    " reason = excluded.reason";
static const char sql_quarantine_next[] =
    "SELECT id, part, bytes, reason, source_kind, source, message_id,"
    " report_domain, report_submitter, filename, received_at"
    " FROM quarantine WHERE id > ?1 ORDER BY id LIMIT 1";
static const char sql_quarantine_delete[] =
    "DELETE FROM quarantine WHERE id = ?1";
static const char sql_quarantine_update[] =
    "UPDATE quarantine SET reason = ?2 WHERE id = ?1";

/*
 * Binds parameters one after the other and keeps the first failure, so that
 * a value SQLite refused (too big, out of memory) is never silently stored
 * as NULL.
 */
struct binder {
	sqlite3_stmt *st;
	int src;
};

static void
bind_text(struct binder *b, int i, const char *s)
{
	if (b->src != SQLITE_OK)
		return;
	if (s == NULL)
		b->src = sqlite3_bind_null(b->st, i);
	else
		b->src = sqlite3_bind_text(b->st, i, s, -1, SQLITE_STATIC);
}

static void
bind_int(struct binder *b, int i, int64_t v)
{
	if (b->src == SQLITE_OK)
		b->src = sqlite3_bind_int64(b->st, i, v);
}

static void
bind_blob(struct binder *b, int i, const void *p, size_t n)
{
	if (b->src != SQLITE_OK)
		return;
	/* A zero-length blob must not bind as NULL. */
	b->src =
	    sqlite3_bind_blob64(b->st, i, p != NULL ? p : "", n, SQLITE_STATIC);
}

/* Binding failed: the message names the statement's purpose. */
static int
bind_error(struct trpt_db *db, struct binder *b, const char *what,
    struct trpt_err *err)
{
	int rc;

	rc = trpt_err_set(err, b->src == SQLITE_NOMEM ? TRPT_ENOMEM : TRPT_EDB,
	    "database %s: %s: %s", trpt_db_path(db), what,
	    sqlite3_errstr(b->src));
	trpt_db_stmt_done(b->st);
	return rc;
}

static int
prepare(struct trpt_db *db, enum trpt_db_stmt_id id, const char *sql,
    struct binder *b, struct trpt_err *err)
{
	int rc;

	b->src = SQLITE_OK;
	rc = trpt_db_stmt(db, id, sql, &b->st, err);
	return rc;
}

/* Steps a bound statement that returns no rows. */
static int
run(struct trpt_db *db, struct binder *b, const char *what,
    struct trpt_err *err)
{
	if (b->src != SQLITE_OK)
		return bind_error(db, b, what, err);
	return trpt_db_step_done(db, b->st, what, err);
}

/*
 * Steps a bound statement that returns at most one row with an integer in
 * its first column: *found is 1 and *id that integer when it did.
 */
static int
run_id(struct trpt_db *db, struct binder *b, const char *what, int64_t *id,
    int *found, struct trpt_err *err)
{
	int src, rc;

	if (b->src != SQLITE_OK)
		return bind_error(db, b, what, err);
	src = sqlite3_step(b->st);
	if (src == SQLITE_ROW) {
		*id = sqlite3_column_int64(b->st, 0);
		*found = 1;
		/* Run to the end so that an UPDATE ... RETURNING completes. */
		src = sqlite3_step(b->st);
	} else
		*found = 0;
	if (src == SQLITE_DONE)
		rc = TRPT_OK;
	else
		rc = trpt_db_error(db, src, what, err);
	trpt_db_stmt_done(b->st);
	return rc;
}

/* Appends s as a JSON string (RFC 8259 escapes; UTF-8 passes as is). */
static int
json_string(struct trpt_buf *b, const char *s, struct trpt_err *err)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *run_start;
	char esc[6];
	size_t elen;
	int rc;

	if ((rc = trpt_buf_append(b, "\"", 1, err)) != TRPT_OK)
		return rc;
	run_start = p;
	for (;; p++) {
		if (*p != '\0' && *p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		rc =
		    trpt_buf_append(b, run_start, (size_t)(p - run_start), err);
		if (rc != TRPT_OK)
			return rc;
		if (*p == '\0')
			break;
		esc[0] = '\\';
		elen = 2;
		switch (*p) {
		case '"':
		case '\\':
			esc[1] = (char)*p;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			elen = 6;
		}
		if ((rc = trpt_buf_append(b, esc, elen, err)) != TRPT_OK)
			return rc;
		run_start = p + 1;
	}
	return trpt_buf_append(b, "\"", 1, err);
}

/*
 * A list as a JSON array of strings in b->data, or NULL (*json) for an
 * empty list.
 */
static int
json_list(const struct trpt_strlist *l, struct trpt_buf *b, const char **json,
    struct trpt_err *err)
{
	size_t i;
	int rc;

	trpt_buf_reset(b);
	if (l->n == 0) {
		*json = NULL;
		return TRPT_OK;
	}
	if ((rc = trpt_buf_append(b, "[", 1, err)) != TRPT_OK)
		return rc;
	for (i = 0; i < l->n; i++) {
		if (i > 0 && (rc = trpt_buf_append(b, ",", 1, err)) != TRPT_OK)
			return rc;
		if ((rc = json_string(b, l->v[i], err)) != TRPT_OK)
			return rc;
	}
	if ((rc = trpt_buf_append(b, "]", 1, err)) != TRPT_OK)
		return rc;
	*json = b->data;
	return TRPT_OK;
}

static int64_t
now_or(int64_t t)
{
	return t > 0 ? t : (int64_t)time(NULL);
}

/* floor(t / 86400), also for times before 1970. */
static int64_t
day_of(int64_t t)
{
	return t >= 0 ? t / 86400 : -((-(t + 1)) / 86400) - 1;
}

static int
check_raw(const struct trpt_raw *raw, struct trpt_err *err)
{
	if (raw == NULL || raw->origin == NULL || raw->origin->kind == NULL ||
	    raw->origin->source == NULL || (raw->bytes == NULL && raw->len > 0))
		return trpt_err_set(err, TRPT_EINVAL,
		    "storing an input without its bytes or origin");
	return TRPT_OK;
}

/* The report's totals, refusing sums that do not fit. */
static int
totals(const struct trpt_report *r, int64_t *ok, int64_t *failed,
    struct trpt_err *err)
{
	int64_t s = 0, f = 0;
	size_t i;

	for (i = 0; i < r->npolicies; i++)
		if (__builtin_add_overflow(s, r->policies[i].successful, &s) ||
		    __builtin_add_overflow(f, r->policies[i].failed, &f))
			return trpt_err_set(err, TRPT_ELIMIT,
			    "session counts add up to more than 2^63");
	*ok = s;
	*failed = f;
	return TRPT_OK;
}

static int
details_failed(const struct trpt_report *r, const struct trpt_policy *p,
    int64_t *out, struct trpt_err *err)
{
	int64_t sum = 0;
	size_t j;

	for (j = 0; j < p->nfailures; j++)
		if (__builtin_add_overflow(
			sum, p->failures[j].failed_session_count, &sum))
			return trpt_err_set(err, TRPT_ELIMIT,
			    "policy %zu: failure counts add up to more "
			    "than 2^63",
			    (size_t)(p - r->policies) + 1);
	*out = sum;
	return TRPT_OK;
}

/* Counts a duplicate; *found is 0 when the report is not stored yet. */
static int
mark_seen(struct trpt_db *db, const struct trpt_report *r, int64_t seen,
    int64_t *id, int *found, struct trpt_err *err)
{
	struct binder b;
	int rc;

	if ((rc = prepare(db, TRPT_STMT_REPORT_SEEN, sql_report_seen, &b,
		 err)) != TRPT_OK)
		return rc;
	bind_int(&b, 1, seen);
	bind_text(&b, 2, r->organization_name);
	bind_text(&b, 3, r->report_id);
	return run_id(db, &b, "counting a duplicate report", id, found, err);
}

/* The id of the raw_inputs row holding these bytes, inserted if new. */
static int
raw_row(struct trpt_db *db, const struct trpt_raw *raw, int64_t received,
    int64_t *id, struct trpt_err *err)
{
	const struct trpt_origin *o = raw->origin;
	char sha[TRPT_SHA256_HEX_LEN];
	struct binder b;
	int rc, found = 0;

	trpt_hash_sha256_hex(
	    raw->bytes != NULL ? raw->bytes : "", raw->len, sha);
	if ((rc = prepare(db, TRPT_STMT_RAW_INSERT, sql_raw_insert, &b, err)) !=
	    TRPT_OK)
		return rc;
	bind_text(&b, 1, sha);
	bind_blob(&b, 2, raw->bytes, raw->len);
	bind_int(&b, 3, (int64_t)raw->len);
	bind_text(&b, 4, o->kind);
	bind_text(&b, 5, o->source);
	bind_text(&b, 6, o->message_id);
	bind_text(&b, 7, o->report_domain);
	bind_text(&b, 8, o->report_submitter);
	bind_int(&b, 9, received);
	if ((rc = run(db, &b, "storing the raw input", err)) != TRPT_OK)
		return rc;
	if (sqlite3_changes(trpt_db_handle(db)) == 1) {
		*id = sqlite3_last_insert_rowid(trpt_db_handle(db));
		return TRPT_OK;
	}
	if ((rc = prepare(db, TRPT_STMT_RAW_ID, sql_raw_id, &b, err)) !=
	    TRPT_OK)
		return rc;
	bind_text(&b, 1, sha);
	rc = run_id(db, &b, "finding the raw input", id, &found, err);
	if (rc == TRPT_OK && !found)
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: raw input %s vanished", trpt_db_path(db),
		    sha);
	return rc;
}

static int
insert_failure(struct trpt_db *db, int64_t policy, const struct trpt_failure *f,
    struct trpt_err *err)
{
	struct binder b;
	int rc;

	if ((rc = prepare(db, TRPT_STMT_FAILURE_INSERT, sql_failure_insert, &b,
		 err)) != TRPT_OK)
		return rc;
	bind_int(&b, 1, policy);
	bind_text(&b, 2, f->result_type);
	bind_text(&b, 3, f->sending_mta_ip);
	bind_text(&b, 4, f->receiving_mx_hostname);
	bind_text(&b, 5, f->receiving_mx_helo);
	bind_text(&b, 6, f->receiving_ip);
	bind_int(&b, 7, f->failed_session_count);
	bind_text(&b, 8, f->failure_reason_code);
	bind_text(&b, 9, f->additional_information);
	return run(db, &b, "storing a failure detail", err);
}

static int
insert_policy(struct trpt_db *db, const struct trpt_report *r, size_t idx,
    int64_t report, int64_t day, struct trpt_buf *ps, struct trpt_buf *mx,
    struct trpt_err *err)
{
	const struct trpt_policy *p = &r->policies[idx];
	const char *psj, *mxj;
	struct binder b;
	int64_t id, dfailed = 0;
	size_t j;
	int rc;

	if ((rc = details_failed(r, p, &dfailed, err)) != TRPT_OK)
		return rc;
	if ((rc = json_list(&p->policy_strings, ps, &psj, err)) != TRPT_OK ||
	    (rc = json_list(&p->mx_hosts, mx, &mxj, err)) != TRPT_OK)
		return rc;
	if ((rc = prepare(db, TRPT_STMT_POLICY_INSERT, sql_policy_insert, &b,
		 err)) != TRPT_OK)
		return rc;
	bind_int(&b, 1, report);
	bind_int(&b, 2, (int64_t)idx);
	bind_int(&b, 3, day);
	bind_text(&b, 4, p->policy_type);
	bind_text(&b, 5, p->policy_domain);
	bind_text(&b, 6, psj);
	bind_text(&b, 7, mxj);
	bind_int(&b, 8, p->successful);
	bind_int(&b, 9, p->failed);
	bind_int(&b, 10, dfailed);
	if ((rc = run(db, &b, "storing a policy", err)) != TRPT_OK)
		return rc;
	id = sqlite3_last_insert_rowid(trpt_db_handle(db));
	for (j = 0; j < p->nfailures; j++)
		if ((rc = insert_failure(db, id, &p->failures[j], err)) !=
		    TRPT_OK)
			return rc;
	return TRPT_OK;
}

/* Everything of a new report, inside the caller's transaction. */
static int
insert_report(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_raw *raw, int64_t received, int64_t *id, int *dup,
    struct trpt_err *err)
{
	struct trpt_buf ps, mx;
	struct binder b;
	int64_t raw_id = 0, rid, ok = 0, failed = 0, day = day_of(r->begin);
	size_t i;
	int rc;

	trpt_buf_init(&ps, JSON_MAX);
	trpt_buf_init(&mx, JSON_MAX);
	if ((rc = totals(r, &ok, &failed, err)) != TRPT_OK)
		goto out;
	if ((rc = raw_row(db, raw, received, &raw_id, err)) != TRPT_OK)
		goto out;
	if ((rc = prepare(db, TRPT_STMT_REPORT_INSERT, sql_report_insert, &b,
		 err)) != TRPT_OK)
		goto out;
	bind_text(&b, 1, r->organization_name);
	bind_text(&b, 2, r->report_id);
	bind_text(&b, 3, r->contact_info);
	bind_int(&b, 4, r->begin);
	bind_int(&b, 5, r->end);
	bind_int(&b, 6, day);
	bind_int(&b, 7, raw_id);
	bind_int(&b, 8, raw->part);
	bind_int(&b, 9, received);
	bind_int(&b, 10, ok);
	bind_int(&b, 11, failed);
	if ((rc = run(db, &b, "storing the report", err)) != TRPT_OK)
		goto out;
	if (sqlite3_changes(trpt_db_handle(db)) == 0) {
		/* Cannot happen under our write lock, unless the caller's
		 * own transaction stored it; count it as a duplicate. */
		*dup = 1;
		rc = mark_seen(db, r, received, id, &(int){ 0 }, err);
		goto out;
	}
	rid = sqlite3_last_insert_rowid(trpt_db_handle(db));
	for (i = 0; i < r->npolicies; i++)
		if ((rc = insert_policy(db, r, i, rid, day, &ps, &mx, err)) !=
		    TRPT_OK)
			goto out;
	for (i = 0; i < r->warnings.n; i++) {
		if ((rc = prepare(db, TRPT_STMT_WARNING_INSERT,
			 sql_warning_insert, &b, err)) != TRPT_OK)
			goto out;
		bind_int(&b, 1, rid);
		bind_text(&b, 2, r->warnings.v[i]);
		if ((rc = run(db, &b, "storing a warning", err)) != TRPT_OK)
			goto out;
	}
	*id = rid;
	*dup = 0;
	rc = TRPT_OK;
out:
	trpt_buf_free(&ps);
	trpt_buf_free(&mx);
	return rc;
}

static int
savepoint(struct trpt_db *db, struct trpt_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = trpt_db_stmt(
	    db, TRPT_STMT_SAVEPOINT, "SAVEPOINT trpt_report", &st, err);
	if (rc == TRPT_OK)
		rc = trpt_db_step_done(db, st, "SAVEPOINT", err);
	return rc;
}

static int
release(struct trpt_db *db, struct trpt_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = trpt_db_stmt(
	    db, TRPT_STMT_RELEASE, "RELEASE trpt_report", &st, err);
	if (rc == TRPT_OK)
		rc = trpt_db_step_done(db, st, "RELEASE", err);
	return rc;
}

/* Undoes the savepoint's writes and leaves the outer transaction open,
 * unless SQLite has already rolled all of it back. */
static void
rollback_to(struct trpt_db *db)
{
	sqlite3_stmt *st;

	if (!trpt_db_in_transaction(db))
		return;
	if (trpt_db_stmt(db, TRPT_STMT_ROLLBACK_TO, "ROLLBACK TO trpt_report",
		&st, NULL) == TRPT_OK &&
	    trpt_db_step_done(db, st, "ROLLBACK TO", NULL) == TRPT_OK)
		release(db, NULL);
}

/*
 * A report is atomic: in its own BEGIN IMMEDIATE ... COMMIT, or inside a
 * transaction the caller opened with trpt_store_begin, in a savepoint that
 * a failure rolls back without losing the caller's other reports.
 */
int
trpt_store_report(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_raw *raw, int *duplicate, int64_t *report_rowid,
    struct trpt_err *err)
{
	int64_t received, id = 0;
	int rc, nested, found = 0, dup = 0;

	if ((rc = check_raw(raw, err)) != TRPT_OK)
		return rc;
	if (r == NULL || r->organization_name == NULL || r->report_id == NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "storing a report without organization-name or "
		    "report-id");
	received = now_or(raw->origin->received);
	nested = trpt_db_in_transaction(db);
	rc = nested ? savepoint(db, err) : trpt_db_begin(db, err);
	if (rc != TRPT_OK) {
		trpt_err_prefix(err, "report %s from %s", r->report_id,
		    r->organization_name);
		return rc;
	}
	if ((rc = mark_seen(db, r, received, &id, &found, err)) != TRPT_OK)
		goto out;
	if (found)
		dup = 1;
	else if ((rc = insert_report(db, r, raw, received, &id, &dup, err)) !=
		 TRPT_OK)
		goto out;
	rc = nested ? release(db, err) : trpt_db_commit(db, err);
out:
	if (rc != TRPT_OK) {
		if (nested)
			rollback_to(db);
		else
			trpt_db_rollback(db);
		if (err != NULL && rc != TRPT_EINVAL)
			trpt_err_prefix(err, "report %s from %s", r->report_id,
			    r->organization_name);
		return rc;
	}
	if (duplicate != NULL)
		*duplicate = dup;
	if (report_rowid != NULL)
		*report_rowid = id;
	return TRPT_OK;
}

int
trpt_store_quarantine(struct trpt_db *db, const struct trpt_raw *raw,
    const char *reason, struct trpt_err *err)
{
	const struct trpt_origin *o;
	char sha[TRPT_SHA256_HEX_LEN];
	struct binder b;
	int rc;

	if ((rc = check_raw(raw, err)) != TRPT_OK)
		return rc;
	o = raw->origin;
	trpt_hash_sha256_hex(
	    raw->bytes != NULL ? raw->bytes : "", raw->len, sha);
	/* One statement: atomic on its own, or part of the caller's
	 * transaction. */
	if ((rc = prepare(db, TRPT_STMT_QUARANTINE_UPSERT,
		 sql_quarantine_upsert, &b, err)) != TRPT_OK)
		return rc;
	bind_text(&b, 1, sha);
	bind_int(&b, 2, raw->part);
	bind_blob(&b, 3, raw->bytes, raw->len);
	bind_int(&b, 4, (int64_t)raw->len);
	bind_text(&b, 5, o->kind);
	bind_text(&b, 6, o->source);
	bind_text(&b, 7, o->message_id);
	bind_text(&b, 8, o->report_domain);
	bind_text(&b, 9, o->report_submitter);
	bind_text(&b, 10, o->filename);
	bind_text(&b, 11, reason != NULL ? reason : "");
	bind_int(&b, 12, now_or(o->received));
	rc = run(db, &b, "quarantining an input", err);
	if (rc != TRPT_OK && err != NULL)
		trpt_err_prefix(err, "%s part %d", o->source, raw->part);
	return rc;
}

/* A copy of a text column, or NULL for SQL NULL. */
static int
column_dup(sqlite3_stmt *st, int i, char **out)
{
	const unsigned char *t;
	int n;

	*out = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return TRPT_OK;
	t = sqlite3_column_text(st, i);
	n = sqlite3_column_bytes(st, i);
	if (t == NULL)
		return TRPT_ENOMEM;
	*out = malloc((size_t)n + 1);
	if (*out == NULL)
		return TRPT_ENOMEM;
	memcpy(*out, t, (size_t)n);
	(*out)[n] = '\0';
	return TRPT_OK;
}

enum {
	Q_REASON,
	Q_KIND,
	Q_SOURCE,
	Q_MSGID,
	Q_DOMAIN,
	Q_SUBMITTER,
	Q_FILENAME,
	Q_NTEXT
};

/*
 * Reads the quarantined input after id `after` into q, copying its
 * columns into texts[] and *bytes (the caller frees them), so that no
 * statement stays active while the callback writes to the database.
 */
static int
quarantine_next(struct trpt_db *db, int64_t after, struct trpt_quarantined *q,
    char *texts[Q_NTEXT], void **bytes, int *found, struct trpt_err *err)
{
	struct binder b;
	const void *blob;
	size_t i;
	int src, rc, n;

	if ((rc = prepare(db, TRPT_STMT_QUARANTINE_NEXT, sql_quarantine_next,
		 &b, err)) != TRPT_OK)
		return rc;
	bind_int(&b, 1, after);
	if (b.src != SQLITE_OK)
		return bind_error(db, &b, "reading the quarantine", err);
	src = sqlite3_step(b.st);
	if (src == SQLITE_DONE) {
		*found = 0;
		rc = TRPT_OK;
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = trpt_db_error(db, src, "reading the quarantine", err);
		goto out;
	}
	memset(q, 0, sizeof(*q));
	q->id = sqlite3_column_int64(b.st, 0);
	q->part = sqlite3_column_int(b.st, 1);
	blob = sqlite3_column_blob(b.st, 2);
	n = sqlite3_column_bytes(b.st, 2);
	rc = TRPT_OK;
	*bytes = malloc(n > 0 ? (size_t)n : 1);
	if (*bytes == NULL || (blob == NULL && n > 0))
		rc = TRPT_ENOMEM;
	else if (n > 0)
		memcpy(*bytes, blob, (size_t)n);
	for (i = 0; i < Q_NTEXT && rc == TRPT_OK; i++)
		rc = column_dup(b.st, 3 + (int)i, &texts[i]);
	if (rc != TRPT_OK) {
		rc = trpt_err_set(err, TRPT_ENOMEM,
		    "database %s: out of memory reading quarantined input %lld",
		    trpt_db_path(db), (long long)q->id);
		goto out;
	}
	q->bytes = *bytes;
	q->len = (size_t)n;
	q->reason = texts[Q_REASON] != NULL ? texts[Q_REASON] : "";
	q->origin.kind = texts[Q_KIND];
	q->origin.source = texts[Q_SOURCE];
	q->origin.message_id = texts[Q_MSGID];
	q->origin.report_domain = texts[Q_DOMAIN];
	q->origin.report_submitter = texts[Q_SUBMITTER];
	q->origin.filename = texts[Q_FILENAME];
	q->origin.received = sqlite3_column_int64(b.st, 10);
	*found = 1;
out:
	trpt_db_stmt_done(b.st);
	return rc;
}

int
trpt_store_quarantine_each(struct trpt_db *db,
    int (*fn)(void *arg, const struct trpt_quarantined *q), void *arg,
    struct trpt_err *err)
{
	struct trpt_quarantined q;
	char *texts[Q_NTEXT];
	void *bytes;
	int64_t after = 0;
	size_t i;
	int rc, found;

	if (fn == NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "walking the quarantine without a callback");
	for (;;) {
		memset(texts, 0, sizeof(texts));
		bytes = NULL;
		rc = quarantine_next(db, after, &q, texts, &bytes, &found, err);
		if (rc == TRPT_OK && found) {
			after = q.id;
			rc = fn(arg, &q);
		}
		for (i = 0; i < Q_NTEXT; i++)
			free(texts[i]);
		free(bytes);
		if (rc != TRPT_OK || !found)
			return rc;
	}
}

static int
quarantine_row(struct trpt_db *db, enum trpt_db_stmt_id sid, const char *sql,
    int64_t id, const char *reason, const char *what, struct trpt_err *err)
{
	struct binder b;
	int rc;

	if ((rc = prepare(db, sid, sql, &b, err)) != TRPT_OK)
		return rc;
	bind_int(&b, 1, id);
	if (reason != NULL)
		bind_text(&b, 2, reason);
	if ((rc = run(db, &b, what, err)) != TRPT_OK)
		return rc;
	if (sqlite3_changes(trpt_db_handle(db)) == 0)
		return trpt_err_set(err, TRPT_ENOTFOUND,
		    "database %s: no quarantined input %lld", trpt_db_path(db),
		    (long long)id);
	return TRPT_OK;
}

int
trpt_store_quarantine_delete(
    struct trpt_db *db, int64_t id, struct trpt_err *err)
{
	return quarantine_row(db, TRPT_STMT_QUARANTINE_DELETE,
	    sql_quarantine_delete, id, NULL, "deleting a quarantined input",
	    err);
}

int
trpt_store_quarantine_update(
    struct trpt_db *db, int64_t id, const char *reason, struct trpt_err *err)
{
	return quarantine_row(db, TRPT_STMT_QUARANTINE_UPDATE,
	    sql_quarantine_update, id, reason != NULL ? reason : "",
	    "updating a quarantined input", err);
}

int
trpt_store_begin(struct trpt_db *db, struct trpt_err *err)
{
	return trpt_db_begin(db, err);
}

int
trpt_store_commit(struct trpt_db *db, struct trpt_err *err)
{
	return trpt_db_commit(db, err);
}

void
trpt_store_rollback(struct trpt_db *db)
{
	trpt_db_rollback(db);
}
