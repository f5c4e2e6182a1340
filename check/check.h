#pragma once
/*
 * The live check of one mail domain, as senders see it: the DNS records a
 * sender reads (MX, _smtp._tls, _mta-sts, TLSA at _25._tcp.MX) with their
 * DNSSEC state, the MTA-STS policy fetched over HTTPS, and every MX host
 * over SMTP STARTTLS.  The outcome per MX is the RFC 8460 result types a
 * sender would report today, or none ("ok").
 *
 * Knows nothing of the database: the findings are plain structs.  Never
 * prints.  Follows the network only where the domain publishes: its MX
 * hosts (port 25), mta-sts.DOMAIN (443), and its resolvers' answers.
 */

#include <stddef.h>
#include <stdint.h>

#include "check/dns.h"
#include "check/policy.h"
#include "check/smtp.h"
#include "common/err.h"

struct trpt_check_config {
	const char *resolver;     /* "ADDR[@PORT]"; NULL: /etc/resolv.conf */
	const char *trust_anchor; /* NULL: TRPT_DNS_ROOT_ANCHOR */
	const char *cafile;       /* SMTP and HTTPS; NULL: system trust */
	unsigned smtp_port;       /* 25 */
	unsigned https_port;      /* 443 */
	const char *helo;         /* EHLO name */
	unsigned dns_timeout_ms;  /* each DNS query */
	unsigned timeout_ms;      /* connect, each SMTP reply, handshake,
				     and the whole policy fetch */
	size_t max_policy;        /* bytes of an MTA-STS policy */
	size_t max_mx;            /* MX hosts checked */
	unsigned max_time_ms;     /* the whole check: MX hosts not reached
				     by then are reported, not probed */
	int64_t now;              /* seconds since the epoch */
};

/* Defaults: ports 25 and 443, 5 s timeouts, a 64 KiB policy, 10 MX,
 * 120 s in all. */
void trpt_check_config_init(struct trpt_check_config *c);

#define TRPT_CHECK_MAX_FINDINGS 8
#define TRPT_CHECK_DETAIL       256

struct trpt_check_finding {
	/* RFC 8460 result type, or NULL for a problem outside them (no
	 * TLSRPT record, an MX host that does not resolve). */
	const char *type;
	char detail[TRPT_CHECK_DETAIL];
};

struct trpt_check_findings {
	size_t n;
	struct trpt_check_finding v[TRPT_CHECK_MAX_FINDINGS];
};

/* A TXT lookup: the one record that counts, or why none does. */
struct trpt_check_txt {
	enum trpt_dnssec dnssec;
	int found;                    /* a record that counts exists */
	char text[TRPT_CHECK_DETAIL]; /* that record (truncated) */
};

struct trpt_check_mx {
	char host[TRPT_POLICY_NAME];
	unsigned pref;
	enum trpt_dnssec addr_dnssec;
	char addr[64]; /* address probed ("" when none) */
	enum trpt_dnssec tlsa_dnssec;
	size_t ntlsa;
	char tlsa[4][160];       /* the first records, as text */
	const char *sts_pattern; /* matching mx pattern, or NULL */
	struct trpt_smtp_result smtp;
	int64_t days_left; /* until not_after, from now (negative: ago) */
	struct trpt_check_findings findings;
};

struct trpt_check_result {
	char domain[TRPT_POLICY_NAME]; /* A-labels, lower case */
	char input[TRPT_POLICY_NAME];  /* as given (U-labels possible) */
	int64_t checked_at;
	enum trpt_dnssec mx_dnssec;
	int implicit_mx; /* no MX: the domain itself (RFC 5321 §5.1) */
	int null_mx;     /* "MX 0 ." : the domain takes no mail */
	size_t mx_total; /* MX records published */
	struct trpt_check_txt tlsrpt, sts_txt;
	struct trpt_policy_tlsrpt tlsrpt_rua;
	char sts_id[33];
	int sts_fetched; /* a policy was fetched and parsed */
	char sts_url[320];
	struct trpt_sts_policy sts;
	/* Domain-wide problems (TLSRPT record, MTA-STS policy, DNSSEC of
	 * the MX set); those with a result type are also in every MX's
	 * findings, as senders report them per session. */
	struct trpt_check_findings findings;
	size_t nmx;
	struct trpt_check_mx *mx;
};

/*
 * Checks domain (a name in UTF-8 or A-labels).  only (may be NULL) limits
 * the MX hosts probed to those named, which must be MX hosts the domain
 * publishes (others get a finding, and are not contacted).
 * TRPT_OK: *out holds the findings (caller frees).  TRPT_EINVAL: a bad
 * domain or configuration; TRPT_ETEMP: DNS did not answer, so the check
 * could not run.
 */
int trpt_check_run(const struct trpt_check_config *c, const char *domain,
    const char *const *only, size_t nonly, struct trpt_check_result **out,
    struct trpt_err *err);
void trpt_check_free(struct trpt_check_result **rp);

/* Findings with a result type or a problem, over the domain and MX. */
size_t trpt_check_failures(const struct trpt_check_result *r);

/*
 * Converts a domain name to lower-case A-labels without the trailing dot
 * (IDNA 2008, libidn2).  out holds at least TRPT_POLICY_NAME bytes.
 */
int trpt_check_domain_ascii(
    const char *in, char *out, size_t size, struct trpt_err *err);
