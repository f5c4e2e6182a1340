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

#include "common/calendar.h"
#include "common/err.h"
#include "common/hash.h"
#include "schema/db.h"
#include "schema/report.h"
#include "schema/rollup.h"
#include "schema/sql.h"
#include "schema/sql_impl.h"
#include "schema/sql_pg.h"

/* SQLite's default SQLITE_MAX_LENGTH: no string or blob can be longer. */
#define JSON_MAX 1000000000u

/*
 * The statements of the store, written once for SQLite and PostgreSQL
 * (schema/sql.h).  Duplicates are found by the unique constraints: a
 * report is inserted as the first copy of its (organization, report-id)
 * with ON CONFLICT DO NOTHING, and only when that conflicts is it
 * compared with the stored copies.
 */
static const char sql_report_seen[] =
    "UPDATE reports SET seen_count = seen_count + ?,"
    " last_seen_at = CASE WHEN last_seen_at > ? THEN last_seen_at ELSE ?"
    " END WHERE id = ?";
/*
 * The inserts whose new id the store needs are written twice: SQLite
 * reads the id from the connection (trpt_sql_last_insert_id), as
 * RETURNING makes it build a temporary table on every run (about a
 * fifth of an insert's instructions, callgrind); PostgreSQL needs
 * RETURNING.  See insert_stmt and insert_run.
 */
#define RAW_INSERT                                                             \
	"INSERT INTO raw_inputs (sha256, bytes, size, source_kind, source,"    \
	" message_id, report_domain, report_submitter, received_at,"           \
	" dkim, dkim_reason, dkim_domain, dkim_selector, dkim_key_service,"    \
	" client, one_report)"                                                 \
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"             \
	" ON CONFLICT DO NOTHING"
static const char sql_raw_insert[] = RAW_INSERT;
static const char sql_raw_insert_ret[] = RAW_INSERT " RETURNING id";
/*
 * SQLite: the raw inputs that are not one report (one_report 0) sharing a
 * digest's first RAW_PREFIX hex digits, found by the short partial index
 * of migrations 0021 and 0023; raw_find compares their full digests.  The
 * digest is not compared in SQL: SQLite would put the bound value in place
 * of the column in substr() (constant propagation) and no longer see the
 * indexed expression.
 */
#define RAW_PREFIX 8
static const char sql_raw_id[] =
    "SELECT id, sha256 FROM raw_inputs WHERE substr(sha256, 1, 8) = ?"
    " AND one_report = 0";
/* PostgreSQL: by the whole digest (its unique constraint's index). */
static const char sql_raw_id_pg[] =
    "SELECT id, sha256 FROM raw_inputs WHERE sha256 = ?";
/* A report's key (migration 0028), of table T ("r." or ""); bound by
 * bind_key. */
#define REPORT_KEY_OF(T)                                                       \
	T "organization_name = ? AND " T "report_id = ? AND " T "begin_ts = ?"
#define REPORT_KEY REPORT_KEY_OF("")
/*
 * The input of a stored copy of a report with this digest (SQLite): an
 * input that is one report is found this way (migration 0023).  At most
 * TRPT_STORE_MAX_COPIES copies, each input by its id.
 */
static const char sql_raw_of_copies[] =
    "SELECT i.id, i.one_report FROM reports r JOIN raw_inputs i ON"
    " i.id = r.raw_id"
    " WHERE " REPORT_KEY_OF("r.") " AND i.sha256 = ? LIMIT 1";
/* An input stored as one report, now read as several (raw_of_copies). */
static const char sql_raw_not_one[] =
    "UPDATE raw_inputs SET one_report = 0 WHERE id = ?";
static const char sql_raw_delete[] = "DELETE FROM raw_inputs WHERE id = ?";
#define REPORT_INSERT                                                          \
	"INSERT INTO reports (organization_name, report_id, copy, counted,"    \
	" content_sha256, contact_info, begin_ts, end_ts, day, raw_id, part,"  \
	" received_at, last_seen_at, total_successful, total_failed, dkim,"    \
	" dkim_reason, dkim_domain, dkim_selector, dkim_key_service,"          \
	" dkim_aligned, dkim_accepted)"                                        \
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?," \
	" ?, ?) ON CONFLICT (begin_ts, organization_name, report_id, copy)"    \
	" DO NOTHING"
static const char sql_report_insert[] = REPORT_INSERT;
static const char sql_report_insert_ret[] = REPORT_INSERT " RETURNING id";
static const char sql_report_copies[] =
    "SELECT count(*), coalesce(max(copy), -1) FROM reports WHERE " REPORT_KEY;
/* A stored copy's content, read back for its digest when it has none
 * (copies stored before content_sha256 existed). */
static const char sql_report_stored_head[] =
    "SELECT organization_name, report_id, contact_info, begin_ts, end_ts"
    " FROM reports WHERE id = ?";
static const char sql_report_stored_body[] =
    "SELECT p.idx, p.policy_type, p.policy_domain, p.policy_strings,"
    " p.mx_hosts, p.successful, p.failed, f.id, f.result_type,"
    " f.sending_mta_ip, f.receiving_mx_hostname, f.receiving_mx_helo,"
    " f.receiving_ip, f.failed_session_count, f.failure_reason_code,"
    " f.additional_information"
    " FROM policies p LEFT JOIN failures f ON f.policy = p.id"
    " WHERE p.report = ? ORDER BY p.idx, f.id";
static const char sql_report_undigested[] =
    "SELECT id FROM reports WHERE " REPORT_KEY
    " AND content_sha256 IS NULL ORDER BY id LIMIT 1";
static const char sql_report_set_digest[] =
    "UPDATE reports SET content_sha256 = ? WHERE id = ?";
static const char sql_report_same[] =
    "SELECT id FROM reports WHERE " REPORT_KEY
    " AND content_sha256 = ? ORDER BY copy LIMIT 1";
static const char sql_report_conflict[] =
    "UPDATE reports SET conflict = 1 WHERE " REPORT_KEY;
#define POLICY_INSERT                                                          \
	"INSERT INTO policies (report, idx, day, policy_type, policy_domain,"  \
	" policy_strings, mx_hosts, successful, failed, details_failed,"       \
	" sts_mode)"                                                           \
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
static const char sql_policy_insert[] = POLICY_INSERT;
static const char sql_policy_insert_ret[] = POLICY_INSERT " RETURNING id";
/*
 * A report's failure details, 8, 4, 2 or 1 rows a statement.  On SQLite
 * "OR FAIL": a statement of several rows that may stop at a constraint
 * (ABORT, the default) makes SQLite keep a statement journal (a copy of
 * each page it changes, to take back its own rows alone), which cost more
 * than the rows saved (stop 22: +2% instructions).  FAIL keeps the rows
 * written before the failing one, and nothing needs it to: a database
 * failure once a report's rows are going in rolls the whole transaction
 * back (trpt_store_report), and no constraint of the table can fail for
 * what prep_report lets through (NOT NULL columns only).  PostgreSQL has
 * no statement journal and no OR FAIL.
 */
#define FAILURE_HEAD(OR)                                                       \
	"INSERT" OR " INTO failures (policy, result_type, sending_mta_ip,"     \
	" receiving_mx_hostname, receiving_mx_helo, receiving_ip,"             \
	" failed_session_count, failure_reason_code, additional_information)"  \
	" VALUES "
#define FAILURE_ROW   "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define FAILURE_ROWS2 FAILURE_ROW ", " FAILURE_ROW
#define FAILURE_ROWS4 FAILURE_ROWS2 ", " FAILURE_ROWS2
#define FAILURE_ROWS8 FAILURE_ROWS4 ", " FAILURE_ROWS4
#define FAILURE_INSERTS(OR)                                                    \
	{                                                                      \
		FAILURE_HEAD(OR)                                               \
		FAILURE_ROW, FAILURE_HEAD(OR) FAILURE_ROWS2,                   \
		    FAILURE_HEAD(OR) FAILURE_ROWS4,                            \
		    FAILURE_HEAD(OR) FAILURE_ROWS8                             \
	}
#define FAILURE_COLS 9
static const char *const sql_failure_insert[2][4] = {
	FAILURE_INSERTS(" OR FAIL"), /* SQLite */
	FAILURE_INSERTS(""),         /* PostgreSQL */
};
static const char sql_warning_insert[] =
    "INSERT INTO warnings (report, message) VALUES (?, ?)";
#define QUARANTINE_INPUT_INSERT                                                \
	"INSERT INTO quarantine_inputs (sha256, bytes, size)"                  \
	" VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING"
static const char sql_quarantine_input_insert[] = QUARANTINE_INPUT_INSERT;
static const char sql_quarantine_input_insert_ret[] =
    QUARANTINE_INPUT_INSERT " RETURNING id";
static const char sql_quarantine_input_id[] =
    "SELECT id FROM quarantine_inputs WHERE sha256 = ?";
