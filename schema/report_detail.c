#include "schema/report_detail.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "schema/db.h"
#include "schema/sql.h"

static const char sql_report[] =
    "SELECT r.id, r.organization_name, r.report_id, r.contact_info,"
    " r.begin_ts, r.end_ts, r.received_at, r.last_seen_at, r.seen_count,"
    " r.total_successful, r.total_failed, r.dkim, r.dkim_reason,"
    " r.dkim_domain, r.dkim_selector, r.dkim_key_service, r.dkim_aligned,"
    " r.dkim_accepted, r.raw_id, r.part, i.size, i.sha256, i.source_kind,"
    " i.source, i.message_id, i.report_domain, i.report_submitter, i.client,"
    " i.dkim, i.dkim_domain, r.copy, r.conflict, r.counted,"
    " (SELECT count(*) FROM reports o WHERE o.organization_name ="
    " r.organization_name AND o.report_id = r.report_id AND"
    " o.begin_ts = r.begin_ts)"
    " FROM reports r JOIN raw_inputs i ON i.id = r.raw_id WHERE r.id = ?";
static const char sql_policies[] =
    "SELECT p.policy_type, p.policy_domain, p.successful, p.failed,"
    " (SELECT count(*) FROM failures f WHERE f.policy = p.id)"
    " FROM policies p WHERE p.report = ? ORDER BY p.idx";
static const char sql_warnings[] =
    "SELECT message FROM warnings WHERE report = ? ORDER BY id";

/* A copy of a text column, or NULL for SQL NULL; -1 out of memory. */
static int
col(struct trpt_stmt *st, int i, char **out)
{
	const char *t;

	*out = NULL;
	if (trpt_sql_is_null(st, i))
		return 0;
	t = trpt_sql_text(st, i);
	if (t == NULL || (*out = strdup(t)) == NULL)
		return -1;
	return 0;
}

void
trpt_report_detail_free(struct trpt_report_detail **dp)
{
	struct trpt_report_detail *s;
	size_t i;

	if (dp == NULL || *dp == NULL)
		return;
	s = *dp;
	char **strs[] = { &s->org, &s->report_id, &s->contact_info, &s->dkim,
		&s->dkim_reason, &s->dkim_domain, &s->dkim_selector,
		&s->dkim_key_service, &s->dkim_aligned, &s->sha256,
		&s->source_kind, &s->source, &s->message_id, &s->report_domain,
		&s->report_submitter, &s->client, &s->raw_dkim,
		&s->raw_dkim_domain };
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	for (i = 0; i < s->npolicies; i++) {
		free(s->policies[i].type);
		free(s->policies[i].domain);
	}
	free(s->policies);
	for (i = 0; i < s->nwarnings; i++)
		free(s->warnings[i]);
	free(s->warnings);
	free(s);
	*dp = NULL;
}

static int
load_report(struct trpt_stmt *st, struct trpt_report_detail *s)
{
	int bad = 0;

	s->id = trpt_sql_int(st, 0);
	bad |= col(st, 1, &s->org);
	bad |= col(st, 2, &s->report_id);
	bad |= col(st, 3, &s->contact_info);
	s->begin = trpt_sql_int(st, 4);
	s->end = trpt_sql_int(st, 5);
	s->received = trpt_sql_int(st, 6);
	s->last_seen = trpt_sql_int(st, 7);
	s->seen_count = trpt_sql_int(st, 8);
	s->successful = trpt_sql_int(st, 9);
	s->failed = trpt_sql_int(st, 10);
	bad |= col(st, 11, &s->dkim);
	bad |= col(st, 12, &s->dkim_reason);
	bad |= col(st, 13, &s->dkim_domain);
	bad |= col(st, 14, &s->dkim_selector);
	bad |= col(st, 15, &s->dkim_key_service);
	bad |= col(st, 16, &s->dkim_aligned);
	s->dkim_accepted = (int)trpt_sql_int(st, 17);
	s->raw_id = trpt_sql_int(st, 18);
	s->part = (int)trpt_sql_int(st, 19);
	s->raw_size = trpt_sql_int(st, 20);
	bad |= col(st, 21, &s->sha256);
	bad |= col(st, 22, &s->source_kind);
	bad |= col(st, 23, &s->source);
	bad |= col(st, 24, &s->message_id);
	bad |= col(st, 25, &s->report_domain);
	bad |= col(st, 26, &s->report_submitter);
	bad |= col(st, 27, &s->client);
	bad |= col(st, 28, &s->raw_dkim);
	bad |= col(st, 29, &s->raw_dkim_domain);
	s->copy = trpt_sql_int(st, 30);
	s->conflict = (int)trpt_sql_int(st, 31);
	s->counted = (int)trpt_sql_int(st, 32);
	s->ncopies = trpt_sql_int(st, 33);
	return bad ? -1 : 0;
}

