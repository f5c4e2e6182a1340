#include "report/show.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/datetime.h"

static const char sql_report[] =
    "SELECT r.id, r.organization_name, r.report_id, r.contact_info,"
    " r.begin_ts, r.end_ts, r.received_at, r.last_seen_at, r.seen_count,"
    " r.total_successful, r.total_failed, r.dkim, r.dkim_reason,"
    " r.dkim_domain, r.dkim_selector, r.dkim_key_service, r.dkim_aligned,"
    " r.dkim_accepted, r.raw_id, r.part, i.size, i.sha256, i.source_kind,"
    " i.source, i.message_id, i.report_domain, i.report_submitter, i.client,"
    " i.dkim, i.dkim_domain, r.copy, r.conflict, r.counted,"
    " (SELECT count(*) FROM reports o WHERE o.organization_name ="
    " r.organization_name AND o.report_id = r.report_id)"
    " FROM reports r JOIN raw_inputs i ON i.id = r.raw_id WHERE r.id = ?1";
static const char sql_policies[] =
    "SELECT p.policy_type, p.policy_domain, p.successful, p.failed,"
    " (SELECT count(*) FROM failures f WHERE f.policy = p.id)"
    " FROM policies p WHERE p.report = ?1 ORDER BY p.idx";
static const char sql_warnings[] =
    "SELECT message FROM warnings WHERE report = ?1 ORDER BY id";

/* A copy of a text column, or NULL for SQL NULL; -1 out of memory. */
static int
col(sqlite3_stmt *st, int i, char **out)
{
	const unsigned char *t;

	*out = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return 0;
	t = sqlite3_column_text(st, i);
	if (t == NULL || (*out = strdup((const char *)t)) == NULL)
		return -1;
	return 0;
}

void
trpt_show_free(struct trpt_show **sp)
{
	struct trpt_show *s;
	size_t i;

	if (sp == NULL || *sp == NULL)
		return;
	s = *sp;
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
	*sp = NULL;
}

static int
load_report(sqlite3_stmt *st, struct trpt_show *s)
{
	int bad = 0;

	s->id = sqlite3_column_int64(st, 0);
	bad |= col(st, 1, &s->org);
	bad |= col(st, 2, &s->report_id);
	bad |= col(st, 3, &s->contact_info);
	s->begin = sqlite3_column_int64(st, 4);
	s->end = sqlite3_column_int64(st, 5);
	s->received = sqlite3_column_int64(st, 6);
	s->last_seen = sqlite3_column_int64(st, 7);
	s->seen_count = sqlite3_column_int64(st, 8);
	s->successful = sqlite3_column_int64(st, 9);
	s->failed = sqlite3_column_int64(st, 10);
	bad |= col(st, 11, &s->dkim);
	bad |= col(st, 12, &s->dkim_reason);
	bad |= col(st, 13, &s->dkim_domain);
	bad |= col(st, 14, &s->dkim_selector);
	bad |= col(st, 15, &s->dkim_key_service);
	bad |= col(st, 16, &s->dkim_aligned);
	s->dkim_accepted = sqlite3_column_int(st, 17);
	s->raw_id = sqlite3_column_int64(st, 18);
	s->part = sqlite3_column_int(st, 19);
	s->raw_size = sqlite3_column_int64(st, 20);
	bad |= col(st, 21, &s->sha256);
	bad |= col(st, 22, &s->source_kind);
	bad |= col(st, 23, &s->source);
	bad |= col(st, 24, &s->message_id);
	bad |= col(st, 25, &s->report_domain);
	bad |= col(st, 26, &s->report_submitter);
	bad |= col(st, 27, &s->client);
	bad |= col(st, 28, &s->raw_dkim);
	bad |= col(st, 29, &s->raw_dkim_domain);
	s->copy = sqlite3_column_int64(st, 30);
	s->conflict = sqlite3_column_int(st, 31);
	s->counted = sqlite3_column_int(st, 32);
	s->ncopies = sqlite3_column_int64(st, 33);
	return bad ? -1 : 0;
}

