#include "schema/store.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "common/buf.h"
#include "common/calendar.h"
#include "common/err.h"
#include "common/hash.h"
#include "schema/db.h"
#include "schema/report.h"

/* SQLite's default SQLITE_MAX_LENGTH: no string or blob can be longer. */
#define JSON_MAX 1000000000u

static const char sql_report_seen[] =
    "UPDATE reports SET seen_count = seen_count + ?2,"
    " last_seen_at = max(last_seen_at, ?1) WHERE id = ?3";
static const char sql_raw_insert[] =
    "INSERT INTO raw_inputs (sha256, bytes, size, source_kind, source,"
    " message_id, report_domain, report_submitter, received_at,"
    " dkim, dkim_reason, dkim_domain, dkim_selector, dkim_key_service,"
    " client)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
    " ?15)"
    " ON CONFLICT (sha256) DO NOTHING";
static const char sql_raw_id[] = "SELECT id FROM raw_inputs WHERE sha256 = ?1";
static const char sql_report_insert[] =
    "INSERT INTO reports (organization_name, report_id, copy, counted,"
    " content_sha256, contact_info, begin_ts, end_ts, day, raw_id, part,"
    " received_at, last_seen_at, total_successful, total_failed, dkim,"
    " dkim_reason, dkim_domain, dkim_selector, dkim_key_service,"
    " dkim_aligned, dkim_accepted)"
    " VALUES (?1, ?2, ?12, ?13, ?14, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10,"
    " ?11, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";
static const char sql_report_copies[] =
    "SELECT count(*), coalesce(max(copy), -1), min(id) FROM reports"
    " WHERE organization_name = ?1 AND report_id = ?2";
/* A stored copy's content, read back for its digest when it has none
 * (copies stored before content_sha256 existed). */
static const char sql_report_stored_head[] =
    "SELECT organization_name, report_id, contact_info, begin_ts, end_ts"
    " FROM reports WHERE id = ?1";
static const char sql_report_stored_body[] =
    "SELECT p.idx, p.policy_type, p.policy_domain, p.policy_strings,"
    " p.mx_hosts, p.successful, p.failed, f.id, f.result_type,"
    " f.sending_mta_ip, f.receiving_mx_hostname, f.receiving_mx_helo,"
    " f.receiving_ip, f.failed_session_count, f.failure_reason_code,"
    " f.additional_information"
    " FROM policies p LEFT JOIN failures f ON f.policy = p.id"
    " WHERE p.report = ?1 ORDER BY p.idx, f.id";
static const char sql_report_undigested[] =
    "SELECT id FROM reports WHERE organization_name = ?1 AND"
    " report_id = ?2 AND content_sha256 IS NULL LIMIT 1";
static const char sql_report_set_digest[] =
    "UPDATE reports SET content_sha256 = ?2 WHERE id = ?1";
static const char sql_report_same[] =
    "SELECT id FROM reports WHERE organization_name = ?1 AND"
    " report_id = ?2 AND content_sha256 = ?3 ORDER BY copy LIMIT 1";
static const char sql_report_conflict[] =
    "UPDATE reports SET conflict = 1 WHERE organization_name = ?1 AND"
    " report_id = ?2";
static const char sql_policy_insert[] =
    "INSERT INTO policies (report, idx, day, policy_type, policy_domain,"
    " policy_strings, mx_hosts, successful, failed, details_failed,"
    " sts_mode)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char sql_failure_insert[] =
    "INSERT INTO failures (policy, result_type, sending_mta_ip,"
    " receiving_mx_hostname, receiving_mx_helo, receiving_ip,"
    " failed_session_count, failure_reason_code, additional_information)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_warning_insert[] =
    "INSERT INTO warnings (report, message) VALUES (?1, ?2)";
static const char sql_quarantine_input_insert[] =
    "INSERT INTO quarantine_inputs (sha256, bytes, size)"
    " VALUES (?1, ?2, ?3) ON CONFLICT (sha256) DO NOTHING";
static const char sql_quarantine_input_id[] =
    "SELECT id FROM quarantine_inputs WHERE sha256 = ?1";
static const char sql_quarantine_upsert[] =
    "INSERT INTO quarantine_parts (input, part, source_kind, source,"
    " message_id, report_domain, report_submitter, filename, reason,"
    " received_at, last_seen_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)"
    " ON CONFLICT (input, part) DO UPDATE SET"
    " seen_count = seen_count + 1,"
    " last_seen_at = max(last_seen_at, excluded.last_seen_at),"
    " reason = excluded.reason";
static const char sql_quarantine_next[] =
    "SELECT id, bytes FROM quarantine_inputs WHERE id > ?1 ORDER BY id"
    " LIMIT 1";
static const char sql_quarantine_parts[] =
    "SELECT id, part, reason, source_kind, source, message_id,"
    " report_domain, report_submitter, filename, received_at"
    " FROM quarantine_parts WHERE input = ?1 ORDER BY id";
static const char sql_quarantine_delete[] =
    "DELETE FROM quarantine_parts WHERE id = ?1";
