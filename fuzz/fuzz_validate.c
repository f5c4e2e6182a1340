/* Fuzz target: JSON report validation (jansson into struct trpt_report). */

#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "fuzz/fuzz.h"
#include "ingest/validate.h"

enum { PAD = 64 * 1024 };

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The same report (both NULL: both refused). */
static int
same(const struct trpt_report *a, const struct trpt_report *b)
{
	size_t i, j;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->npolicies != b->npolicies || a->warnings.n != b->warnings.n ||
	    !same_str(a->report_id, b->report_id))
		return 0;
	for (i = 0; i < a->warnings.n; i++)
		if (!same_str(a->warnings.v[i], b->warnings.v[i]))
			return 0;
	for (i = 0; i < a->npolicies; i++) {
		const struct trpt_policy *p = &a->policies[i],
					 *q = &b->policies[i];

		if (p->nfailures != q->nfailures ||
		    !same_str(p->policy_domain, q->policy_domain))
			return 0;
		for (j = 0; j < p->nfailures; j++)
			if (!same_str(p->failures[j].result_type,
				q->failures[j].result_type) ||
			    !same_str(p->failures[j].sending_mta_ip,
				q->failures[j].sending_mta_ip) ||
			    p->failures[j].failed_session_count !=
				q->failures[j].failed_session_count)
				return 0;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trpt_validate_ctx ctx = { "fallback.example", NULL };
	struct trpt_report *r = NULL, *s = NULL;
	struct trpt_limits lim;
	struct trpt_err err;
	char *pad;
	int rc;

	trpt_validate_init(); /* jansson's arena, as in the program */
	trpt_limits_default(&lim);
	/* Small caps, so that the limits themselves are reached. */
	lim.max_policies = 64;
	lim.max_failures = 256;
	if (size > 0 && (data[0] & 1))
		ctx.filename =
		    "google.com!example.com!1795132800!1795219199!001.json";
	rc = trpt_validate_json((const char *)data, size, &lim, &ctx, &r, &err);
	if (rc == TRPT_OK) {
		if (r->organization_name == NULL || r->report_id == NULL ||
		    r->begin > r->end)
			abort(); /* the contract of a valid report */
	} else if (err.msg[0] == '\0' ||
		   memchr(err.msg, '\0', sizeof(err.msg)) == NULL)
		abort(); /* every rejection has a message */
	/* From 64 KiB on the failure details are streamed: the same text
	 * after 64 KiB of spaces must give the same outcome and report. */
	if (size < 4096 && (size == 0 || data[0] != 0xef) &&
	    (pad = malloc(PAD + size + 1)) != NULL) {
		memset(pad, ' ', PAD);
		if (size > 0)
			memcpy(pad + PAD, data, size);
		if (trpt_validate_json(pad, PAD + size, &lim, &ctx, &s, &err) !=
			rc ||
		    !same(r, s))
			abort();
		trpt_report_free(&s);
		free(pad);
	}
	trpt_report_free(&r);
	return 0;
}