static int
load_policies(sqlite3_stmt *st, struct trpt_show *s)
{
	struct trpt_show_policy *np;
	int src;

	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		np = realloc(s->policies, (s->npolicies + 1) * sizeof(*np));
		if (np == NULL)
			return SQLITE_NOMEM;
		s->policies = np;
		np = &np[s->npolicies++];
		memset(np, 0, sizeof(*np));
		if (col(st, 0, &np->type) != 0 || col(st, 1, &np->domain) != 0)
			return SQLITE_NOMEM;
		np->successful = sqlite3_column_int64(st, 2);
		np->failed = sqlite3_column_int64(st, 3);
		np->details = sqlite3_column_int64(st, 4);
	}
	return src;
}

static int
load_warnings(sqlite3_stmt *st, struct trpt_show *s)
{
	char **nw;
	int src;

	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		nw = realloc(s->warnings, (s->nwarnings + 1) * sizeof(*nw));
		if (nw == NULL)
			return SQLITE_NOMEM;
		s->warnings = nw;
		if (col(st, 0, &nw[s->nwarnings]) != 0)
			return SQLITE_NOMEM;
		s->nwarnings++;
	}
	return src;
}

int
trpt_show_load(struct trpt_db *db, int64_t id, struct trpt_show **out,
    struct trpt_err *err)
{
	sqlite3 *h = trpt_db_handle(db);
	sqlite3_stmt *st = NULL;
	struct trpt_show *s;
	int src, rc = TRPT_OK;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	if ((src = sqlite3_prepare_v2(h, sql_report, -1, &st, NULL)) !=
	    SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		rc = trpt_err_set(err, TRPT_ENOTFOUND,
		    "database %s: no report %" PRId64, trpt_db_path(db), id);
		goto out;
	}
	if (src != SQLITE_ROW)
		goto dberr;
	if (load_report(st, s) != 0) {
		src = SQLITE_NOMEM;
		goto dberr;
	}
	sqlite3_finalize(st);
	if ((src = sqlite3_prepare_v2(h, sql_policies, -1, &st, NULL)) !=
	    SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, id);
	if ((src = load_policies(st, s)) != SQLITE_DONE)
		goto dberr;
	sqlite3_finalize(st);
	if ((src = sqlite3_prepare_v2(h, sql_warnings, -1, &st, NULL)) !=
	    SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, id);
	if ((src = load_warnings(st, s)) != SQLITE_DONE)
		goto dberr;
	*out = s;
	s = NULL;
	goto out;
dberr:
	rc = trpt_err_set(err,
	    src == SQLITE_NOMEM           ? TRPT_ENOMEM
	    : (src & 0xff) == SQLITE_BUSY ? TRPT_ETEMP
					  : TRPT_EDB,
	    "database %s: report %" PRId64 ": %s", trpt_db_path(db), id,
	    src == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(h));
out:
	sqlite3_finalize(st);
	trpt_show_free(&s);
	return rc;
}

/* Text from a stranger, for a terminal: control characters as \xNN. */
static void
put(FILE *out, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		fputs("-", out);
		return;
	}
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
}

static void
field(FILE *out, const char *name, const char *value)
{
	fprintf(out, "%-18s", name);
	put(out, value);
	fputc('\n', out);
}

static void
print_dkim(const struct trpt_show *s, FILE *out)
{
	fprintf(out, "%-18s", "dkim");
	if (s->dkim == NULL) {
		if (s->client != NULL) {
			fputs("not applicable (HTTPS POST from ", out);
			put(out, s->client);
			fputs(")\n", out);
		} else
			fputs("not verified\n", out);
		return;
	}
	put(out, s->dkim);
	if (s->dkim_domain != NULL) {
		fputs(" d=", out);
		put(out, s->dkim_domain);
		fputs(" s=", out);
		put(out, s->dkim_selector);
		fputs("; aligned: ", out);
		put(out, s->dkim_aligned);
		fputs("; key service: ", out);
		if (s->dkim_key_service == NULL ||
		    s->dkim_key_service[0] == '\0')
			fputs("none given (all)", out);
		else {
			fputs("s=", out);
			put(out, s->dkim_key_service);
		}
	}
	fputc('\n', out);
	if (s->dkim_reason != NULL)
		field(out, "dkim reason", s->dkim_reason);
	if (s->dkim_accepted)
		field(out, "dkim release",
		    "stored by an operator (reprocess --accept-unsigned)");
}

