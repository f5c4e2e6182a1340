#pragma once
/*
 * Parsers for what a domain publishes for senders: the TLSRPT record
 * (RFC 8460 §3), the _mta-sts TXT record (RFC 8461 §3.1) and the MTA-STS
 * policy file (RFC 8461 §3.2), and MX pattern matching (RFC 8461 §4.1).
 * Pure functions: no I/O.  A failure is TRPT_EPARSE with the rule broken.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define TRPT_POLICY_MAX_RUA 8  /* rua URIs kept */
#define TRPT_POLICY_MAX_MX  32 /* mx patterns kept */
#define TRPT_POLICY_NAME    254

struct trpt_policy_tlsrpt {
	size_t nrua;
	char rua[TRPT_POLICY_MAX_RUA][TRPT_POLICY_NAME]; /* as published */
};

/* Parses one TLSRPT record ("v=TLSRPTv1; rua=..."): rua URIs must be
 * mailto: with an address or https:// with a host. */
int trpt_policy_tlsrpt_parse(
    const char *txt, struct trpt_policy_tlsrpt *out, struct trpt_err *err);

/* Parses one "v=STSv1; id=..." record; id (1 to 32 letters and digits)
 * is copied to id (at least 33 bytes). */
int trpt_policy_sts_txt_parse(
    const char *txt, char *id, size_t idsize, struct trpt_err *err);

enum trpt_sts_mode {
	TRPT_STS_NONE = 0,
	TRPT_STS_TESTING = 1,
	TRPT_STS_ENFORCE = 2
};

/* "none", "testing", "enforce" */
const char *trpt_policy_sts_mode_name(enum trpt_sts_mode m);

struct trpt_sts_policy {
	enum trpt_sts_mode mode;
	int64_t max_age;
	size_t nmx;
	char mx[TRPT_POLICY_MAX_MX][TRPT_POLICY_NAME]; /* lower case */
};

/* Parses a policy file (LF or CRLF lines "key: value"). */
int trpt_policy_sts_parse(const char *body, size_t len,
    struct trpt_sts_policy *out, struct trpt_err *err);

/* 1 when host (lower case, no trailing dot) matches pattern: the same
 * name, or "*.rest" for one more leftmost label. */
int trpt_policy_mx_match(const char *pattern, const char *host);

/* The first pattern of p that host matches, or NULL. */
const char *trpt_policy_sts_match(
    const struct trpt_sts_policy *p, const char *host);