static const char sql_quarantine_upsert[] =
    "INSERT INTO quarantine_parts (input, part, source_kind, source,"
    " message_id, report_domain, report_submitter, filename, reason,"
    " received_at, last_seen_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (input, part) DO UPDATE SET"
    " seen_count = quarantine_parts.seen_count + 1,"
    " last_seen_at = CASE WHEN quarantine_parts.last_seen_at >"
    " excluded.last_seen_at THEN quarantine_parts.last_seen_at ELSE"
    " excluded.last_seen_at END,"
    " reason = excluded.reason";
static const char sql_quarantine_next[] =
    "SELECT id, bytes FROM quarantine_inputs WHERE id > ? ORDER BY id"
    " LIMIT 1";
static const char sql_quarantine_parts[] =
    "SELECT id, part, reason, source_kind, source, message_id,"
    " report_domain, report_submitter, filename, received_at"
    " FROM quarantine_parts WHERE input = ? ORDER BY id";
static const char sql_quarantine_input_of[] =
    "SELECT input FROM quarantine_parts WHERE id = ?";
static const char sql_quarantine_delete[] =
    "DELETE FROM quarantine_parts WHERE id = ?";
static const char sql_quarantine_update[] =
    "UPDATE quarantine_parts SET reason = ? WHERE id = ?";
/* Rare (conflicting copies with a DKIM verdict). */
static const char sql_counted_of[] =
    "SELECT id, CASE WHEN dkim = 'pass' AND dkim_aligned IN ('same',"
    " 'parent', 'child') THEN 1 ELSE 0 END FROM reports WHERE " REPORT_KEY
    " AND counted = 1";
static const char sql_count_only[] =
    "UPDATE reports SET counted = CASE WHEN id = ? THEN 1 ELSE 0 END"
    " WHERE " REPORT_KEY;

/* Binds r's key (REPORT_KEY) to parameters first .. first + 2. */
static void
bind_key(struct trpt_stmt *st, int first, const struct trpt_report *r)
{
	trpt_sql_bind_text(st, first, r->organization_name);
	trpt_sql_bind_text(st, first + 1, r->report_id);
	trpt_sql_bind_int(st, first + 2, r->begin);
}

/*
 * Runs a cached statement that returns at most one row with an integer in
 * its first column: *found is 1 and *id that integer when it did.  The
 * statement is run to its end (an INSERT ... RETURNING completes) and
 * reset.
 */
static int
run_id(struct trpt_stmt *st, int64_t *id, int *found, struct trpt_err *err)
{
	int rc;

	*found = 0;
	if ((rc = trpt_sql_step(st, err)) > 0) {
		*id = trpt_sql_int(st, 0);
		*found = 1;
		rc = trpt_sql_step(st, err);
	}
	trpt_sql_reset(st);
	return rc < 0 ? rc : TRPT_OK;
}

/* The cached statement of an insert whose id is wanted (see above). */
static int
insert_stmt(struct trpt_db *db, const char *sql, const char *sql_ret,
    struct trpt_stmt **st, struct trpt_err *err)
{
	return trpt_sql_cached(
	    db, trpt_sql_dialect(db) == TRPT_SQL_PG ? sql_ret : sql, st, err);
}

/*
 * Runs an insert from insert_stmt that adds at most one row: *found is 1
 * and *id the new row's id when it did (0 after ON CONFLICT DO NOTHING).
 */
static int
insert_run(struct trpt_stmt *st, int64_t *id, int *found, struct trpt_err *err)
{
	int rc;

	if (trpt_sql_last_insert_id(st) < 0) /* PostgreSQL: RETURNING id */
		return run_id(st, id, found, err);
	*found = 0;
	if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
		return rc;
	if (trpt_sql_changes(st) > 0) {
		*id = trpt_sql_last_insert_id(st);
		*found = 1;
	}
	return TRPT_OK;
}

/*
 * Binds s unless it is NULL.  A cached statement's parameters are all
 * NULL after each run (trpt_sql_run and run_id reset it, which clears the
 * bindings on both drivers), so binding NULL again only costs SQLite's
 * unbind (its mutex, a Mem release): about half of the ~34 text values a
 * POST's rows bind are NULL (the DKIM columns of a report that came by
 * HTTPS, a failure detail's optional fields).  Only for statements that
 * are bound and run in one go.
 */
static void
bind_opt(struct trpt_stmt *st, int i, const char *s)
{
	if (s != NULL)
		trpt_sql_bind_text(st, i, s);
}

/*
 * The list as json_dumps(JSON_COMPACT) writes it when every string is
 * printable ASCII without '"' or '\\' (MX host names, "version: STSv1",
 * "mode: enforce": nearly every list): each string as it is, quoted,
 * joined by ",".  jansson escapes nothing else (no JSON_ESCAPE_SLASH or
 * JSON_ENSURE_ASCII here).  TRPT_EINVAL for any other list, which
 * json_list gives to jansson.  Measured: building the array and dumping
 * it was about 9% of the store thread's instructions (callgrind, `ingest`
 * of 2,000 small reports); test_schema_lists_ahead compares the two.
 */