int
trpt_show_print(const struct trpt_show *s, FILE *out, struct trpt_err *err)
{
	char a[32], b[32];
	size_t i;

	fprintf(out, "%-18s%" PRId64 "\n", "report", s->id);
	field(out, "organization", s->org);
	field(out, "report-id", s->report_id);
	field(out, "contact-info", s->contact_info);
	trpt_datetime_format(s->begin, a, sizeof(a));
	trpt_datetime_format(s->end, b, sizeof(b));
	fprintf(out, "%-18s%s .. %s\n", "date-range", a, b);
	fprintf(out,
	    "%-18s%" PRId64 " successful, %" PRId64 " failed sessions\n",
	    "totals", s->successful, s->failed);
	trpt_datetime_format(s->received, a, sizeof(a));
	fprintf(out, "%-18s%s", "received", a);
	if (s->seen_count > 1) {
		trpt_datetime_format(s->last_seen, b, sizeof(b));
		fprintf(
		    out, " (%" PRId64 " copies, last %s)", s->seen_count, b);
	}
	fputc('\n', out);
	if (s->conflict)
		fprintf(out,
		    "%-18scopy %" PRId64 " of %" PRId64 " conflicting copies "
		    "(different contents under one report-id); %s\n",
		    "conflict", s->copy + 1, s->ncopies,
		    s->counted ? "this one is counted"
			       : "another one is counted");
	print_dkim(s, out);
	fprintf(out, "%-18s#%" PRId64 " part %d, %" PRId64 " bytes, sha256 ",
	    "input", s->raw_id, s->part, s->raw_size);
	put(out, s->sha256);
	fputc('\n', out);
	fprintf(out, "%-18s", "source");
	put(out, s->source_kind);
	fputc(' ', out);
	put(out, s->source);
	fputc('\n', out);
	if (s->client != NULL)
		field(out, "client", s->client);
	if (s->message_id != NULL)
		field(out, "message-id", s->message_id);
	if (s->report_submitter != NULL)
		field(out, "submitter", s->report_submitter);
	if (s->report_domain != NULL)
		field(out, "report-domain", s->report_domain);
	if (s->raw_dkim != NULL) {
		fprintf(out, "%-18s", "input dkim");
		put(out, s->raw_dkim);
		if (s->raw_dkim_domain != NULL) {
			fputs(" d=", out);
			put(out, s->raw_dkim_domain);
		}
		fputc('\n', out);
	}
	fprintf(out, "policies\n  %-16s %-30s %10s %8s %8s\n", "TYPE", "DOMAIN",
	    "SUCCESSFUL", "FAILED", "DETAILS");
	for (i = 0; i < s->npolicies; i++) {
		const struct trpt_show_policy *p = &s->policies[i];

		fputs("  ", out);
		put(out, p->type);
		fprintf(out, "%*s ",
		    (int)(p->type != NULL && strlen(p->type) < 16
			      ? 16 - strlen(p->type)
			      : 0),
		    "");
		put(out, p->domain[0] != '\0' ? p->domain : "(unknown)");
		fprintf(out, "%*s %10" PRId64 " %8" PRId64 " %8" PRId64 "\n",
		    (int)(strlen(p->domain) < 30 ? 30 - strlen(p->domain) : 0),
		    "", p->successful, p->failed, p->details);
	}
	if (s->nwarnings > 0) {
		fputs("warnings\n", out);
		for (i = 0; i < s->nwarnings; i++) {
			fputs("  - ", out);
			put(out, s->warnings[i]);
			fputc('\n', out);
		}
	}
	if (fflush(out) != 0 || ferror(out))
		return trpt_err_set(
		    err, TRPT_EIO, "report %" PRId64 ": write error", s->id);
	return TRPT_OK;
}
