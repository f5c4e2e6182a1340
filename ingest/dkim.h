#pragma once
/*
 * DKIM verification of report e-mails (RFC 8460 §3, RFC 6376).
 *
 * RFC 8460 §3: a report sent by mail MUST carry a valid DKIM signature by
 * the reporting domain, without l=, and reports lacking one MUST be
 * ignored.  libopendkim (the library of OpenDKIM's milter) parses and
 * verifies the signatures; the keys are fetched by a key-lookup callback
 * with libunbound and cached here for their TTL.
 *
 * Why a callback and not libopendkim's own resolver: (1) libopendkim
 * refuses a key record whose service list lacks "email" or "*", and RFC
 * 8460 §3 asks reporters for s=tlsrpt, so the record must be seen (and
 * the tlsrpt service accepted) before libopendkim parses it; (2) its
 * bundled resolver cannot be pointed at a server: dkim_dns_nslist is a
 * no-op without res_setservers (glibc has none) and knows port 53 only,
 * while tests and split-horizon setups need ADDR:PORT; (3) it has no
 * overall timeout, and a server that does not answer must not hold the
 * pipeline.  OpenDKIM's own filter also resolves with libunbound.
 *
 * Alignment: the signing domain d= must be the report's submitter domain
 * (TLS-Report-Submitter) or organisation domain (the domain of
 * contact-info), or a parent or child of one of them (Mail.ru signs
 * d=corp.mail.ru for submitter mail.ru), never across a public suffix
 * (libpsl): d=co.uk aligns with nothing.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "schema/report.h"

enum trpt_dkim_require {
	TRPT_DKIM_REQUIRE_NO,   /* not verified at all */
	TRPT_DKIM_REQUIRE_WARN, /* verified and recorded; never refused */
	TRPT_DKIM_REQUIRE_YES   /* unsigned or failing reports quarantined */
};

#define TRPT_DKIM_TIMEOUT_MS_DEFAULT 5000u
#define TRPT_DKIM_CACHE_DEFAULT      1024u
/* Signatures examined in one message; the rest are ignored (each costs a
 * DNS lookup, and a hostile mail may carry hundreds). */
#define TRPT_DKIM_MAX_SIGS 4
/* Longest TTL a key (or its absence) is cached for. */
#define TRPT_DKIM_MAX_TTL 86400

struct trpt_dkim_config {
	enum trpt_dkim_require require; /* default WARN */
	/* "ADDR:PORT", "[V6ADDR]:PORT" or "ADDR" (port 53), or NULL for
	 * the nameservers of /etc/resolv.conf */
	const char *nameserver;
	unsigned timeout_ms; /* one key lookup, retries included */
	size_t cache_max;    /* keys (and absences) cached */
	/* The clock for the key cache (UTC seconds), or NULL for time(). */
	int64_t (*now)(void *arg);
	void *now_arg;
};

/* Defaults: require warn, resolv.conf, 5 s, 1024 keys. */
void trpt_dkim_config_default(struct trpt_dkim_config *cfg);

/*
 * Parses "no", "warn" or "yes".  Returns TRPT_OK or TRPT_EINVAL.
 */
int trpt_dkim_require_parse(const char *s, enum trpt_dkim_require *out);
const char *trpt_dkim_require_name(enum trpt_dkim_require r);

/*
 * Checks a nameserver setting ("ADDR:PORT", "[V6ADDR]:PORT", "ADDR"):
 * TRPT_OK or TRPT_EINVAL with the reason.
 */
int trpt_dkim_nameserver_check(const char *s, struct trpt_err *err);

enum trpt_dkim_result {
	TRPT_DKIM_NONE,     /* no signature */
	TRPT_DKIM_PASS,     /* a valid signature */
	TRPT_DKIM_FAIL,     /* permanent: bad signature, no key, revoked, l= */
	TRPT_DKIM_TEMPERROR /* the key could not be fetched now: retry */
};

/* "none", "pass", "fail", "temperror". */
const char *trpt_dkim_result_name(enum trpt_dkim_result r);

enum trpt_dkim_align {
	TRPT_DKIM_ALIGN_NO,
	TRPT_DKIM_ALIGN_SAME,   /* d= is the domain */
	TRPT_DKIM_ALIGN_PARENT, /* d= is a parent of it (mail.ru, corp.mail.ru)
				 */
	TRPT_DKIM_ALIGN_CHILD   /* d= is below it (corp.mail.ru, mail.ru) */
};

/* "no", "same", "parent", "child". */
const char *trpt_dkim_align_name(enum trpt_dkim_align a);

/*
 * How d= relates to domain (both compared without case and trailing dot).
 * Parent and child never cross a public suffix.
 */
enum trpt_dkim_align trpt_dkim_align(const char *d, const char *domain);

/*
 * The domain named by a contact-info value: the part after '@' of an
 * address (with or without "mailto:" and angle brackets), the host of a
 * URL, or the value itself when it is a domain name.  Lower case, no
 * trailing dot.  Returns 0 and leaves out "" when there is none.
 */
int trpt_dkim_contact_domain(const char *contact, char *out, size_t size);

