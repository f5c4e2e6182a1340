/* Fuzz target: gzip decoding with a cap on the output. */

#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "ingest/inflate.h"

#define CAP (1024u * 1024)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trpt_err err;
	char *out = NULL;
	size_t len = 0;
	int rc;

	(void)trpt_inflate_is_gzip(data, size);
	rc = trpt_inflate_gzip(data, size, CAP, &out, &len, &err);
	if (rc == TRPT_OK) {
		if (out == NULL || len > CAP || out[len] != '\0')
			abort(); /* NUL-terminated, within the cap */
		free(out);
	} else if (err.msg[0] == '\0')
		abort();
	return 0;
}
