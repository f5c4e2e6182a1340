#pragma once
/*
 * Probes one MX host as a sending MTA does: connect, read the greeting,
 * EHLO, STARTTLS, a TLS handshake (GnuTLS) offering TLS 1.3 and 1.2 only,
 * then the server's certificate chain: trust, validity dates, names, and
 * DANE (gnutls-dane matching the chain against the TLSA records given).
 * When no TLS 1.2 handshake works, a second connection tells which older
 * version the server would speak, for the message.
 *
 * Every read, write, connect and handshake has the timeout given; replies
 * are capped in lines and bytes.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define TRPT_CHECK_TLSA_MAX 32 /* TLSA records matched */

struct trpt_smtp_probe {
	const char *host;   /* MX host name (A-labels): SNI and name checks */
	const char *addr;   /* address to connect to (numeric) */
	unsigned port;      /* 0: 25 */
	const char *helo;   /* EHLO name */
	const char *cafile; /* PEM trust anchors; NULL: the system's */
	unsigned timeout_ms;
	/* TLSA rdata (wire format) of a DNSSEC-secure answer, or none. */
	const unsigned char *const *tlsa;
	const size_t *tlsa_len;
	size_t ntlsa;
};

struct trpt_smtp_result {
	int connected;   /* TCP and a 220 greeting */
	int starttls;    /* STARTTLS in the EHLO reply */
	int tls;         /* a TLS >= 1.2 handshake completed */
	char legacy[16]; /* without tls: an older version it would speak */
	char version[16], cipher[128];
	char subject[256], issuer[256];
	char names[512]; /* subject alternative DNS names, ", " joined */
	int64_t not_before, not_after;
	int expired, not_yet_valid;
	int untrusted;       /* no chain to a trust anchor */
	char trust_why[160]; /* GnuTLS's words for the chain status */
	int name_ok;         /* the leaf certificate covers host */
	int dane;            /* -1 no TLSA given, 0 none matches, 1 match */
	char dane_why[160];
	char error[256]; /* where and why the probe stopped, if it did */
};

/*
 * Fills *out.  Network and TLS failures are findings in *out (TRPT_OK);
 * other codes mean the probe could not be made (out of memory).
 */
int trpt_smtp_probe(const struct trpt_smtp_probe *p,
    struct trpt_smtp_result *out, struct trpt_err *err);