static int
json_list_plain(const struct trpt_strlist *l, char **json, struct trpt_err *err)
{
	const unsigned char *c;
	size_t i, n = 1, len;
	char *out, *o;

	for (i = 0; i < l->n; i++) {
		for (c = (const unsigned char *)l->v[i]; *c != '\0'; c++)
			if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
				return TRPT_EINVAL;
		len = (size_t)(c - (const unsigned char *)l->v[i]);
		if (len > JSON_MAX || n > JSON_MAX)
			return TRPT_EINVAL; /* jansson says what it makes of it
					     */
		n += len + 3;
	}
	if ((o = out = malloc(n + 1)) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	*o++ = '[';
	for (i = 0; i < l->n; i++) {
		len = strlen(l->v[i]);
		if (i > 0)
			*o++ = ',';
		*o++ = '"';
		memcpy(o, l->v[i], len);
		o += len;
		*o++ = '"';
	}
	*o++ = ']';
	*o = '\0';
	*json = out;
	return TRPT_OK;
}

/*
 * A list as a JSON array of strings (jansson, compact), which the caller
 * frees, or NULL (*json) for an empty list.  A string that is not UTF-8
 * is TRPT_EINVAL (the validator only passes what jansson read).
 */
static int
json_list(const struct trpt_strlist *l, char **json, struct trpt_err *err)
{
	json_t *a = NULL, *s;
	size_t i;
	int rc = TRPT_OK;

	*json = NULL;
	if (l->n == 0)
		return TRPT_OK;
	if ((rc = json_list_plain(l, json, err)) != TRPT_EINVAL)
		return rc;
	rc = TRPT_OK;
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
	if ((*json = json_dumps(a, JSON_COMPACT)) == NULL)
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
out:
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

/*
 * The content of a report, for telling copies apart, is a canonical byte
 * string hashed with SHA-256: the report's fields, then per policy a 'P'
 * record and per failure detail an 'F' record, every field tagged and
 * length-prefixed so that no two contents serialise alike.  Lists are
 * their strings (a stored list is read back with jansson), so a copy read
 * back from its rows (canon_stored) serialises exactly as the report it
 * came from (canon_report).  Warnings are left out: they follow from the
 * content.  Hand-written: this is a digest input, not JSON for anyone.
 *
 * The bytes go straight into the hash, never into a buffer: building them
 * in a growing buffer (a realloc chain per report, on the store thread)
 * was 2-3% of `ingest`'s cycles and a quarter of its futex calls (issue
 * 15, stop 20).  They are still counted against the cap the buffer had,
 * so that the outcome of any report is the same.
 */
struct canon {
	struct trpt_hash_sha256 h;
	size_t len;
	struct trpt_err err; /* the first error; then nothing is added */
};

static void
canon_init(struct canon *c)
{
	trpt_hash_sha256_init(&c->h);
	c->len = 0;
	memset(&c->err, 0, sizeof(c->err));
}

static void
canon_put(struct canon *c, const void *p, size_t n)
{
	if (c->err.code != TRPT_OK)
		return;
	if (n > JSON_MAX - c->len) {
		trpt_err_set(&c->err, TRPT_ELIMIT,
		    "size exceeds the limit of %zu bytes", (size_t)JSON_MAX);
		return;
	}
	c->len += n;
	if (n > 0)
		trpt_hash_sha256_update(&c->h, p, n);
}

static void
canon_text(struct canon *c, const char *s, size_t n)
{
	unsigned char hdr[9];
	int i;

	if (s == NULL) {
		canon_put(c, "n", 1);
		return;
	}
	hdr[0] = 't';
	for (i = 0; i < 8; i++)
		hdr[1 + i] = (unsigned char)((uint64_t)n >> (8 * i));
	canon_put(c, hdr, sizeof(hdr));
	canon_put(c, s, n);
}

static void
canon_str(struct canon *c, const char *s)
{
	canon_text(c, s, s != NULL ? strlen(s) : 0);
}

static void
canon_int(struct canon *c, int64_t v)
{
	unsigned char x[9];
	int i;

	x[0] = 'i';
	for (i = 0; i < 8; i++)
		x[1 + i] = (unsigned char)((uint64_t)v >> (8 * i));
	canon_put(c, x, sizeof(x));
}

static void
canon_tag(struct canon *c, char tag)
{
	canon_put(c, &tag, 1);
}

/* A list: its count, then each string (not its JSON text, so that the
 * digest does not depend on how a JSON encoder escapes). */
static void
canon_list(struct canon *c, const struct trpt_strlist *l)
{
	size_t i;

	canon_tag(c, 'L');
	canon_int(c, (int64_t)l->n);
	for (i = 0; i < l->n; i++)
		canon_str(c, l->v[i]);
}

/* A stored list column (a JSON array of strings, or NULL) the same way. */
static void
canon_list_col(struct canon *c, struct trpt_stmt *st, int i)
{
	size_t n = 0;
	const char *t = trpt_sql_textn(st, i, &n);
	json_t *a, *v;
	size_t k;

	canon_tag(c, 'L');
	if (t == NULL) {
		canon_int(c, 0);
		return;
	}
	a = json_loadb(t, n, 0, NULL);
	if (!json_is_array(a)) {
		if (c->err.code == TRPT_OK)
			trpt_err_set(&c->err, TRPT_EDB,
			    "a stored list is not a JSON array");
		json_decref(a);
		return;
	}
	canon_int(c, (int64_t)json_array_size(a));
	json_array_foreach (a, k, v)
		canon_text(c, json_string_value(v),
		    json_is_string(v) ? json_string_length(v) : 0);
	json_decref(a);
}

/* The digest of what c was fed; fails if feeding it failed. */
static int
canon_done(struct canon *c, char sha[TRPT_SHA256_HEX_LEN], struct trpt_err *err)
{
	if (c->err.code != TRPT_OK)
		return trpt_err_set(err, c->err.code, "%s", c->err.msg);
	trpt_hash_sha256_final_hex(&c->h, sha);
	return TRPT_OK;
}

int
trpt_store_content_digest(const struct trpt_report *r,
    char sha[TRPT_SHA256_HEX_LEN], struct trpt_err *err)
{
	struct canon c;
	size_t i, j;

	canon_init(&c);
	canon_tag(&c, 'R');
	canon_str(&c, r->organization_name);
	canon_str(&c, r->report_id);
	canon_str(&c, r->contact_info);
	canon_int(&c, r->begin);
	canon_int(&c, r->end);
	for (i = 0; i < r->npolicies && c.err.code == TRPT_OK; i++) {
		const struct trpt_policy *p = &r->policies[i];

		canon_tag(&c, 'P');
		canon_str(&c, p->policy_type);
		canon_str(&c, p->policy_domain);
		canon_list(&c, &p->policy_strings);
		canon_list(&c, &p->mx_hosts);
		canon_int(&c, p->successful);
		canon_int(&c, p->failed);
		for (j = 0; j < p->nfailures; j++) {
			const struct trpt_failure *f = &p->failures[j];

			canon_tag(&c, 'F');
			canon_str(&c, f->result_type);
			canon_str(&c, f->sending_mta_ip);
			canon_str(&c, f->receiving_mx_hostname);
			canon_str(&c, f->receiving_mx_helo);
			canon_str(&c, f->receiving_ip);
			canon_int(&c, f->failed_session_count);
			canon_str(&c, f->failure_reason_code);
			canon_str(&c, f->additional_information);
		}
	}
	return canon_done(&c, sha, err);
}

int
trpt_store_digests(const struct trpt_report *r, const struct trpt_raw *raw,
    struct trpt_store_digests *out, struct trpt_err *err)
{
	struct trpt_store_digests d;
	int rc;

	if ((rc = trpt_store_content_digest(r, d.content_sha256, err)) !=
	    TRPT_OK)
		return rc;
	trpt_hash_sha256_hex(
	    raw->bytes != NULL ? raw->bytes : "", raw->len, d.sha256);
	*out = d;
	return TRPT_OK;
}

/* A text column into the canonical form (NULL stays NULL). */
static void
canon_col(struct canon *c, struct trpt_stmt *st, int i)
{
	const char *t;
	size_t n = 0;

	if (trpt_sql_is_null(st, i)) {
		canon_text(c, NULL, 0);
		return;
	}
	if ((t = trpt_sql_textn(st, i, &n)) == NULL) {
		if (c->err.code == TRPT_OK)
			trpt_err_set(&c->err, TRPT_ENOMEM, "out of memory");
		return;
	}
	canon_text(c, t, n);
}

/* The digest of a copy stored before content_sha256 existed. */
static int
canon_stored(struct trpt_db *db, int64_t id, char sha[TRPT_SHA256_HEX_LEN],
    struct trpt_err *err)
{
	struct canon c;
	struct trpt_stmt *h, *p;
	int64_t idx = -1;
	int rc;

	canon_init(&c);
	if ((rc = trpt_sql_cached(db, sql_report_stored_head, &h, err)) !=
	    TRPT_OK)
		return rc;
	trpt_sql_bind_int(h, 1, id);
	if ((rc = trpt_sql_step(h, err)) > 0) {
		canon_tag(&c, 'R');
		canon_col(&c, h, 0);
		canon_col(&c, h, 1);
		canon_col(&c, h, 2);
		canon_int(&c, trpt_sql_int(h, 3));
		canon_int(&c, trpt_sql_int(h, 4));
		rc = TRPT_OK;
	} else if (rc == 0)
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: stored report %lld vanished",
		    trpt_db_path(db), (long long)id);
	trpt_sql_reset(h);
	if (rc != TRPT_OK)
		return rc;
	if ((rc = trpt_sql_cached(db, sql_report_stored_body, &p, err)) !=
	    TRPT_OK)
		return rc;
	trpt_sql_bind_int(p, 1, id);
	while ((rc = trpt_sql_step(p, err)) > 0 && c.err.code == TRPT_OK) {
		if (trpt_sql_int(p, 0) != idx) {
			idx = trpt_sql_int(p, 0);
			canon_tag(&c, 'P');
			canon_col(&c, p, 1);
			canon_col(&c, p, 2);
			canon_list_col(&c, p, 3);
			canon_list_col(&c, p, 4);
			canon_int(&c, trpt_sql_int(p, 5));
			canon_int(&c, trpt_sql_int(p, 6));
		}
		if (trpt_sql_is_null(p, 7))
			continue;
		canon_tag(&c, 'F');
		canon_col(&c, p, 8);
		canon_col(&c, p, 9);
		canon_col(&c, p, 10);
		canon_col(&c, p, 11);
		canon_col(&c, p, 12);
		canon_int(&c, trpt_sql_int(p, 13));
		canon_col(&c, p, 14);
		canon_col(&c, p, 15);
	}
	trpt_sql_reset(p);
	if (rc > 0)
		rc = TRPT_OK; /* stopped by c.err */
	if (rc == TRPT_OK)
		rc = canon_done(&c, sha, err);
	return rc;
}

/*
 * Fills content_sha256 of the copies of r that have none yet (stored
 * before the column existed, or before migration 0009).
 */
static int
digest_copies(
    struct trpt_db *db, const struct trpt_report *r, struct trpt_err *err)
{
	char sha[TRPT_SHA256_HEX_LEN];
	struct trpt_stmt *st;
	int64_t id = 0;
	int rc, found, n;

	for (n = 0; n <= TRPT_STORE_MAX_COPIES; n++) {
		if ((rc = trpt_sql_cached(
			 db, sql_report_undigested, &st, err)) != TRPT_OK)
			return rc;
		bind_key(st, 1, r);
		if ((rc = run_id(st, &id, &found, err)) != TRPT_OK)
			return rc;
		if (!found)
			return TRPT_OK;
		if ((rc = canon_stored(db, id, sha, err)) != TRPT_OK)
			return rc;
		if ((rc = trpt_sql_cached(
			 db, sql_report_set_digest, &st, err)) != TRPT_OK)
			return rc;
		trpt_sql_bind_text(st, 1, sha);
		trpt_sql_bind_int(st, 2, id);
		if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
			return rc;
	}
	return trpt_err_set(err, TRPT_EDB,
	    "database %s: more than %d copies without digest", trpt_db_path(db),
	    TRPT_STORE_MAX_COPIES);
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

/*
 * What a report needs that may fail because of the report itself, worked
 * out before anything is written: so that once the first row is in, only
 * the database can fail, and a report in a batch needs no savepoint.
 */
struct prep {
	int64_t ok, failed, day, received;
	char sha[TRPT_SHA256_HEX_LEN];     /* content, for copies */
	char raw_sha[TRPT_SHA256_HEX_LEN]; /* the input's bytes */
	size_t n;
	int64_t *dfailed;   /* per policy: failed sessions in its details */
	int64_t *policy_id; /* per policy: its id once inserted (in dfailed) */
	char **psj, **mxj;  /* per policy: its lists as JSON, or NULL */
	char (*mode)[32];   /* per policy: sts mode */
	const char **modep;
};

/* Bytes a policy takes in prep's block: dfailed, policy_id, psj, mxj,
 * modep, mode. */
#define PREP_PER_POLICY                                                        \
	(2 * sizeof(int64_t) + 3 * sizeof(char *) + sizeof(char[32]))

static void
prep_free(struct prep *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (p->psj != NULL)
			free(p->psj[i]);
		if (p->mxj != NULL)
			free(p->mxj[i]);
	}
	free(p->dfailed); /* the one block of prep_report */
	memset(p, 0, sizeof(*p));
}

static int
prep_report(const struct trpt_report *r, const struct trpt_raw *raw,
    struct prep *p, struct trpt_err *err)
{
	const struct trpt_policy *pol;
	int64_t s = 0, f = 0, sum, all;
	size_t i, j, n = r->npolicies;
	int rc;

	memset(p, 0, sizeof(*p));
	p->received = now_or(raw->origin->received);
	p->day = trpt_calendar_day(r->begin);
	p->n = n;
	/* The per-policy arrays in one block (one calloc and one free a
	 * report instead of five each), 8-byte members first. */
	if (n > 0 && (p->dfailed = calloc(n, PREP_PER_POLICY)) == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto fail;
	}
	if (n > 0) {
		p->policy_id = p->dfailed + n;
		p->psj = (char **)(p->policy_id + n);
		p->mxj = p->psj + n;
		p->modep = (const char **)(p->mxj + n);
		p->mode = (char(*)[32])(p->modep + n);
	}
	for (i = 0; i < n; i++) {
		pol = &r->policies[i];
		/* What the schema says NOT NULL (the validator sees to it). */
		if (pol->policy_type == NULL || pol->policy_domain == NULL) {
			rc = trpt_err_set(err, TRPT_EINVAL,
			    "policy %zu: no policy-type or policy-domain",
			    i + 1);
			goto fail;
		}
		for (j = 0; j < pol->nfailures; j++)
			if (pol->failures[j].result_type == NULL) {
				rc = trpt_err_set(err, TRPT_EINVAL,
				    "policy %zu: failure detail %zu: no "
				    "result-type",
				    i + 1, j + 1);
				goto fail;
			}
		/* The rollups add successful and failed sessions. */
		if (__builtin_add_overflow(s, pol->successful, &s) ||
		    __builtin_add_overflow(f, pol->failed, &f) ||
		    __builtin_add_overflow(s, f, &all)) {
			rc = trpt_err_set(err, TRPT_ELIMIT,
			    "session counts add up to more than 2^63");
			goto fail;
		}
		for (j = 0, sum = 0; j < pol->nfailures; j++)
			if (__builtin_add_overflow(sum,
				pol->failures[j].failed_session_count, &sum)) {
				rc = trpt_err_set(err, TRPT_ELIMIT,
				    "policy %zu: failure counts add up to "
				    "more than 2^63",
				    i + 1);
				goto fail;
			}
		p->dfailed[i] = sum;
		if ((rc = json_list(&pol->policy_strings, &p->psj[i], err)) !=
			TRPT_OK ||
		    (rc = json_list(&pol->mx_hosts, &p->mxj[i], err)) !=
			TRPT_OK)
			goto fail;
		p->modep[i] = sts_mode(pol, p->mode[i], sizeof(p->mode[i]));
	}
	for (i = 0; i < r->warnings.n; i++)
		if (r->warnings.v[i] == NULL) {
			rc = trpt_err_set(err, TRPT_EINVAL, "a NULL warning");
			goto fail;
		}
	p->ok = s;
	p->failed = f;
	if (raw->digests != NULL) {
		memcpy(p->sha, raw->digests->content_sha256, sizeof(p->sha));
		memcpy(p->raw_sha, raw->digests->sha256, sizeof(p->raw_sha));
	} else {
		if ((rc = trpt_store_content_digest(r, p->sha, err)) != TRPT_OK)
			goto fail;
		trpt_hash_sha256_hex(
		    raw->bytes != NULL ? raw->bytes : "", raw->len, p->raw_sha);
	}
	return TRPT_OK;
fail:
	prep_free(p);
	return rc;
}

/*
 * The id of the raw input whose digest is p->raw_sha (*found).  SQLite:
 * among the inputs that are not one report, from the rows sharing its
 * first RAW_PREFIX digits (almost always none or one); PostgreSQL: any.
 */
static int
raw_find(struct trpt_db *db, const struct prep *p, int64_t *id, int *found,
    struct trpt_err *err)
{
	struct trpt_stmt *st;
	const char *sha;
	int rc, pg = trpt_sql_dialect(db) == TRPT_SQL_PG;

	*found = 0;
	if ((rc = trpt_sql_cached(
		 db, pg ? sql_raw_id_pg : sql_raw_id, &st, err)) != TRPT_OK)
		return rc;
	if (pg)
		trpt_sql_bind_text(st, 1, p->raw_sha);
	else
		trpt_sql_bind_textn(st, 1, p->raw_sha, RAW_PREFIX);
	while ((rc = trpt_sql_step(st, err)) > 0) {
		sha = trpt_sql_text(st, 1);
		if (sha != NULL && strcmp(sha, p->raw_sha) == 0) {
			*id = trpt_sql_int(st, 0);
			*found = 1;
			break;
		}
	}
	trpt_sql_reset(st);
	return rc < 0 ? rc : TRPT_OK;
}

/*
 * The id of the raw_inputs row holding these bytes, inserted if new
 * (*inserted): several reports of one input share it.
 *
 * SQLite: no unique index on the digest is left to conflict (0021).  An
 * input that is not one report is looked up first (the batch's
 * transaction holds the write lock, so nobody can insert it between the
 * look-up and the insert).  An input that is one report
 * (TRPT_RAW_ONE_REPORT) is inserted without a look-up: if its bytes are
 * stored, so is its report, and store_or_count finds them through the
 * report's copies once the report's insert conflicts (raw_of_copies)
 * and takes this row back.
 * PostgreSQL keeps its unique constraint, which makes two writers storing
 * the same input at once wait for each other: there the insert comes
 * first (ON CONFLICT DO NOTHING, one round trip for a new input, as
 * before) and the look-up only after a conflict.
 */
static int
raw_row(struct trpt_db *db, const struct trpt_raw *raw, const struct prep *p,
    int64_t *id, int *inserted, struct trpt_err *err)
{
	const struct trpt_origin *o = raw->origin;
	const struct trpt_auth *a = raw->auth;
	struct trpt_stmt *st;
	int rc, found = 0, one = (raw->flags & TRPT_RAW_ONE_REPORT) != 0;

	*inserted = 0;
	if (trpt_sql_dialect(db) != TRPT_SQL_PG && !one &&
	    ((rc = raw_find(db, p, id, &found, err)) != TRPT_OK || found))
		return rc;
	if ((rc = insert_stmt(
		 db, sql_raw_insert, sql_raw_insert_ret, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, p->raw_sha);
	trpt_sql_bind_blob(
	    st, 2, raw->bytes != NULL ? raw->bytes : "", raw->len);
	trpt_sql_bind_int(st, 3, (int64_t)raw->len);
	trpt_sql_bind_text(st, 4, o->kind);
	trpt_sql_bind_text(st, 5, o->source);
	bind_opt(st, 6, o->message_id);
	bind_opt(st, 7, o->report_domain);
	bind_opt(st, 8, o->report_submitter);
	trpt_sql_bind_int(st, 9, p->received);
	bind_opt(st, 10, a != NULL ? a->dkim : NULL);
	bind_opt(st, 11, a != NULL ? a->dkim_reason : NULL);
	bind_opt(st, 12, a != NULL ? a->dkim_domain : NULL);
	bind_opt(st, 13, a != NULL ? a->dkim_selector : NULL);
	bind_opt(st, 14, a != NULL ? a->dkim_key_service : NULL);
	bind_opt(st, 15, o->client);
	trpt_sql_bind_int(st, 16, one);
	if ((rc = insert_run(st, id, inserted, err)) != TRPT_OK || *inserted)
		return rc;
	rc = raw_find(db, p, id, &found, err);
	if (rc == TRPT_OK && !found)
		rc = trpt_err_set(err, TRPT_ETEMP,
		    "database %s: raw input %s vanished (deleted meanwhile)",
		    trpt_db_path(db), p->raw_sha);
	return rc;
}

/*
 * SQLite, once r's first copy is found stored: the input of a stored copy
 * of r with these bytes (*found), which the row raw_row just inserted
 * gives way to.  An input that is one report is found only this way, and
 * any other is looked for too: stored before as one report and read now
 * as several (another version's reading of the same bytes), the stored
 * row joins the digest index, so that the input's next reports find it.
 */
static int
raw_of_copies(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_raw *raw, const struct prep *p, int64_t *id, int *found,
    struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc, one = 0;

	*found = 0;
	if ((rc = trpt_sql_cached(db, sql_raw_of_copies, &st, err)) != TRPT_OK)
		return rc;
	bind_key(st, 1, r);
	trpt_sql_bind_text(st, 4, p->raw_sha);
	if ((rc = trpt_sql_step(st, err)) > 0) {
		*id = trpt_sql_int(st, 0);
		one = trpt_sql_int(st, 1) != 0;
		*found = 1;
	}
	trpt_sql_reset(st);
	if (rc < 0)
		return rc;
	if (!*found || !one || (raw->flags & TRPT_RAW_ONE_REPORT))
		return TRPT_OK;
	if ((rc = trpt_sql_cached(db, sql_raw_not_one, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, *id);
	return trpt_sql_run(st, err);
}

/* Takes back a raw input row this report inserted and does not keep. */
static int
raw_drop(struct trpt_db *db, int64_t id, struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql_raw_delete, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, id);
	return trpt_sql_run(st, err);
}

static int
insert_policy(struct trpt_db *db, const struct trpt_report *r,
    const struct prep *p, size_t idx, int64_t report, int64_t *policy_id,
    struct trpt_err *err)
{
	const struct trpt_policy *pol = &r->policies[idx];
	struct trpt_stmt *st;
	int64_t id = 0;
	int rc, found;

	if ((rc = insert_stmt(db, sql_policy_insert, sql_policy_insert_ret, &st,
		 err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, report);
	trpt_sql_bind_int(st, 2, (int64_t)idx);
	trpt_sql_bind_int(st, 3, p->day);
	trpt_sql_bind_text(st, 4, pol->policy_type);
	trpt_sql_bind_text(st, 5, pol->policy_domain);
	trpt_sql_bind_text(st, 6, p->psj[idx]);
	trpt_sql_bind_text(st, 7, p->mxj[idx]);
	trpt_sql_bind_int(st, 8, pol->successful);
	trpt_sql_bind_int(st, 9, pol->failed);
	trpt_sql_bind_int(st, 10, p->dfailed[idx]);
	bind_opt(st, 11, p->modep[idx]);
	if ((rc = insert_run(st, &id, &found, err)) != TRPT_OK)
		return rc;
	*policy_id = id;
	return TRPT_OK;
}

/*
 * The failure details of r's policies, in their order (policy by policy,
 * detail by detail: the ids come out as one row a statement gave them),
 * several a statement; policy_ids[i] is the id of policy i.
 */
static int
insert_failures(struct trpt_db *db, const struct trpt_report *r,
    const int64_t *policy_ids, struct trpt_err *err)
{
	const struct trpt_failure *f;
	struct trpt_stmt *st = NULL;
	size_t i = 0, j = 0, left = 0, k, nrow = 0;
	int rc, at, lg, pg = trpt_sql_dialect(db) == TRPT_SQL_PG;

	for (k = 0; k < r->npolicies; k++)
		left += r->policies[k].nfailures;
	while (left > 0) {
		lg = left >= 8 ? 3 : left >= 4 ? 2 : left >= 2 ? 1 : 0;
		nrow = (size_t)1 << lg;
		if ((rc = trpt_sql_cached(
			 db, sql_failure_insert[pg][lg], &st, err)) != TRPT_OK)
			return rc;
		for (k = 0; k < nrow; k++, j++) {
			while (j >= r->policies[i].nfailures) {
				i++;
				j = 0;
			}
			f = &r->policies[i].failures[j];
			at = (int)(k * FAILURE_COLS);
			trpt_sql_bind_int(st, at + 1, policy_ids[i]);
			trpt_sql_bind_text(st, at + 2, f->result_type);
			bind_opt(st, at + 3, f->sending_mta_ip);
			bind_opt(st, at + 4, f->receiving_mx_hostname);
			bind_opt(st, at + 5, f->receiving_mx_helo);
			bind_opt(st, at + 6, f->receiving_ip);
			trpt_sql_bind_int(st, at + 7, f->failed_session_count);
			bind_opt(st, at + 8, f->failure_reason_code);
			bind_opt(st, at + 9, f->additional_information);
		}
		if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
			return rc;
		left -= nrow;
	}
	return TRPT_OK;
}

/*
 * SQLite: the policies and failure details of the reports stored in a
 * transaction wait here and go in as multi-row statements (up to 32 rows)
 * when it commits (trpt__store_flush from trpt_db_commit, before the
 * rollups, whose set-based path reads them), before the store reads a
 * stored copy back (store_or_count's conflict path), or once many wait.
 * A statement costs ~4,500 instructions and ~1.7 us besides its rows
 * (SQLite 3.40.1: 1 row a statement 10,700 instructions a row, 8 rows
 * 6,800; docs/PERFORMANCE.md, "Stop 26: serve, the committer"), and serve
 * stored each POST's policy and details with two of them.  The policies'
 * ids are given here as SQLite would give them (one more than the
 * largest, read once a transaction: the write lock keeps other writers
 * out), since the details and the caller need them before the rows are
 * in; the rows, their ids and their order are the same as before.  Each
 * string is copied (the report may be freed before the commit).  A
 * failure of the flush fails the transaction, as a failure of the
 * rollups does.  PostgreSQL inserts each row at once (RETURNING id from
 * its sequence).
 */
#define PEND_LG     5 /* 2^5 rows a statement at most */
#define PEND_FLUSH  256
#define PEND_TEXT   (1u << 20)
#define NOSTR       SIZE_MAX
#define PEND_FSTRS  7
#define POLICY_COLS 12

struct pend_policy {
	int64_t id, report, idx, day, ok, failed, dfailed;
	size_t type, domain, psj, mxj, mode; /* offsets in text, or NOSTR */
};

struct pend_failure {
	int64_t policy, count;
	size_t s[PEND_FSTRS]; /* result_type ... additional_information */
};

struct trpt__store_pending {
	int64_t next_policy; /* the next policy's id; 0: not read yet */
	int off;             /* this transaction stores row by row */
	struct pend_policy *pol;
	size_t npol, cappol;
	struct pend_failure *fail;
	size_t nfail, capfail;
	char *text;
	size_t tlen, tcap;
};

#define POLICY_HEAD                                                            \
	"INSERT OR FAIL INTO policies (id, report, idx, day, policy_type,"     \
	" policy_domain, policy_strings, mx_hosts, successful, failed,"        \
	" details_failed, sts_mode) VALUES "
#define POLICY_ROW    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define POLICY_ROWS2  POLICY_ROW ", " POLICY_ROW
#define POLICY_ROWS4  POLICY_ROWS2 ", " POLICY_ROWS2
#define POLICY_ROWS8  POLICY_ROWS4 ", " POLICY_ROWS4
#define POLICY_ROWS16 POLICY_ROWS8 ", " POLICY_ROWS8
#define POLICY_ROWS32 POLICY_ROWS16 ", " POLICY_ROWS16
static const char *const sql_pend_policy[PEND_LG + 1] = {
	POLICY_HEAD POLICY_ROW,
	POLICY_HEAD POLICY_ROWS2,
	POLICY_HEAD POLICY_ROWS4,
	POLICY_HEAD POLICY_ROWS8,
	POLICY_HEAD POLICY_ROWS16,
	POLICY_HEAD POLICY_ROWS32,
};
#define FAILURE_ROWS16 FAILURE_ROWS8 ", " FAILURE_ROWS8
#define FAILURE_ROWS32 FAILURE_ROWS16 ", " FAILURE_ROWS16
static const char *const sql_pend_failure[PEND_LG + 1] = {
	FAILURE_HEAD(" OR FAIL") FAILURE_ROW,
	FAILURE_HEAD(" OR FAIL") FAILURE_ROWS2,
	FAILURE_HEAD(" OR FAIL") FAILURE_ROWS4,
	FAILURE_HEAD(" OR FAIL") FAILURE_ROWS8,
	FAILURE_HEAD(" OR FAIL") FAILURE_ROWS16,
	FAILURE_HEAD(" OR FAIL") FAILURE_ROWS32,
};
static const char sql_policy_max[] =
    "SELECT coalesce(max(id), 0) FROM policies";

/* Whether this transaction defers r's child rows (SQLite), making the
 * pending set and reading the next policy id on first use. */
static int
pending_on(
    struct trpt_db *db, struct trpt__store_pending **out, struct trpt_err *err)
{
	struct trpt__store_pending *pd = db->pending;
	struct trpt_stmt *st;
	int64_t max = 0;
	int rc, found;

	*out = NULL;
	if (trpt_sql_dialect(db) != TRPT_SQL_SQLITE)
		return TRPT_OK;
	if (pd == NULL) {
		if ((pd = calloc(1, sizeof(*pd))) == NULL)
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		db->pending = pd;
	}
	if (pd->off)
		return TRPT_OK;
	if (pd->next_policy == 0) {
		if ((rc = trpt_sql_cached(db, sql_policy_max, &st, err)) !=
			TRPT_OK ||
		    (rc = run_id(st, &max, &found, err)) != TRPT_OK)
			return rc;
		/* Near the top SQLite picks ids at random: row by row. */
		if (max < 0 || max > INT64_MAX / 2) {
			pd->off = 1;
			return TRPT_OK;
		}
		pd->next_policy = max + 1;
	}
	*out = pd;
	return TRPT_OK;
}

/* The array v of n elements of size, grown to hold one more (v itself when
 * it has room), or NULL when out of memory (v is kept). */
static void *
pend_grow(void *v, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return v;
	ncap = *cap == 0 ? 64 : *cap * 2;
	if ((nv = realloc(v, ncap * size)) == NULL)
		return NULL;
	*cap = ncap;
	return nv;
}

/* A copy of s in the pending text: its offset, NOSTR for NULL. */
static int
pend_str(struct trpt__store_pending *pd, const char *s, size_t *off,
    struct trpt_err *err)
{
	size_t n, ncap;
	char *nt;

	*off = NOSTR;
	if (s == NULL)
		return TRPT_OK;
	n = strlen(s) + 1;
	if (n > pd->tcap - pd->tlen) {
		ncap = pd->tcap == 0 ? 4096 : pd->tcap;
		while (n > ncap - pd->tlen) {
			if (ncap > SIZE_MAX / 2)
				return trpt_err_set(
				    err, TRPT_ENOMEM, "out of memory");
			ncap *= 2;
		}
		if ((nt = realloc(pd->text, ncap)) == NULL)
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		pd->text = nt;
		pd->tcap = ncap;
	}
	memcpy(pd->text + pd->tlen, s, n);
	*off = pd->tlen;
	pd->tlen += n;
	return TRPT_OK;
}

static void
bind_pend(struct trpt_stmt *st, int i, const struct trpt__store_pending *pd,
    size_t off)
{
	if (off != NOSTR)
		trpt_sql_bind_text(st, i, pd->text + off);
}

/* The largest power of two up to 2^PEND_LG not above n (n > 0), as lg. */
static int
chunk_lg(size_t n)
{
	int lg = 0;

	while (lg < PEND_LG && ((size_t)2 << lg) <= n)
		lg++;
	return lg;
}

int
trpt__store_flush(struct trpt_db *db, struct trpt_err *err)
{
	struct trpt__store_pending *pd = db->pending;
	const struct pend_policy *y;
	const struct pend_failure *f;
	struct trpt_stmt *st;
	size_t i, k, nrow;
	int rc = TRPT_OK, at, lg, c;

	if (pd == NULL)
		return TRPT_OK;
	for (i = 0; i < pd->npol && rc == TRPT_OK; i += nrow) {
		lg = chunk_lg(pd->npol - i);
		nrow = (size_t)1 << lg;
		if ((rc = trpt_sql_cached(db, sql_pend_policy[lg], &st, err)) !=
		    TRPT_OK)
			break;
		for (k = 0; k < nrow; k++) {
			y = &pd->pol[i + k];
			at = (int)(k * POLICY_COLS);
			trpt_sql_bind_int(st, at + 1, y->id);
			trpt_sql_bind_int(st, at + 2, y->report);
			trpt_sql_bind_int(st, at + 3, y->idx);
			trpt_sql_bind_int(st, at + 4, y->day);
			bind_pend(st, at + 5, pd, y->type);
			bind_pend(st, at + 6, pd, y->domain);
			bind_pend(st, at + 7, pd, y->psj);
			bind_pend(st, at + 8, pd, y->mxj);
			trpt_sql_bind_int(st, at + 9, y->ok);
			trpt_sql_bind_int(st, at + 10, y->failed);
			trpt_sql_bind_int(st, at + 11, y->dfailed);
			bind_pend(st, at + 12, pd, y->mode);
		}
		rc = trpt_sql_run(st, err);
	}
	for (i = 0; i < pd->nfail && rc == TRPT_OK; i += nrow) {
		lg = chunk_lg(pd->nfail - i);
		nrow = (size_t)1 << lg;
		if ((rc = trpt_sql_cached(
			 db, sql_pend_failure[lg], &st, err)) != TRPT_OK)
			break;
		for (k = 0; k < nrow; k++) {
			f = &pd->fail[i + k];
			at = (int)(k * FAILURE_COLS);
			trpt_sql_bind_int(st, at + 1, f->policy);
			for (c = 0; c < 5; c++)
				bind_pend(st, at + 2 + c, pd, f->s[c]);
			trpt_sql_bind_int(st, at + 7, f->count);
			bind_pend(st, at + 8, pd, f->s[5]);
			bind_pend(st, at + 9, pd, f->s[6]);
		}
		rc = trpt_sql_run(st, err);
	}
	/* Gone in either case: on a failure the caller rolls back. */
	pd->npol = pd->nfail = pd->tlen = 0;
	if (rc != TRPT_OK)
		trpt_err_prefix(
		    err, "storing the policies and failure details");
	return rc;
}

void
trpt__store_discard(struct trpt_db *db)
{
	struct trpt__store_pending *pd = db->pending;

	if (pd == NULL)
		return;
	pd->npol = pd->nfail = pd->tlen = 0;
	pd->next_policy = 0;
	pd->off = 0;
}

void
trpt__store_free(struct trpt_db *db)
{
	struct trpt__store_pending *pd = db->pending;

	if (pd == NULL)
		return;
	free(pd->pol);
	free(pd->fail);
	free(pd->text);
	free(pd);
	db->pending = NULL;
}

/* Queues r's policies (report id rid) and failure details into pd; fills
 * p->policy_id. */
static int
defer_children(struct trpt_db *db, struct trpt__store_pending *pd,
    const struct trpt_report *r, const struct prep *p, int64_t rid,
    struct trpt_err *err)
{
	const struct trpt_policy *pol;
	const struct trpt_failure *fd;
	struct pend_policy *y;
	struct pend_failure *f;
	size_t i, j;
	int rc;

	for (i = 0; i < r->npolicies; i++) {
		pol = &r->policies[i];
		if ((y = pend_grow(pd->pol, &pd->cappol, pd->npol,
			 sizeof(*pd->pol))) == NULL)
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		pd->pol = y;
		y += pd->npol;
		y->id = pd->next_policy;
		y->report = rid;
		y->idx = (int64_t)i;
		y->day = p->day;
		y->ok = pol->successful;
		y->failed = pol->failed;
		y->dfailed = p->dfailed[i];
		if ((rc = pend_str(pd, pol->policy_type, &y->type, err)) !=
			TRPT_OK ||
		    (rc = pend_str(pd, pol->policy_domain, &y->domain, err)) !=
			TRPT_OK ||
		    (rc = pend_str(pd, p->psj[i], &y->psj, err)) != TRPT_OK ||
		    (rc = pend_str(pd, p->mxj[i], &y->mxj, err)) != TRPT_OK ||
		    (rc = pend_str(pd, p->modep[i], &y->mode, err)) != TRPT_OK)
			return rc;
		p->policy_id[i] = pd->next_policy++;
		pd->npol++;
		for (j = 0; j < pol->nfailures; j++) {
			fd = &pol->failures[j];
			if ((f = pend_grow(pd->fail, &pd->capfail, pd->nfail,
				 sizeof(*pd->fail))) == NULL)
				return trpt_err_set(
				    err, TRPT_ENOMEM, "out of memory");
			pd->fail = f;
			f += pd->nfail;
			f->policy = p->policy_id[i];
			f->count = fd->failed_session_count;
			if ((rc = pend_str(pd, fd->result_type, &f->s[0],
				 err)) != TRPT_OK ||
			    (rc = pend_str(pd, fd->sending_mta_ip, &f->s[1],
				 err)) != TRPT_OK ||
			    (rc = pend_str(pd, fd->receiving_mx_hostname,
				 &f->s[2], err)) != TRPT_OK ||
			    (rc = pend_str(pd, fd->receiving_mx_helo, &f->s[3],
				 err)) != TRPT_OK ||
			    (rc = pend_str(pd, fd->receiving_ip, &f->s[4],
				 err)) != TRPT_OK ||
			    (rc = pend_str(pd, fd->failure_reason_code,
				 &f->s[5], err)) != TRPT_OK ||
			    (rc = pend_str(pd, fd->additional_information,
				 &f->s[6], err)) != TRPT_OK)
				return rc;
			pd->nfail++;
			/* A report's details may be many: bounded memory. */
			if (pd->nfail >= 4 * PEND_FLUSH &&
			    (rc = trpt__store_flush(db, err)) != TRPT_OK)
				return rc;
		}
	}
	if (pd->npol >= PEND_FLUSH || pd->nfail >= 4 * PEND_FLUSH ||
	    pd->tlen >= PEND_TEXT)
		return trpt__store_flush(db, err);
	return TRPT_OK;
}

/*
 * Inserts r as copy `copy` unless that copy exists (*id 0), and then its
 * policies, failure details and warnings.
 */
static int
insert_report(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_raw *raw, const struct prep *p, int64_t copy,
    int64_t raw_id, int64_t *id, struct trpt_err *err)
{
	const struct trpt_auth *a = raw->auth;
	struct trpt__store_pending *pd;
	struct trpt_stmt *st;
	int64_t rid = 0;
	size_t i;
	int rc, found;

	*id = 0;
	if ((rc = insert_stmt(db, sql_report_insert, sql_report_insert_ret, &st,
		 err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, r->organization_name);
	trpt_sql_bind_text(st, 2, r->report_id);
	trpt_sql_bind_int(st, 3, copy);
	trpt_sql_bind_int(st, 4, copy == 0);
	trpt_sql_bind_text(st, 5, p->sha);
	bind_opt(st, 6, r->contact_info);
	trpt_sql_bind_int(st, 7, r->begin);
	trpt_sql_bind_int(st, 8, r->end);
	trpt_sql_bind_int(st, 9, p->day);
	trpt_sql_bind_int(st, 10, raw_id);
	trpt_sql_bind_int(st, 11, raw->part);
	trpt_sql_bind_int(st, 12, p->received);
	trpt_sql_bind_int(st, 13, p->received);
	trpt_sql_bind_int(st, 14, p->ok);
	trpt_sql_bind_int(st, 15, p->failed);
	bind_opt(st, 16, a != NULL ? a->dkim : NULL);
	bind_opt(st, 17, a != NULL ? a->dkim_reason : NULL);
	bind_opt(st, 18, a != NULL ? a->dkim_domain : NULL);
	bind_opt(st, 19, a != NULL ? a->dkim_selector : NULL);
	bind_opt(st, 20, a != NULL ? a->dkim_key_service : NULL);
	bind_opt(st, 21, a != NULL ? a->dkim_aligned : NULL);
	trpt_sql_bind_int(st, 22, a != NULL && a->accepted);
	if ((rc = insert_run(st, &rid, &found, err)) != TRPT_OK || !found)
		return rc;
	if ((rc = pending_on(db, &pd, err)) != TRPT_OK)
		return rc;
	if (pd != NULL) {
		if ((rc = defer_children(db, pd, r, p, rid, err)) != TRPT_OK)
			return rc;
		goto warnings;
	}
	for (i = 0; i < r->npolicies; i++)
		if ((rc = insert_policy(
			 db, r, p, i, rid, &p->policy_id[i], err)) != TRPT_OK)
			return rc;
	if ((rc = insert_failures(db, r, p->policy_id, err)) != TRPT_OK)
		return rc;
warnings:
	for (i = 0; i < r->warnings.n; i++) {
		if ((rc = trpt_sql_cached(db, sql_warning_insert, &st, err)) !=
		    TRPT_OK)
			return rc;
		trpt_sql_bind_int(st, 1, rid);
		trpt_sql_bind_text(st, 2, r->warnings.v[i]);
		if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
			return rc;
	}
	*id = rid;
	return TRPT_OK;
}

/* The copy of r with content digest sha, if one is stored. */
static int
same_copy(struct trpt_db *db, const struct trpt_report *r, const char *sha,
    int64_t *id, int *found, struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql_report_same, &st, err)) != TRPT_OK)
		return rc;
	bind_key(st, 1, r);
	trpt_sql_bind_text(st, 4, sha);
	return run_id(st, id, found, err);
}

/* How many copies of r are stored, and the highest copy number. */
static int
copies(struct trpt_db *db, const struct trpt_report *r, int64_t *n,
    int64_t *maxcopy, struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql_report_copies, &st, err)) != TRPT_OK)
		return rc;
	bind_key(st, 1, r);
	if ((rc = trpt_sql_step(st, err)) > 0) {
		*n = trpt_sql_int(st, 0);
		*maxcopy = trpt_sql_int(st, 1);
		rc = TRPT_OK;
	} else if (rc == 0)
		rc = trpt_err_set(
		    err, TRPT_EDB, "database %s: no count", trpt_db_path(db));
	trpt_sql_reset(st);
	return rc;
}

/* Counts a duplicate of copy `id` (seen_count moves by `add`). */
static int
mark_seen(
    struct trpt_db *db, int64_t id, int64_t seen, int add, struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql_report_seen, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, add);
	trpt_sql_bind_int(st, 2, seen);
	trpt_sql_bind_int(st, 3, seen);
	trpt_sql_bind_int(st, 4, id);
	return trpt_sql_run(st, err);
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
 * counted so far is not, the new copy becomes the one counted, and the
 * rollups move from the one to the other.  Both stay stored and flagged
 * as a conflict.  Rare, so the statements are prepared each time.
 */
static int
count_verified(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_auth *a, int64_t id, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int64_t old[TRPT_STORE_MAX_COPIES + 1];
	size_t n = 0, i;
	int rc, any_verified = 0;

	if (!verified(a))
		return TRPT_OK;
	if ((rc = trpt_sql_prepare(db, sql_counted_of, &st, err)) != TRPT_OK)
		return rc;
	bind_key(st, 1, r);
	while ((rc = trpt_sql_step(st, err)) > 0) {
		if (n < sizeof(old) / sizeof(old[0]))
			old[n++] = trpt_sql_int(st, 0);
		any_verified |= trpt_sql_int(st, 1) != 0;
	}
	trpt_sql_finalize(&st);
	if (rc < 0 || any_verified)
		return rc < 0 ? rc : TRPT_OK;
	if ((rc = trpt_sql_prepare(db, sql_count_only, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, id);
	bind_key(st, 2, r);
	rc = trpt_sql_run(st, err);
	trpt_sql_finalize(&st);
	for (i = 0; rc == TRPT_OK && i < n; i++)
		rc = trpt__rollup_add(db, old[i], -1, err);
	if (rc == TRPT_OK)
		rc = trpt__rollup_add(db, id, 1, err);
	return rc;
}

/*
 * Stores r, or counts it as a duplicate of the stored copy with the same
 * content, or keeps it as one more (conflicting) copy: see store.h.  On a
 * failure, *clean says whether what it wrote has been taken back (the
 * transaction can go on); else the caller rolls the transaction back.
 */
static int
store_or_count(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_raw *raw, const struct prep *p, int64_t *id, int *outcome,
    int *clean, struct trpt_err *err)
{
	struct trpt_stmt *st;
	int64_t raw_id = 0, n = 0, maxcopy = -1, stored = 0;
	int rc, raw_new = 0, found = 0, tries;

	*clean = 0;
	if ((rc = raw_row(db, raw, p, &raw_id, &raw_new, err)) != TRPT_OK)
		return rc;
	/* The first copy, unless the unique key says there is one. */
	if ((rc = insert_report(db, r, raw, p, 0, raw_id, id, err)) != TRPT_OK)
		return rc;
	if (*id != 0) {
		*outcome = TRPT_STORE_NEW;
		return trpt__rollup_add_report(
		    db, *id, r, p->day, p->dfailed, p->modep, err);
	}
	/* A copy is stored: what follows may read stored copies' rows
	 * back (their digests), so the deferred ones go in first. */
	if ((rc = trpt__store_flush(db, err)) != TRPT_OK)
		return rc;
	/* These bytes may be stored with a copy of r (SQLite: see
	 * raw_row; PostgreSQL's unique digest found them already). */
	if (raw_new && trpt_sql_dialect(db) != TRPT_SQL_PG) {
		if ((rc = raw_of_copies(db, r, raw, p, &stored, &found, err)) !=
		    TRPT_OK)
			return rc;
		if (found) {
			if ((rc = raw_drop(db, raw_id, err)) != TRPT_OK)
				return rc;
			raw_id = stored;
			raw_new = 0;
		}
	}
	/*
	 * Another copy is stored.  On PostgreSQL (READ COMMITTED) another
	 * collector may store a copy between the count below and the insert
	 * of the next number: the insert waits for its transaction and, once
	 * it committed, inserts nothing.  Each statement sees what committed
	 * before it, so looking again finds that copy (maybe this content)
	 * and the next free number.  SQLite's write lock keeps others out.
	 */
	for (tries = 0;; tries++) {
		if ((rc = same_copy(db, r, p->sha, id, &found, err)) != TRPT_OK)
			return rc;
		if (!found) {
			/* Copies stored before the digest existed get
			 * theirs. */
			if ((rc = copies(db, r, &n, &maxcopy, err)) !=
				TRPT_OK ||
			    (rc = digest_copies(db, r, err)) != TRPT_OK ||
			    (rc = same_copy(db, r, p->sha, id, &found, err)) !=
				TRPT_OK)
				return rc;
		}
		if (found || n >= TRPT_STORE_MAX_COPIES) {
			/* A duplicate keeps no bytes: they came with the
			 * copy. */
			if (raw_new &&
			    (rc = raw_drop(db, raw_id, err)) != TRPT_OK)
				return rc;
			if (!found) {
				*clean = 1;
				return trpt_err_set(err, TRPT_ELIMIT,
				    "more than %d different copies received",
				    TRPT_STORE_MAX_COPIES);
			}
			*outcome = TRPT_STORE_DUPLICATE;
			return mark_seen(db, *id, p->received,
			    (raw->flags & TRPT_RAW_REPROCESS) ? 0 : 1, err);
		}
		if ((rc = insert_report(db, r, raw, p, maxcopy + 1, raw_id, id,
			 err)) != TRPT_OK)
			return rc;
		if (*id != 0)
			break;
		if (tries >= TRPT_STORE_MAX_COPIES)
			return trpt_err_set(err, TRPT_ETEMP,
			    "database %s: other copies kept being stored "
			    "meanwhile",
			    trpt_db_path(db));
	}
	if ((rc = trpt_sql_cached(db, sql_report_conflict, &st, err)) !=
	    TRPT_OK)
		return rc;
	bind_key(st, 1, r);
	if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
		return rc;
	*outcome = TRPT_STORE_CONFLICT;
	return count_verified(db, r, raw->auth, *id, err);
}

/*
 * A report is atomic: in its own transaction, or inside one the caller
 * opened with trpt_store_begin.  There, a report refused for what it is
 * (TRPT_ELIMIT, TRPT_EINVAL) leaves the transaction as it was; a database
 * failure once its rows are going in rolls the whole transaction back
 * (trpt_store_commit then fails), which needs no savepoint per report.
 */
int
trpt_store_report(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_raw *raw, int *outcome, int64_t *report_rowid,
    struct trpt_err *err)
{
	struct prep p;
	int64_t id = 0;
	int rc, nested, clean = 1, outcome_v = TRPT_STORE_NEW;

	if ((rc = check_raw(raw, err)) != TRPT_OK)
		return rc;
	if (r == NULL || r->organization_name == NULL || r->report_id == NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "storing a report without organization-name or "
		    "report-id");
	if ((rc = prep_report(r, raw, &p, err)) != TRPT_OK) {
		trpt_err_prefix(err, "report %s from %s", r->report_id,
		    r->organization_name);
		return rc;
	}
	nested = trpt_db_in_transaction(db);
	if (!nested && (rc = trpt_db_begin(db, err)) != TRPT_OK)
		goto out;
	rc = store_or_count(db, r, raw, &p, &id, &outcome_v, &clean, err);
	if (rc == TRPT_OK && !nested)
		rc = trpt_db_commit(db, err);
	else if (rc != TRPT_OK && (!nested || !clean))
		trpt_db_rollback(db);
out:
	prep_free(&p);
	if (rc != TRPT_OK) {
		if (rc != TRPT_EINVAL)
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
	struct trpt_stmt *st;
	int rc, found = 0;

	trpt_hash_sha256_hex(
	    raw->bytes != NULL ? raw->bytes : "", raw->len, sha);
	if ((rc = insert_stmt(db, sql_quarantine_input_insert,
		 sql_quarantine_input_insert_ret, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, sha);
	trpt_sql_bind_blob(
	    st, 2, raw->bytes != NULL ? raw->bytes : "", raw->len);
	trpt_sql_bind_int(st, 3, (int64_t)raw->len);
	if ((rc = insert_run(st, id, &found, err)) != TRPT_OK || found)
		return rc;
	if ((rc = trpt_sql_cached(db, sql_quarantine_input_id, &st, err)) !=
	    TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, sha);
	rc = run_id(st, id, &found, err);
	if (rc == TRPT_OK && !found)
		rc = trpt_err_set(err, TRPT_ETEMP,
		    "database %s: quarantined input %s vanished",
		    trpt_db_path(db), sha);
	return rc;
}

int
trpt_store_quarantine(struct trpt_db *db, const struct trpt_raw *raw,
    const char *reason, struct trpt_err *err)
{
	const struct trpt_origin *o;
	struct trpt_stmt *st;
	int64_t input = 0, now;
	int rc, nested;

	if ((rc = check_raw(raw, err)) != TRPT_OK)
		return rc;
	o = raw->origin;
	now = now_or(o->received);
	/* Two statements: in a transaction of their own, or in the
	 * caller's, which a failure rolls back (as for a report). */
	nested = trpt_db_in_transaction(db);
	if (!nested && (rc = trpt_db_begin(db, err)) != TRPT_OK)
		goto out;
	if ((rc = quarantine_input(db, raw, &input, err)) != TRPT_OK)
		goto out;
	if ((rc = trpt_sql_cached(db, sql_quarantine_upsert, &st, err)) !=
	    TRPT_OK)
		goto out;
	trpt_sql_bind_int(st, 1, input);
	trpt_sql_bind_int(st, 2, raw->part);
	trpt_sql_bind_text(st, 3, o->kind);
	trpt_sql_bind_text(st, 4, o->source);
	trpt_sql_bind_text(st, 5, o->message_id);
	trpt_sql_bind_text(st, 6, o->report_domain);
	trpt_sql_bind_text(st, 7, o->report_submitter);
	trpt_sql_bind_text(st, 8, o->filename);
	trpt_sql_bind_text(st, 9, reason != NULL ? reason : "");
	trpt_sql_bind_int(st, 10, now);
	trpt_sql_bind_int(st, 11, now);
	if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
		goto out;
	if (!nested)
		rc = trpt_db_commit(db, err);
out:
	if (rc != TRPT_OK) {
		trpt_db_rollback(db);
		trpt_err_prefix(err, "%s part %d", o->source, raw->part);
	}
	return rc;
}

/* A copy of a text column, or NULL for SQL NULL. */
static int
column_dup(struct trpt_stmt *st, int i, char **out)
{
	const char *t;
	size_t n = 0;

	*out = NULL;
	if (trpt_sql_is_null(st, i))
		return TRPT_OK;
	if ((t = trpt_sql_textn(st, i, &n)) == NULL)
		return TRPT_ENOMEM;
	if ((*out = malloc(n + 1)) == NULL)
		return TRPT_ENOMEM;
	memcpy(*out, t, n);
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
	struct trpt_stmt *st;
	char **nr;
	int rc;

	if ((rc = trpt_sql_cached(db, sql_quarantine_parts, &st, err)) !=
	    TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, in->q.id);
	while ((rc = trpt_sql_step(st, err)) > 0) {
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
		in->parts[n].id = trpt_sql_int(st, 0);
		in->parts[n].part = (int)trpt_sql_int(st, 1);
		if (column_dup(st, 2, &in->reasons[n]) != TRPT_OK) {
			rc = nomem(db, in->q.id, err);
			goto out;
		}
		in->parts[n].reason =
		    in->reasons[n] != NULL ? in->reasons[n] : "";
		in->q.nparts = ++n;
		if (n > 1)
			continue;
		for (i = Q_KIND; i < Q_NTEXT; i++)
			if (column_dup(st, 3 + (int)i - Q_KIND,
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
		in->q.origin.received = trpt_sql_int(st, 9);
	}
	in->q.parts = in->parts;
out:
	trpt_sql_reset(st);
	return rc < 0 ? rc : TRPT_OK;
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
	struct trpt_stmt *st;
	const void *blob;
	size_t n = 0;
	int rc;

	if ((rc = trpt_sql_cached(db, sql_quarantine_next, &st, err)) !=
	    TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, after);
	if ((rc = trpt_sql_step(st, err)) <= 0) {
		*found = 0;
		trpt_sql_reset(st);
		return rc;
	}
	in->q.id = trpt_sql_int(st, 0);
	blob = trpt_sql_blob(st, 1, &n);
	in->bytes = malloc(n > 0 ? n : 1);
	if (in->bytes == NULL || (blob == NULL && n > 0)) {
		trpt_sql_reset(st);
		return nomem(db, in->q.id, err);
	}
	if (n > 0)
		memcpy(in->bytes, blob, n);
	in->q.bytes = in->bytes;
	in->q.len = n;
	trpt_sql_reset(st);
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
	struct trpt_stmt *st;
	struct qinput in;
	int64_t input = 0;
	int rc, found = 0;

	if ((rc = trpt_sql_cached(db, sql_quarantine_input_of, &st, err)) !=
	    TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, id);
	if ((rc = run_id(st, &input, &found, err)) != TRPT_OK)
		return rc;
	if (!found)
		return trpt_err_set(err, TRPT_ENOTFOUND,
		    "database %s: no quarantined input %lld", trpt_db_path(db),
		    (long long)id);
	memset(&in, 0, sizeof(in));
	found = 0;
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

/* One statement on a rejected part: TRPT_ENOTFOUND when there is none. */
static int
quarantine_row(struct trpt_db *db, const char *sql, int64_t id,
    const char *reason, struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return rc;
	if (reason != NULL) {
		trpt_sql_bind_text(st, 1, reason);
		trpt_sql_bind_int(st, 2, id);
	} else
		trpt_sql_bind_int(st, 1, id);
	if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
		return rc;
	if (trpt_sql_changes(st) == 0)
		return trpt_err_set(err, TRPT_ENOTFOUND,
		    "database %s: no quarantined input %lld", trpt_db_path(db),
		    (long long)id);
	return TRPT_OK;
}

int
trpt_store_quarantine_delete(
    struct trpt_db *db, int64_t id, struct trpt_err *err)
{
	return quarantine_row(db, sql_quarantine_delete, id, NULL, err);
}

int
trpt_store_quarantine_update(
    struct trpt_db *db, int64_t id, const char *reason, struct trpt_err *err)
{
	return quarantine_row(
	    db, sql_quarantine_update, id, reason != NULL ? reason : "", err);
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

int
trpt_store_retryable(struct trpt_db *db)
{
	return trpt_sql_dialect(db) == TRPT_SQL_PG && trpt__sql_pg_conflict(db);
}
