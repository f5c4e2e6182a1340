#pragma once
/*
 * Fetches an MTA-STS policy as RFC 8461 §3.3 tells senders to: HTTPS GET
 * of https://mta-sts.DOMAIN/.well-known/mta-sts.txt with the certificate
 * verified against the host name, no redirects, a size cap and a
 * deadline.  The host is connected at the addresses given (resolved by
 * the caller with DNSSEC, so curl never resolves names itself), at port
 * 443 unless the tests say otherwise.
 */

#include <stddef.h>

#include "common/err.h"

struct trpt_stsfetch {
	const char *host;         /* mta-sts.DOMAIN (A-labels) */
	unsigned port;            /* 0: 443 */
	const char *const *addrs; /* textual addresses of host */
	size_t naddrs;
	const char *cafile;  /* NULL: the system's trust store */
	unsigned timeout_ms; /* whole transfer */
	size_t max_body;     /* bytes */
};

enum trpt_stsfetch_fail {
	TRPT_STSFETCH_OK = 0,
	TRPT_STSFETCH_ERROR = 1,  /* not reachable, not 200, too big... */
	TRPT_STSFETCH_WEBPKI = 2, /* the certificate is not valid for host */
	TRPT_STSFETCH_TYPE = 3    /* 200, but not text/plain */
};

/*
 * On TRPT_OK *fail says how the fetch went; with TRPT_STSFETCH_OK or
 * TRPT_STSFETCH_TYPE the body is in *body (NUL-terminated; caller frees),
 * otherwise why is in why.  Other codes: the fetch could not be tried
 * (out of memory).
 */
int trpt_stsfetch_get(const struct trpt_stsfetch *f, int *fail, char **body,
    size_t *len, char *why, size_t whysize, struct trpt_err *err);
