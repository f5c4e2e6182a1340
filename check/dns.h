#pragma once
/*
 * DNS lookups with DNSSEC validation for the live check (libunbound).
 *
 * A resolver forwards to the servers of /etc/resolv.conf, or to one given
 * upstream ("ADDR[@PORT]"), and validates from a trust anchor file (DS or
 * DNSKEY records in zone-file format; the root key by default).  Every
 * query has a deadline.  Nothing here prints.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Where Debian's dns-root-data keeps the root zone's trust anchor. */
#define TRPT_DNS_ROOT_ANCHOR "/usr/share/dns/root.key"

enum trpt_dns_type {
	TRPT_DNS_A = 1,
	TRPT_DNS_MX = 15,
	TRPT_DNS_TXT = 16,
	TRPT_DNS_AAAA = 28,
	TRPT_DNS_DNSKEY = 48,
	TRPT_DNS_TLSA = 52
};

/* How an answer (or its absence) was validated. */
enum trpt_dnssec {
	TRPT_DNSSEC_INSECURE = 0, /* no chain of trust (unsigned zone) */
	TRPT_DNSSEC_SECURE = 1,   /* validated from the trust anchor */
	TRPT_DNSSEC_BOGUS = 2     /* validation failed: resolvers SERVFAIL */
};

/* "insecure", "secure", "bogus" */
const char *trpt_dns_dnssec_name(enum trpt_dnssec s);

struct trpt_dns;

/*
 * upstream: NULL for /etc/resolv.conf.  anchor: NULL for
 * TRPT_DNS_ROOT_ANCHOR.  timeout_ms bounds each query.  Caller frees.
 */
int trpt_dns_new(const char *upstream, const char *anchor, unsigned timeout_ms,
    struct trpt_dns **out, struct trpt_err *err);
void trpt_dns_free(struct trpt_dns **dp);

/*
 * Asks for the DNSKEY set of the trust anchor's zone: when it does not
 * validate, every answer would be bogus (a resolver that strips DNSSEC
 * records, or an outdated anchor), so nothing could be judged: fails with
 * TRPT_ETEMP saying so.
 */
int trpt_dns_check_anchor(struct trpt_dns *d, struct trpt_err *err);

#define TRPT_DNS_MAX_RR 32 /* records kept per answer */

struct trpt_dns_answer {
	enum trpt_dnssec dnssec;
	int rcode;    /* DNS rcode (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN) */
	int nxdomain; /* the name does not exist */
	size_t n;     /* records (0: no data) */
	unsigned char *rr[TRPT_DNS_MAX_RR]; /* rdata in wire format */
	size_t len[TRPT_DNS_MAX_RR];
	char why_bogus[160]; /* unbound's reason, when bogus */
};

/*
 * Looks name up.  An answer (with data, no data, NXDOMAIN or a bogus
 * one) is TRPT_OK; a timeout or a resolver failure is TRPT_ETEMP.
 * Free the answer with trpt_dns_answer_clear.
 */
int trpt_dns_query(struct trpt_dns *d, const char *name, enum trpt_dns_type t,
    struct trpt_dns_answer *out, struct trpt_err *err);
void trpt_dns_answer_clear(struct trpt_dns_answer *a);

/*
 * Record decoders; each fails with TRPT_EPARSE on malformed rdata.
 * TXT: the character strings joined into buf (NUL-terminated; fails with
 * TRPT_ELIMIT past len - 1 bytes).  MX: preference and exchange name in
 * lower case without the trailing dot ("" for the root: a null MX).
 * A/AAAA: the address as text.
 */
int trpt_dns_txt(const unsigned char *rr, size_t len, char *buf, size_t size,
    struct trpt_err *err);
int trpt_dns_mx(const unsigned char *rr, size_t len, unsigned *pref, char *name,
    size_t size, struct trpt_err *err);
int trpt_dns_addr(enum trpt_dns_type t, const unsigned char *rr, size_t len,
    char *buf, size_t size, struct trpt_err *err);
