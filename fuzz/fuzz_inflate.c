/* Fuzz target: gzip decoding with a cap on the output. */

#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "ingest/inflate.h"

#define CAP (1024u * 1024)

/* One inflater for every input, as a reading thread keeps it. */
static struct trpt_inflater *kept;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trpt_err err, err2;
	char *out = NULL, *out2 = NULL;
	size_t len = 0, len2 = 0, work = 0, work2 = 0;
	int rc, rc2, owned = 0;

	(void)trpt_inflate_is_gzip(data, size);
	rc = trpt_inflate_gzip_work(data, size, CAP, &out, &len, &work, &err);
	if (rc == TRPT_OK) {
		if (out == NULL || len > CAP || out[len] != '\0')
			abort(); /* NUL-terminated, within the cap */
	} else if (err.msg[0] == '\0')
		abort();
	/* The kept buffer gives the same outcome, bytes and count. */
	if (kept == NULL && trpt_inflater_new(&kept, &err2) != TRPT_OK)
		abort();
	rc2 = trpt_inflater_gzip_reuse(
	    kept, data, size, CAP, &out2, &len2, &owned, &work2, &err2);
	if (rc2 != rc || work2 != work)
		abort();
	if (rc == TRPT_OK && (len2 != len || memcmp(out, out2, len + 1) != 0))
		abort();
	if (rc != TRPT_OK && strcmp(err.msg, err2.msg) != 0)
		abort();
	if (rc == TRPT_OK && owned)
		free(out2);
	free(out);
	return 0;
}
