/* Fuzz target: JSON report validation (jansson into struct trpt_report). */

#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "fuzz/fuzz.h"
#include "ingest/validate.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trpt_validate_ctx ctx = { "fallback.example", NULL };
	struct trpt_report *r = NULL;
	struct trpt_limits lim;
	struct trpt_err err;

	trpt_limits_default(&lim);
	/* Small caps, so that the limits themselves are reached. */
	lim.max_policies = 64;
	lim.max_failures = 256;
	if (size > 0 && (data[0] & 1))
		ctx.filename =
		    "google.com!example.com!1795132800!1795219199!001.json";
	if (trpt_validate_json(
		(const char *)data, size, &lim, &ctx, &r, &err) == TRPT_OK) {
		if (r->organization_name == NULL || r->report_id == NULL ||
		    r->begin > r->end)
			abort(); /* the contract of a valid report */
		trpt_report_free(&r);
	} else if (err.msg[0] == '\0' ||
		   memchr(err.msg, '\0', sizeof(err.msg)) == NULL)
		abort(); /* every rejection has a message */
	return 0;
}