static const char sql_quarantine_update[] =
    "UPDATE quarantine_parts SET reason = ?2 WHERE id = ?1";

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

/*
 * A list as a JSON array of strings (jansson, compact) in b->data, or NULL
 * (*json) for an empty list.  A string that is not UTF-8 is TRPT_EINVAL
 * (the validator only passes what jansson read).
 */
static int
json_list(const struct trpt_strlist *l, struct trpt_buf *b, const char **json,
    struct trpt_err *err)
{
	json_t *a = NULL, *s;
	char *text = NULL;
	size_t i;
	int rc;

	trpt_buf_reset(b);
	if (l->n == 0) {
		*json = NULL;
		return TRPT_OK;
	}
	if ((a = json_array()) == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < l->n; i++) {
		if ((s = json_string(l->v[i])) == NULL) {
			rc = trpt_err_set(err, TRPT_EINVAL,
			    "a list entry is not UTF-8: %.40s", l->v[i]);
			goto out;
		}
		if (json_array_append_new(a, s) != 0) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((text = json_dumps(a, JSON_COMPACT)) == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = trpt_buf_append(b, text, strlen(text), err)) == TRPT_OK)
		*json = b->data;
out:
	free(text);
	json_decref(a);
	return rc;
}

static int64_t
now_or(int64_t t)
{
	return t > 0 ? t : (int64_t)time(NULL);
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

/* Counts a duplicate of copy `id` (seen_count moves by `add`). */
static int
mark_seen(
    struct trpt_db *db, int64_t id, int64_t seen, int add, struct trpt_err *err)
{
	struct binder b;
	int rc;

	if ((rc = prepare(db, TRPT_STMT_REPORT_SEEN, sql_report_seen, &b,
		 err)) != TRPT_OK)
		return rc;
	bind_int(&b, 1, seen);
	bind_int(&b, 2, add);
	bind_int(&b, 3, id);
	return run(db, &b, "counting a duplicate report", err);
}

/* How many copies of r are stored, and the highest copy number. */
static int
copies(struct trpt_db *db, const struct trpt_report *r, int64_t *n,
    int64_t *maxcopy, struct trpt_err *err)
{
	struct binder b;
	int src, rc;

	if ((rc = prepare(db, TRPT_STMT_REPORT_COPIES, sql_report_copies, &b,
		 err)) != TRPT_OK)
		return rc;
	bind_text(&b, 1, r->organization_name);
	bind_text(&b, 2, r->report_id);
	if (b.src != SQLITE_OK)
		return bind_error(db, &b, "finding copies of a report", err);
	src = sqlite3_step(b.st);
	if (src == SQLITE_ROW) {
		*n = sqlite3_column_int64(b.st, 0);
		*maxcopy = sqlite3_column_int64(b.st, 1);
		rc = TRPT_OK;
	} else
		rc = trpt_db_error(db, src, "finding copies of a report", err);
	trpt_db_stmt_done(b.st);
	return rc;
}

/*
 * The content of a report, for telling copies apart, is a canonical byte
 * string hashed with SHA-256: the report's fields, then per policy a 'P'
 * record and per failure detail an 'F' record, every field tagged and
 * length-prefixed so that no two contents serialise alike.  Lists are
 * their strings (a stored list is read back with jansson), so a copy read
 * back from its rows (canon_stored) serialises exactly as the report it
 * came from (canon_report).  Warnings are left out: they follow from the
 * content.  Hand-written: this is a digest input, not JSON for anyone.
 */
static void
canon_text(struct trpt_buf *b, struct trpt_err *err, const char *s, size_t n)
{
	unsigned char hdr[9];
	int i;

	if (s == NULL) {
		trpt_buf_append(b, "n", 1, err);
		return;
	}
	hdr[0] = 't';
	for (i = 0; i < 8; i++)
		hdr[1 + i] = (unsigned char)((uint64_t)n >> (8 * i));
	trpt_buf_append(b, hdr, sizeof(hdr), err);
	trpt_buf_append(b, s, n, err);
}

static void
canon_str(struct trpt_buf *b, struct trpt_err *err, const char *s)
{
	canon_text(b, err, s, s != NULL ? strlen(s) : 0);
}

static void
canon_int(struct trpt_buf *b, struct trpt_err *err, int64_t v)
{
	unsigned char x[9];
	int i;

	x[0] = 'i';
	for (i = 0; i < 8; i++)
		x[1 + i] = (unsigned char)((uint64_t)v >> (8 * i));
	trpt_buf_append(b, x, sizeof(x), err);
}

static void
canon_tag(struct trpt_buf *b, struct trpt_err *err, char tag)
{
	trpt_buf_append(b, &tag, 1, err);
}

/* A list: its count, then each string (not its JSON text, so that the
 * digest does not depend on how a JSON encoder escapes). */
static void
canon_list(
    struct trpt_buf *b, struct trpt_err *err, const struct trpt_strlist *l)
{
	size_t i;

	canon_tag(b, err, 'L');
	canon_int(b, err, (int64_t)l->n);
	for (i = 0; i < l->n; i++)
		canon_str(b, err, l->v[i]);
}

/* A stored list column (a JSON array of strings, or NULL) the same way. */
static void
canon_list_col(
    struct trpt_buf *b, struct trpt_err *err, sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	json_t *a, *v;
	size_t k;

	canon_tag(b, err, 'L');
	if (t == NULL) {
		canon_int(b, err, 0);
		return;
	}
	a = json_loads(t, 0, NULL);
	if (!json_is_array(a)) {
		trpt_err_set(
		    err, TRPT_EDB, "a stored list is not a JSON array");
		json_decref(a);
		return;
	}
	canon_int(b, err, (int64_t)json_array_size(a));
	json_array_foreach (a, k, v)
		canon_text(b, err, json_string_value(v),
		    json_is_string(v) ? json_string_length(v) : 0);
	json_decref(a);
}

/* The digest of the content of b; fails if building b failed. */
static int
canon_done(struct trpt_buf *b, struct trpt_err *berr,
    char sha[TRPT_SHA256_HEX_LEN], struct trpt_err *err)
{
	if (berr->code != TRPT_OK)
		return trpt_err_set(err, berr->code, "%s", berr->msg);
	trpt_hash_sha256_hex(b->data != NULL ? b->data : "", b->len, sha);
	return TRPT_OK;
}

static int
canon_report(const struct trpt_report *r, char sha[TRPT_SHA256_HEX_LEN],
    struct trpt_err *err)
{
	struct trpt_buf b;
	struct trpt_err berr;
	size_t i, j;
	int rc;

	trpt_buf_init(&b, JSON_MAX);
	memset(&berr, 0, sizeof(berr));
	canon_tag(&b, &berr, 'R');
	canon_str(&b, &berr, r->organization_name);
	canon_str(&b, &berr, r->report_id);
	canon_str(&b, &berr, r->contact_info);
	canon_int(&b, &berr, r->begin);
	canon_int(&b, &berr, r->end);
	for (i = 0; i < r->npolicies && berr.code == TRPT_OK; i++) {
		const struct trpt_policy *p = &r->policies[i];

		canon_tag(&b, &berr, 'P');
		canon_str(&b, &berr, p->policy_type);
		canon_str(&b, &berr, p->policy_domain);
		canon_list(&b, &berr, &p->policy_strings);
		canon_list(&b, &berr, &p->mx_hosts);
		canon_int(&b, &berr, p->successful);
		canon_int(&b, &berr, p->failed);
		for (j = 0; j < p->nfailures; j++) {
			const struct trpt_failure *f = &p->failures[j];

			canon_tag(&b, &berr, 'F');
			canon_str(&b, &berr, f->result_type);
			canon_str(&b, &berr, f->sending_mta_ip);
			canon_str(&b, &berr, f->receiving_mx_hostname);
			canon_str(&b, &berr, f->receiving_mx_helo);
			canon_str(&b, &berr, f->receiving_ip);
			canon_int(&b, &berr, f->failed_session_count);
			canon_str(&b, &berr, f->failure_reason_code);
			canon_str(&b, &berr, f->additional_information);
		}
	}
	rc = canon_done(&b, &berr, sha, err);
	trpt_buf_free(&b);
	return rc;
}

/* A text column into the canonical form (NULL stays NULL). */
static void
canon_col(struct trpt_buf *b, struct trpt_err *err, sqlite3_stmt *st, int i)
{
	const unsigned char *t;

	if (sqlite3_column_type(st, i) == SQLITE_NULL) {
		canon_text(b, err, NULL, 0);
		return;
	}
	t = sqlite3_column_text(st, i);
	if (t == NULL) {
		trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		return;
	}
	canon_text(
	    b, err, (const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

/* The digest of a copy stored before content_sha256 existed. */
static int
canon_stored(struct trpt_db *db, int64_t id, char sha[TRPT_SHA256_HEX_LEN],
    struct trpt_err *err)
{
	struct trpt_buf b;
	struct trpt_err berr;
	struct binder h, p;
	int64_t idx = -1;
	int src, rc;

	trpt_buf_init(&b, JSON_MAX);
	memset(&berr, 0, sizeof(berr));
	if ((rc = prepare(db, TRPT_STMT_REPORT_STORED_HEAD,
		 sql_report_stored_head, &h, err)) != TRPT_OK)
		goto out;
	bind_int(&h, 1, id);
	if (h.src != SQLITE_OK) {
		rc = bind_error(db, &h, "reading a stored report", err);
		goto out;
	}
	src = sqlite3_step(h.st);
	if (src == SQLITE_ROW) {
		canon_tag(&b, &berr, 'R');
		canon_col(&b, &berr, h.st, 0);
		canon_col(&b, &berr, h.st, 1);
		canon_col(&b, &berr, h.st, 2);
		canon_int(&b, &berr, sqlite3_column_int64(h.st, 3));
		canon_int(&b, &berr, sqlite3_column_int64(h.st, 4));
		rc = TRPT_OK;
	} else
		rc =
		    trpt_db_error(db, src == SQLITE_DONE ? SQLITE_CORRUPT : src,
			"reading a stored report", err);
	trpt_db_stmt_done(h.st);
	if (rc != TRPT_OK)
		goto out;
	if ((rc = prepare(db, TRPT_STMT_REPORT_STORED_BODY,
		 sql_report_stored_body, &p, err)) != TRPT_OK)
		goto out;
	bind_int(&p, 1, id);
	if (p.src != SQLITE_OK) {
		rc = bind_error(db, &p, "reading a stored report", err);
		goto out;
	}
	while (
	    (src = sqlite3_step(p.st)) == SQLITE_ROW && berr.code == TRPT_OK) {
		if (sqlite3_column_int64(p.st, 0) != idx) {
			idx = sqlite3_column_int64(p.st, 0);
			canon_tag(&b, &berr, 'P');
			canon_col(&b, &berr, p.st, 1);
			canon_col(&b, &berr, p.st, 2);
			canon_list_col(&b, &berr, p.st, 3);
			canon_list_col(&b, &berr, p.st, 4);
			canon_int(&b, &berr, sqlite3_column_int64(p.st, 5));
			canon_int(&b, &berr, sqlite3_column_int64(p.st, 6));
		}
		if (sqlite3_column_type(p.st, 7) == SQLITE_NULL)
			continue;
		canon_tag(&b, &berr, 'F');
		canon_col(&b, &berr, p.st, 8);
		canon_col(&b, &berr, p.st, 9);
		canon_col(&b, &berr, p.st, 10);
		canon_col(&b, &berr, p.st, 11);
		canon_col(&b, &berr, p.st, 12);
		canon_int(&b, &berr, sqlite3_column_int64(p.st, 13));
		canon_col(&b, &berr, p.st, 14);
		canon_col(&b, &berr, p.st, 15);
	}
	if (berr.code == TRPT_OK && src != SQLITE_DONE)
		rc = trpt_db_error(db, src, "reading a stored report", err);
	trpt_db_stmt_done(p.st);
	if (rc == TRPT_OK)
		rc = canon_done(&b, &berr, sha, err);
out:
	trpt_buf_free(&b);
	return rc;
}

static int
set_digest(
    struct trpt_db *db, int64_t id, const char *sha, struct trpt_err *err)
{
	struct binder b;
	int rc;

	if ((rc = prepare(db, TRPT_STMT_REPORT_SET_DIGEST,
		 sql_report_set_digest, &b, err)) != TRPT_OK)
		return rc;
	bind_int(&b, 1, id);
	bind_text(&b, 2, sha);
	return run(db, &b, "saving a report's digest", err);
}

/*
 * Fills content_sha256 of the copies of r that have none yet (stored
 * before a second copy came, or before the column existed).
 */
static int
digest_copies(
    struct trpt_db *db, const struct trpt_report *r, struct trpt_err *err)
{
	char sha[TRPT_SHA256_HEX_LEN];
	struct binder b;
	int64_t id = 0;
	int rc, found, n;

	for (n = 0; n <= TRPT_STORE_MAX_COPIES; n++) {
		if ((rc = prepare(db, TRPT_STMT_REPORT_UNDIGESTED,
			 sql_report_undigested, &b, err)) != TRPT_OK)
			return rc;
		bind_text(&b, 1, r->organization_name);
		bind_text(&b, 2, r->report_id);
		if ((rc = run_id(db, &b, "finding copies without digest", &id,
			 &found, err)) != TRPT_OK)
			return rc;
		if (!found)
			return TRPT_OK;
		if ((rc = canon_stored(db, id, sha, err)) != TRPT_OK ||
		    (rc = set_digest(db, id, sha, err)) != TRPT_OK)
			return rc;
	}
	return trpt_err_set(err, TRPT_EDB,
	    "database %s: more than %d copies without digest", trpt_db_path(db),
	    TRPT_STORE_MAX_COPIES);
}

/* The id of the raw_inputs row holding these bytes, inserted if new. */
static int
raw_row(struct trpt_db *db, const struct trpt_raw *raw, int64_t received,
    int64_t *id, struct trpt_err *err)
{
	const struct trpt_origin *o = raw->origin;
	const struct trpt_auth *a = raw->auth;
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
	bind_text(&b, 10, a != NULL ? a->dkim : NULL);
	bind_text(&b, 11, a != NULL ? a->dkim_reason : NULL);
	bind_text(&b, 12, a != NULL ? a->dkim_domain : NULL);
	bind_text(&b, 13, a != NULL ? a->dkim_selector : NULL);
	bind_text(&b, 14, a != NULL ? a->dkim_key_service : NULL);
	bind_text(&b, 15, o->client);
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

/*
 * The mode of an sts policy, lower case, from its "mode: ..." line (into
 * buf), or NULL.  RFC 8461 §3.2: key and value separated by ':', optional
 * white space.
 */
static const char *
sts_mode(const struct trpt_policy *p, char *buf, size_t size)
{
	const char *s, *e;
	size_t i, n;

	if (p->policy_type == NULL || strcmp(p->policy_type, "sts") != 0)
		return NULL;
	for (i = 0; i < p->policy_strings.n; i++) {
		s = p->policy_strings.v[i];
		while (*s == ' ' || *s == '\t')
			s++;
		if (strncasecmp(s, "mode", 4) != 0)
			continue;
		s += 4;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != ':')
			continue;
		s++;
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' ||
				    e[-1] == '\r' || e[-1] == '\n'))
			e--;
		n = (size_t)(e - s) < size - 1 ? (size_t)(e - s) : size - 1;
		for (i = 0; i < n; i++)
			buf[i] = (char)tolower((unsigned char)s[i]);
		buf[n] = '\0';
		return buf;
	}
	return NULL;
}

static int
insert_policy(struct trpt_db *db, const struct trpt_report *r, size_t idx,
    int64_t report, int64_t day, struct trpt_buf *ps, struct trpt_buf *mx,
    struct trpt_err *err)
{
	const struct trpt_policy *p = &r->policies[idx];
	const char *psj, *mxj;
	char mode[32];
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
	bind_text(&b, 11, sts_mode(p, mode, sizeof(mode)));
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
    const struct trpt_raw *raw, int64_t received, int64_t copy, const char *sha,
    int64_t *id, struct trpt_err *err)
{
	const struct trpt_auth *a = raw->auth;
	struct trpt_buf ps, mx;
	struct binder b;
	int64_t raw_id = 0, rid, ok = 0, failed = 0,
		day = trpt_calendar_day(r->begin);
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
	bind_int(&b, 12, copy);
	bind_int(&b, 13, copy == 0);
	bind_text(&b, 14, sha);
	bind_text(&b, 15, a != NULL ? a->dkim : NULL);
	bind_text(&b, 16, a != NULL ? a->dkim_reason : NULL);
	bind_text(&b, 17, a != NULL ? a->dkim_domain : NULL);
	bind_text(&b, 18, a != NULL ? a->dkim_selector : NULL);
	bind_text(&b, 19, a != NULL ? a->dkim_key_service : NULL);
	bind_text(&b, 20, a != NULL ? a->dkim_aligned : NULL);
	bind_int(&b, 21, a != NULL && a->accepted);
	if ((rc = run(db, &b, "storing the report", err)) != TRPT_OK)
		goto out;
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
	rc = TRPT_OK;
out:
	trpt_buf_free(&ps);
	trpt_buf_free(&mx);
	return rc;
}

static int
exec_cached(struct trpt_db *db, enum trpt_db_stmt_id id, const char *sql,
    struct trpt_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = trpt_db_stmt(db, id, sql, &st, err);
	if (rc == TRPT_OK)
		rc = trpt_db_step_done(db, st, sql, err);
	return rc;
}

static int
savepoint(struct trpt_db *db, struct trpt_err *err)
{
	return exec_cached(
	    db, TRPT_STMT_SAVEPOINT, "SAVEPOINT trpt_report", err);
}

static int
release(struct trpt_db *db, struct trpt_err *err)
{
	return exec_cached(db, TRPT_STMT_RELEASE, "RELEASE trpt_report", err);
}

/* Undoes the savepoint's writes and leaves the outer transaction open,
 * unless SQLite has already rolled all of it back. */
static void
rollback_to(struct trpt_db *db)
{
	if (!trpt_db_in_transaction(db))
		return;
	if (exec_cached(db, TRPT_STMT_ROLLBACK_TO, "ROLLBACK TO trpt_report",
		NULL) == TRPT_OK)
		release(db, NULL);
}

/* The copy of r with content digest sha, if one is stored. */
static int
same_copy(struct trpt_db *db, const struct trpt_report *r, const char *sha,
    int64_t *id, int *found, struct trpt_err *err)
{
	struct binder b;
	int rc;

	if ((rc = prepare(db, TRPT_STMT_REPORT_SAME, sql_report_same, &b,
		 err)) != TRPT_OK)
		return rc;
	bind_text(&b, 1, r->organization_name);
	bind_text(&b, 2, r->report_id);
	bind_text(&b, 3, sha);
	return run_id(db, &b, "comparing copies of a report", id, found, err);
}

/* A DKIM signature that passed, by a domain aligned with the report's. */
static int
verified(const struct trpt_auth *a)
{
	return a != NULL && a->dkim != NULL && strcmp(a->dkim, "pass") == 0 &&
	       a->dkim_aligned != NULL && strcmp(a->dkim_aligned, "no") != 0;
}

/*
 * Among conflicting copies, a verified one wins over unverified ones
 * (issue 12): when the copy just stored (id) is verified and the copy
 * counted so far is not, the new copy becomes the one counted.  Both stay
 * stored and flagged as a conflict.  Changing which copy is counted marks
 * the rollups for a rebuild (trigger of
 * schema/migrations/sqlite/0007_dkim.sql).  Rare, so the statements are not
 * cached.
 */
static int
count_verified(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_auth *a, int64_t id, struct trpt_err *err)
{
	static const char sql_counted_verified[] =
	    "SELECT count(*) FROM reports WHERE organization_name = ?1 AND"
	    " report_id = ?2 AND counted = 1 AND dkim = 'pass' AND"
	    " dkim_aligned IN ('same', 'parent', 'child')";
	static const char sql_count_only[] =
	    "UPDATE reports SET counted = (id = ?3) WHERE"
	    " organization_name = ?1 AND report_id = ?2 AND"
	    " counted <> (id = ?3)";
	sqlite3 *h = trpt_db_handle(db);
	sqlite3_stmt *st = NULL;
	int src, n = 0;

	if (!verified(a))
		return TRPT_OK;
	src = sqlite3_prepare_v2(h, sql_counted_verified, -1, &st, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_bind_text(
		    st, 1, r->organization_name, -1, SQLITE_STATIC);
	if (src == SQLITE_OK)
		src = sqlite3_bind_text(st, 2, r->report_id, -1, SQLITE_STATIC);
	if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		n = sqlite3_column_int(st, 0);
		src = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (src == SQLITE_DONE && n == 0) {
		src = sqlite3_prepare_v2(h, sql_count_only, -1, &st, NULL);
		if (src == SQLITE_OK)
			src = sqlite3_bind_text(
			    st, 1, r->organization_name, -1, SQLITE_STATIC);
		if (src == SQLITE_OK)
			src = sqlite3_bind_text(
			    st, 2, r->report_id, -1, SQLITE_STATIC);
		if (src == SQLITE_OK)
			src = sqlite3_bind_int64(st, 3, id);
		if (src == SQLITE_OK)
			src = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (src != SQLITE_DONE)
		return trpt_db_error(
		    db, src, "counting the verified copy of a report", err);
	return TRPT_OK;
}

/*
 * Stores r, or counts it as a duplicate of the stored copy with the same
 * content, or keeps it as one more (conflicting) copy: see store.h.
 */
static int
store_or_count(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_raw *raw, int64_t received, int64_t *id, int *outcome,
    struct trpt_err *err)
{
	char sha[TRPT_SHA256_HEX_LEN];
	struct binder b;
	int64_t n = 0, maxcopy = -1;
	int rc, found = 0;

	if ((rc = canon_report(r, sha, err)) != TRPT_OK ||
	    (rc = same_copy(db, r, sha, id, &found, err)) != TRPT_OK)
		return rc;
	if (!found) {
		if ((rc = copies(db, r, &n, &maxcopy, err)) != TRPT_OK)
			return rc;
		if (n == 0) {
			*outcome = TRPT_STORE_NEW;
			return insert_report(
			    db, r, raw, received, 0, sha, id, err);
		}
		/* Copies stored before the digest existed get theirs. */
		if ((rc = digest_copies(db, r, err)) != TRPT_OK ||
		    (rc = same_copy(db, r, sha, id, &found, err)) != TRPT_OK)
			return rc;
	}
	if (found) {
		*outcome = TRPT_STORE_DUPLICATE;
		return mark_seen(db, *id, received,
		    (raw->flags & TRPT_RAW_REPROCESS) ? 0 : 1, err);
	}
	if (n >= TRPT_STORE_MAX_COPIES)
		return trpt_err_set(err, TRPT_ELIMIT,
		    "more than %d different copies received",
		    TRPT_STORE_MAX_COPIES);
	if ((rc = insert_report(
		 db, r, raw, received, maxcopy + 1, sha, id, err)) != TRPT_OK)
		return rc;
	if ((rc = prepare(db, TRPT_STMT_REPORT_CONFLICT, sql_report_conflict,
		 &b, err)) != TRPT_OK)
		return rc;
	bind_text(&b, 1, r->organization_name);
	bind_text(&b, 2, r->report_id);
	*outcome = TRPT_STORE_CONFLICT;
	if ((rc = run(db, &b, "flagging conflicting copies", err)) != TRPT_OK)
		return rc;
	return count_verified(db, r, raw->auth, *id, err);
}

/*
 * A report is atomic: in its own BEGIN IMMEDIATE ... COMMIT, or inside a
 * transaction the caller opened with trpt_store_begin, in a savepoint that
 * a failure rolls back without losing the caller's other reports.
 */
int
trpt_store_report(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_raw *raw, int *outcome, int64_t *report_rowid,
    struct trpt_err *err)
{
	int64_t received, id = 0;
	int rc, nested, outcome_v = TRPT_STORE_NEW;

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
	rc = store_or_count(db, r, raw, received, &id, &outcome_v, err);
	if (rc != TRPT_OK)
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
	if (outcome != NULL)
		*outcome = outcome_v;
	if (report_rowid != NULL)
		*report_rowid = id;
	return TRPT_OK;
}

/* The id of the quarantine_inputs row holding these bytes, inserted if
 * new: the bytes of an input are kept once for all its rejected parts. */
static int
quarantine_input(struct trpt_db *db, const struct trpt_raw *raw, int64_t *id,
    struct trpt_err *err)
{
	char sha[TRPT_SHA256_HEX_LEN];
	struct binder b;
	int rc, found = 0;

	trpt_hash_sha256_hex(
	    raw->bytes != NULL ? raw->bytes : "", raw->len, sha);
	if ((rc = prepare(db, TRPT_STMT_QUARANTINE_INPUT_INSERT,
		 sql_quarantine_input_insert, &b, err)) != TRPT_OK)
		return rc;
	bind_text(&b, 1, sha);
	bind_blob(&b, 2, raw->bytes, raw->len);
	bind_int(&b, 3, (int64_t)raw->len);
	if ((rc = run(db, &b, "quarantining an input", err)) != TRPT_OK)
		return rc;
	if (sqlite3_changes(trpt_db_handle(db)) == 1) {
		*id = sqlite3_last_insert_rowid(trpt_db_handle(db));
		return TRPT_OK;
	}
	if ((rc = prepare(db, TRPT_STMT_QUARANTINE_INPUT_ID,
		 sql_quarantine_input_id, &b, err)) != TRPT_OK)
		return rc;
	bind_text(&b, 1, sha);
	rc = run_id(db, &b, "finding a quarantined input", id, &found, err);
	if (rc == TRPT_OK && !found)
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: quarantined input %s vanished",
		    trpt_db_path(db), sha);
	return rc;
}

int
trpt_store_quarantine(struct trpt_db *db, const struct trpt_raw *raw,
    const char *reason, struct trpt_err *err)
{
	const struct trpt_origin *o;
	struct binder b;
	int64_t input = 0;
	int rc, nested;

	if ((rc = check_raw(raw, err)) != TRPT_OK)
		return rc;
	o = raw->origin;
	/* Two statements: in a transaction of their own, or in a savepoint
	 * of the caller's. */
	nested = trpt_db_in_transaction(db);
	rc = nested ? savepoint(db, err) : trpt_db_begin(db, err);
	if (rc != TRPT_OK)
		goto out;
	if ((rc = quarantine_input(db, raw, &input, err)) != TRPT_OK)
		goto out;
	if ((rc = prepare(db, TRPT_STMT_QUARANTINE_UPSERT,
		 sql_quarantine_upsert, &b, err)) != TRPT_OK)
		goto out;
	bind_int(&b, 1, input);
	bind_int(&b, 2, raw->part);
	bind_text(&b, 3, o->kind);
	bind_text(&b, 4, o->source);
	bind_text(&b, 5, o->message_id);
	bind_text(&b, 6, o->report_domain);
	bind_text(&b, 7, o->report_submitter);
	bind_text(&b, 8, o->filename);
	bind_text(&b, 9, reason != NULL ? reason : "");
	bind_int(&b, 10, now_or(o->received));
	if ((rc = run(db, &b, "quarantining an input", err)) != TRPT_OK)
		goto out;
	rc = nested ? release(db, err) : trpt_db_commit(db, err);
out:
	if (rc != TRPT_OK) {
		if (nested)
			rollback_to(db);
		else
			trpt_db_rollback(db);
		if (err != NULL)
			trpt_err_prefix(
			    err, "%s part %d", o->source, raw->part);
	}
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

/* What one quarantined input holds while its callback runs. */
struct qinput {
	struct trpt_quarantined q;
	void *bytes;
	struct trpt_quarantined_part *parts;
	char **reasons;
	char *texts[Q_NTEXT]; /* the origin, from the first part */
};

static void
qinput_free(struct qinput *in)
{
	size_t i;

	for (i = 0; i < in->q.nparts; i++)
		free(in->reasons[i]);
	for (i = 0; i < Q_NTEXT; i++)
		free(in->texts[i]);
	free(in->reasons);
	free(in->parts);
	free(in->bytes);
	memset(in, 0, sizeof(*in));
}

static int
nomem(struct trpt_db *db, int64_t id, struct trpt_err *err)
{
	return trpt_err_set(err, TRPT_ENOMEM,
	    "database %s: out of memory reading quarantined input %lld",
	    trpt_db_path(db), (long long)id);
}

/* Reads the rejected parts of input in->q.id, and the first one's origin. */
static int
quarantine_parts(struct trpt_db *db, struct qinput *in, struct trpt_err *err)
{
	struct trpt_quarantined_part *np;
	size_t cap = 0, i, n = 0;
	struct binder b;
	char **nr;
	int src, rc = TRPT_OK;

	if ((rc = prepare(db, TRPT_STMT_QUARANTINE_PARTS, sql_quarantine_parts,
		 &b, err)) != TRPT_OK)
		return rc;
	bind_int(&b, 1, in->q.id);
	if (b.src != SQLITE_OK)
		return bind_error(db, &b, "reading the quarantine", err);
	while ((src = sqlite3_step(b.st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			np = realloc(in->parts, cap * sizeof(*np));
			if (np != NULL)
				in->parts = np;
			nr = realloc(in->reasons, cap * sizeof(*nr));
			if (nr != NULL)
				in->reasons = nr;
			if (np == NULL || nr == NULL) {
				rc = nomem(db, in->q.id, err);
				goto out;
			}
		}
		in->parts[n].id = sqlite3_column_int64(b.st, 0);
		in->parts[n].part = sqlite3_column_int(b.st, 1);
		if (column_dup(b.st, 2, &in->reasons[n]) != TRPT_OK) {
			rc = nomem(db, in->q.id, err);
			goto out;
		}
		in->parts[n].reason =
		    in->reasons[n] != NULL ? in->reasons[n] : "";
		in->q.nparts = ++n;
		if (n > 1)
			continue;
		for (i = Q_KIND; i < Q_NTEXT; i++)
			if (column_dup(b.st, 3 + (int)i - Q_KIND,
				&in->texts[i]) != TRPT_OK) {
				rc = nomem(db, in->q.id, err);
				goto out;
			}
		in->q.origin.kind = in->texts[Q_KIND];
		in->q.origin.source = in->texts[Q_SOURCE];
		in->q.origin.message_id = in->texts[Q_MSGID];
		in->q.origin.report_domain = in->texts[Q_DOMAIN];
		in->q.origin.report_submitter = in->texts[Q_SUBMITTER];
		in->q.origin.filename = in->texts[Q_FILENAME];
		in->q.origin.received = sqlite3_column_int64(b.st, 9);
	}
	if (src != SQLITE_DONE)
		rc = trpt_db_error(db, src, "reading the quarantine", err);
	in->q.parts = in->parts;
out:
	trpt_db_stmt_done(b.st);
	return rc;
}

/*
 * Reads the quarantined input after id `after` into in, copying what it
 * needs, so that no statement stays active while the callback writes to
 * the database.
 */
static int
quarantine_next(struct trpt_db *db, int64_t after, struct qinput *in,
    int *found, struct trpt_err *err)
{
	struct binder b;
	const void *blob;
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
		trpt_db_stmt_done(b.st);
		return TRPT_OK;
	}
	if (src != SQLITE_ROW) {
		rc = trpt_db_error(db, src, "reading the quarantine", err);
		trpt_db_stmt_done(b.st);
		return rc;
	}
	in->q.id = sqlite3_column_int64(b.st, 0);
	blob = sqlite3_column_blob(b.st, 1);
	n = sqlite3_column_bytes(b.st, 1);
	in->bytes = malloc(n > 0 ? (size_t)n : 1);
	if (in->bytes == NULL || (blob == NULL && n > 0)) {
		trpt_db_stmt_done(b.st);
		return nomem(db, in->q.id, err);
	}
	if (n > 0)
		memcpy(in->bytes, blob, (size_t)n);
	in->q.bytes = in->bytes;
	in->q.len = (size_t)n;
	trpt_db_stmt_done(b.st);
	*found = 1;
	return quarantine_parts(db, in, err);
}

int
trpt_store_quarantine_each(struct trpt_db *db,
    int (*fn)(void *arg, const struct trpt_quarantined *q), void *arg,
    struct trpt_err *err)
{
	struct qinput in;
	int64_t after = 0;
	int rc, found;

	if (fn == NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "walking the quarantine without a callback");
	for (;;) {
		memset(&in, 0, sizeof(in));
		found = 0;
		rc = quarantine_next(db, after, &in, &found, err);
		if (rc == TRPT_OK && found) {
			after = in.q.id;
			/* An input without parts (none can be: the trigger
			 * removes it with its last part) is passed over. */
			if (in.q.nparts > 0)
				rc = fn(arg, &in.q);
		}
		qinput_free(&in);
		if (rc != TRPT_OK || !found)
			return rc;
	}
}

int
trpt_store_quarantine_get(struct trpt_db *db, int64_t id,
    int (*fn)(void *arg, const struct trpt_quarantined *q), void *arg,
    struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	struct qinput in;
	int64_t input = 0;
	int src, rc, found = 0;

	/* An operator's command, not a hot path: not in the cache. */
	src = sqlite3_prepare_v2(trpt_db_handle(db),
	    "SELECT input FROM quarantine_parts WHERE id = ?1", -1, &st, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_bind_int64(st, 1, id);
	if (src == SQLITE_OK) {
		src = sqlite3_step(st);
		if (src == SQLITE_ROW)
			input = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return trpt_db_error(db, src, "reading the quarantine", err);
	if (input == 0)
		return trpt_err_set(err, TRPT_ENOTFOUND,
		    "database %s: no quarantined input %lld", trpt_db_path(db),
		    (long long)id);
	memset(&in, 0, sizeof(in));
	rc = quarantine_next(db, input - 1, &in, &found, err);
	if (rc == TRPT_OK && (!found || in.q.id != input || in.q.nparts == 0))
		rc = trpt_err_set(err, TRPT_ENOTFOUND,
		    "database %s: no quarantined input %lld", trpt_db_path(db),
		    (long long)id);
	else if (rc == TRPT_OK)
		rc = fn(arg, &in.q);
	qinput_free(&in);
	return rc;
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
