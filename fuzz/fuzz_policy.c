/* Fuzz target: what a domain publishes, as the live check reads it (check/
 * policy.c and the DNS decoders): the MTA-STS policy file fetched over
 * HTTPS, TLSRPT and _mta-sts TXT records, MX and TXT rdata. */

#include <stdlib.h>
#include <string.h>

#include "check/dns.h"
#include "check/policy.h"
#include "fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trpt_sts_policy p;
	struct trpt_policy_tlsrpt t;
	struct trpt_err err;
	char *s, id[33], buf[512];
	unsigned pref;
	size_t i;

	if (trpt_policy_sts_parse((const char *)data, size, &p, &err) ==
	    TRPT_OK) {
		if (p.nmx > TRPT_POLICY_MAX_MX ||
		    (p.mode != TRPT_STS_NONE && p.nmx == 0) || p.max_age < 0 ||
		    p.max_age > 31557600)
			abort(); /* the contract of a parsed policy */
		for (i = 0; i < p.nmx; i++)
			(void)trpt_policy_sts_match(&p, p.mx[i]);
	} else if (err.msg[0] == '\0')
		abort();
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (trpt_policy_tlsrpt_parse(s, &t, &err) == TRPT_OK &&
	    (t.nrua == 0 || t.nrua > TRPT_POLICY_MAX_RUA))
		abort();
	if (trpt_policy_sts_txt_parse(s, id, sizeof(id), &err) == TRPT_OK &&
	    (id[0] == '\0' || strlen(id) > 32))
		abort();
	free(s);
	if (trpt_dns_txt(data, size, buf, sizeof(buf), &err) == TRPT_OK &&
	    strlen(buf) >= sizeof(buf))
		abort();
	if (trpt_dns_mx(data, size, &pref, buf, sizeof(buf), &err) == TRPT_OK &&
	    strlen(buf) >= sizeof(buf))
		abort();
	return 0;
}
