/* Fuzz target: MIME extraction (libetpan) and mbox splitting. */

#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "fuzz/fuzz.h"
#include "ingest/mbox.h"
#include "ingest/mime.h"

static int
each(void *arg, int n, const char *msg, size_t len, int toobig)
{
	size_t *total = arg;

	(void)n;
	(void)toobig;
	if (msg == NULL && len > 0)
		abort();
	*total += len;
	return TRPT_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct trpt_mime_msg *msg = NULL;
	struct trpt_limits lim;
	struct trpt_err err;
	size_t i, total = 0;

	trpt_limits_default(&lim);
	lim.max_parts = 16;
	(void)trpt_mime_looks_like_message(s, size);
	if (trpt_mime_parse(s, size, &lim, &msg, &err) == TRPT_OK) {
		for (i = 0; i < msg->nparts; i++)
			if (msg->parts[i].data == NULL && msg->parts[i].len > 0)
				abort();
		if (msg->nparts > lim.max_parts)
			abort();
		trpt_mime_free(&msg);
	}
	if (trpt_mbox_looks_like(s, size))
		(void)trpt_mbox_each(s, size, 4096, each, &total, &err);
	return 0;
}