/* One signature as verified. */
struct trpt_dkim_sig {
	enum trpt_dkim_result result;
	char domain[254];     /* d=, lower case */
	char selector[64];    /* s= */
	char key_service[64]; /* s= of the key record ("tlsrpt", "*", ...),
				 "" when the record has none (RFC 6376: all)
				 or the key was not fetched */
	char reason[384];     /* why not pass ("" on pass) */
};

/* What verifying one message found. */
struct trpt_dkim_verdict {
	int done; /* set by trpt_dkim_verify: the message was verified */
	/* Why the message as a whole could not be verified (libopendkim
	 * refused its headers), or "" */
	char reason[160];
	size_t nsigs;
	size_t ignored; /* signatures past TRPT_DKIM_MAX_SIGS */
	struct trpt_dkim_sig sigs[TRPT_DKIM_MAX_SIGS];
};

struct trpt_dkim;

/*
 * A verifier.  cfg's strings are copied.  Nothing is resolved before the
 * first key lookup, and libopendkim is set up on the first message that
 * may be signed.  Fails with TRPT_EINVAL for a bad nameserver.
 */
int trpt_dkim_new(const struct trpt_dkim_config *cfg, struct trpt_dkim **out,
    struct trpt_err *err);
void trpt_dkim_free(struct trpt_dkim **dp);

enum trpt_dkim_require trpt_dkim_required(const struct trpt_dkim *d);

/*
 * Verifies the signatures of msg (a whole RFC 5322 message, CRLF or LF
 * line ends) into *out.  A bad or missing signature is a verdict, not an
 * error; errors are TRPT_ENOMEM and TRPT_EINVAL (libopendkim failing).
 *
 * at (UTC seconds, 0 for now) is when the message arrived: a signature's
 * expiry (x=) is judged at that time, so that a mailbox read late, or an
 * input that waited in quarantine for its key, is not refused as expired
 * (replaying a genuine report forges nothing; it is a duplicate).
 */
int trpt_dkim_verify(struct trpt_dkim *d, const void *msg, size_t len,
    int64_t at, struct trpt_dkim_verdict *out, struct trpt_err *err);

/*
 * As trpt_dkim_verify, but a message in which no DKIM-Signature field can
 * be (trpt_dkim_verify answers those itself: "no signature", as
 * libopendkim does) is given to libopendkim all the same.  For the tests
 * that compare both answers.
 */
int trpt_dkim_verify_libopendkim(struct trpt_dkim *d, const void *msg,
    size_t len, int64_t at, struct trpt_dkim_verdict *out,
    struct trpt_err *err);

enum trpt_dkim_action {
	TRPT_DKIM_ACCEPT, /* store the report (with the result recorded) */
	TRPT_DKIM_REFUSE, /* quarantine it with the reason */
	TRPT_DKIM_WAIT    /* a key lookup failed for now: keep it, retry */
};

/* The decision for one report of a verified message. */
struct trpt_dkim_outcome {
	enum trpt_dkim_action action;
	enum trpt_dkim_result result;    /* of the signature chosen */
	enum trpt_dkim_align align;      /* of the signature chosen */
	const struct trpt_dkim_sig *sig; /* chosen, in the verdict; or NULL */
	int released; /* accepted only because accept_unsigned was given */
	/* "DKIM: no signature", "DKIM: body hash mismatch",
	 * "DKIM: d=evil.example not aligned with google.com", ... or "" */
	char reason[1024];
};

/*
 * Judges one report of a verified message under require: the best
 * signature for it (a passing aligned one first) and the action.
 * submitter is the TLS-Report-Submitter header, contact_info the report's
 * (either may be NULL).  accept_unsigned (an operator's release) accepts
 * what would be refused or kept waiting.
 */
void trpt_dkim_judge(const struct trpt_dkim_verdict *v,
    enum trpt_dkim_require require, const char *submitter,
    const char *contact_info, int accept_unsigned,
    struct trpt_dkim_outcome *out);

/*
 * Both in one call, for the pipeline: verifies msg into *v unless v->done
 * (a message holding several reports is verified once), then judges the
 * report.  Errors as trpt_dkim_verify.
 */
int trpt_dkim_check(struct trpt_dkim *d, const void *msg, size_t len,
    int64_t at, const char *submitter, const char *contact_info,
    int accept_unsigned, struct trpt_dkim_verdict *v,
    struct trpt_dkim_outcome *out, struct trpt_err *err);

/*
 * The record to store for one report (borrowing from v and o): result,
 * reason, d=, s=, key service, alignment.
 */
void trpt_dkim_auth(const struct trpt_dkim_outcome *o, struct trpt_auth *out);

struct trpt_dkim_stats {
	uint64_t messages;         /* verified */
	uint64_t unsigned_skipped; /* of them, without any "DKIM-Signature":
				      not given to libopendkim */
	uint64_t lookups;          /* keys asked of the cache */
	uint64_t cache_hits;       /* answered from it */
	uint64_t dns_queries;      /* sent to the resolver */
	uint64_t dns_temp;         /* lookups that failed temporarily */
};

void trpt_dkim_stats(const struct trpt_dkim *d, struct trpt_dkim_stats *out);
