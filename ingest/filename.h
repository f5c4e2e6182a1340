#pragma once
/* RFC 8460 §5.1 report file names: sender!domain!begin!end[!id].json[.gz] */

#include <stddef.h>
#include <stdint.h>

struct trpt_filename {
	char sender[256];
	char domain[256];
	int64_t begin;
	int64_t end;
	char unique_id[128];
	int gzip;
};

/*
 * Parses the last path component of name.  Returns 1 and fills *out when
 * it follows the RFC 8460 pattern, 0 otherwise: the extension is "json" or
 * "json.gz" in any case; sender and domain are non-empty printable ASCII
 * without '!' that fit the fields, unique-id letters and digits; begin and end
 * are decimal digits that fit int64_t (their order is not checked).
 */
int trpt_filename_parse(const char *name, struct trpt_filename *out);
