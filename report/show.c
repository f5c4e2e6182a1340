#include "report/show.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/datetime.h"

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
print_dkim(const struct trpt_report_detail *s, FILE *out)
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
trpt_show_print(
    const struct trpt_report_detail *s, FILE *out, struct trpt_err *err)
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
		const struct trpt_report_detail_policy *p = &s->policies[i];

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
