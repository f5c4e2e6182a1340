#pragma once
/*
 * One validated TLS-RPT report (RFC 8460 §4) as the collector stores it,
 * and the provenance of the input it came from.
 *
 * A report owns every string and array it points to; trpt_report_free
 * releases them.  Optional fields are NULL when the sender left them out
 * (or sent JSON null); policy_domain is "" when neither the report, the
 * TLS-Report-Domain header nor an RFC 8460 file name gave one.
 */

#include <stddef.h>
#include <stdint.h>

struct trpt_strlist {
	char **v;
	size_t n;
};

struct trpt_failure {
	char *result_type; /* verbatim, registered or not */
	char *sending_mta_ip;
	char *receiving_mx_hostname;
	char *receiving_mx_helo;
	char *receiving_ip;
	char *failure_reason_code;
	char *additional_information;
	int64_t failed_session_count;
};

struct trpt_policy {
	char *policy_type;   /* "sts", "tlsa", "no-policy-found" or verbatim */
	char *policy_domain; /* never NULL; "" when unknown */
	struct trpt_strlist policy_strings;
	struct trpt_strlist mx_hosts;
	int64_t successful; /* total-successful-session-count */
	int64_t failed;     /* total-failure-session-count */
	struct trpt_failure *failures;
	size_t nfailures;
};

struct trpt_report {
	char *organization_name;
	char *contact_info; /* NULL when null or absent */
	char *report_id;
	int64_t begin; /* date-range, UTC seconds */
	int64_t end;
	struct trpt_policy *policies;
	size_t npolicies;
	struct trpt_strlist warnings; /* leniencies applied, for the record */
	/* The blocks holding the report and its strings and arrays
	 * (trpt_report_new), or NULL when each is a malloc of its own. */
	struct trpt_report_block *blocks_;
};

/*
 * Where an input came from.  All strings are borrowed from the caller and
 * may be NULL except kind and source.
 */
struct trpt_origin {
	const char *kind;   /* "file", "stdin", "imap", "https-post", ... */
	const char *source; /* path, "mailbox/UID", URL, client address */
	const char *message_id;
	const char *report_domain;    /* TLS-Report-Domain header */
	const char *report_submitter; /* TLS-Report-Submitter header */
	const char *filename;         /* file or attachment name, for RFC 8460
					 name fallbacks (sender!domain!begin!end) */
	int64_t received;             /* UTC seconds */
	const char *client; /* HTTPS POST: the client (address, TLS version,
			       certificate subject), or NULL */
};

/*
 * How an input was authenticated, as stored beside it: the DKIM verdict of
 * a report e-mail (per input: the best signature; per report: the
 * signature chosen for that report and its alignment).  Borrowed strings;
 * dkim NULL when the input was not verified (not a mail, an HTTPS POST,
 * or [dkim] require = no).
 */
struct trpt_auth {
	const char *dkim;             /* "pass", "fail", "none", "temperror" */
	const char *dkim_reason;      /* why not pass, or NULL */
	const char *dkim_domain;      /* d= */
	const char *dkim_selector;    /* s= */
	const char *dkim_key_service; /* s= of the key record, "" if none */
	const char *dkim_aligned;     /* "same", "parent", "child", "no" */
	int accepted;                 /* released by an operator
					 (reprocess --accept-unsigned) */
};

/*
 * A zeroed report that holds its strings and arrays in blocks of its own
 * (trpt_report_alloc, trpt_report_strndup), freed all at once by
 * trpt_report_free: a malloc per few hundred bytes rather than one per
 * string (issue 15).  Its warnings stay a trpt_strlist.  TRPT_OK or
 * TRPT_ENOMEM.
 */
int trpt_report_new(struct trpt_report **out);

/*
 * n bytes, zeroed and aligned for any type, from the blocks of r (made by
 * trpt_report_new), valid until trpt_report_free(r); NULL when out of
 * memory.
 */
void *trpt_report_alloc(struct trpt_report *r, size_t n);

/* A NUL-terminated copy of the n bytes at s in the blocks of r, or NULL
 * when out of memory. */
char *trpt_report_strndup(struct trpt_report *r, const char *s, size_t n);

/* Frees r with every string and array it points to (accepts NULL). */
void trpt_report_free(struct trpt_report **rp);

/* Appends a copy of s to l; returns TRPT_OK or TRPT_ENOMEM. */
int trpt_strlist_add(struct trpt_strlist *l, const char *s);
void trpt_strlist_clear(struct trpt_strlist *l);