static int
load_policy(struct trpt_stmt *st, struct trpt_report_detail *s)
{
	struct trpt_report_detail_policy *np;

	np = realloc(s->policies, (s->npolicies + 1) * sizeof(*np));
	if (np == NULL)
		return -1;
	s->policies = np;
	np = &np[s->npolicies++];
	memset(np, 0, sizeof(*np));
	if (col(st, 0, &np->type) != 0 || col(st, 1, &np->domain) != 0)
		return -1;
	np->successful = trpt_sql_int(st, 2);
	np->failed = trpt_sql_int(st, 3);
	np->details = trpt_sql_int(st, 4);
	return 0;
}

static int
load_warning(struct trpt_stmt *st, struct trpt_report_detail *s)
{
	char **nw;

	nw = realloc(s->warnings, (s->nwarnings + 1) * sizeof(*nw));
	if (nw == NULL)
		return -1;
	s->warnings = nw;
	if (col(st, 0, &nw[s->nwarnings]) != 0)
		return -1;
	s->nwarnings++;
	return 0;
}

/* Runs sql for report id, each row into s with row(). */
static int
load_rows(struct trpt_db *db, const char *sql, int64_t id,
    int (*row)(struct trpt_stmt *st, struct trpt_report_detail *s),
    struct trpt_report_detail *s, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	if ((rc = trpt_sql_prepare(db, sql, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, id);
	while ((rc = trpt_sql_step(st, err)) == 1)
		if (row(st, s) != 0) {
			rc = trpt_err_set(err, TRPT_ENOMEM,
			    "database %s: report %" PRId64 ": out of memory",
			    trpt_db_path(db), id);
			break;
		}
	trpt_sql_finalize(&st);
	return rc;
}

int
trpt_report_detail_load(struct trpt_db *db, int64_t id,
    struct trpt_report_detail **out, struct trpt_err *err)
{
	struct trpt_report_detail *s;
	struct trpt_stmt *st = NULL;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	if ((rc = trpt_sql_prepare(db, sql_report, &st, err)) != TRPT_OK)
		goto out;
	trpt_sql_bind_int(st, 1, id);
	rc = trpt_sql_step(st, err);
	if (rc == 0) {
		rc = trpt_err_set(err, TRPT_ENOTFOUND,
		    "database %s: no report %" PRId64, trpt_db_path(db), id);
		goto out;
	}
	if (rc < 0)
		goto out;
	if (load_report(st, s) != 0) {
		rc = trpt_err_set(err, TRPT_ENOMEM,
		    "database %s: report %" PRId64 ": out of memory",
		    trpt_db_path(db), id);
		goto out;
	}
	trpt_sql_finalize(&st);
	if ((rc = load_rows(db, sql_policies, id, load_policy, s, err)) < 0 ||
	    (rc = load_rows(db, sql_warnings, id, load_warning, s, err)) < 0)
		goto out;
	*out = s;
	s = NULL;
	rc = TRPT_OK;
out:
	trpt_sql_finalize(&st);
	trpt_report_detail_free(&s);
	return rc;
}
