#pragma once
/*
 * RFC 5322 / MIME messages (libetpan): the report headers and the parts that
 * may hold a TLS report, transfer-decoded.
 */

#include <stddef.h>

#include "common/err.h"
#include "common/limits.h"

/* Multiparts and forwarded messages nested deeper fail with TRPT_ELIMIT. */
#define TRPT_MIME_MAX_DEPTH 16

struct trpt_mime_part {
	int index;          /* 1-based position among all leaf parts */
	char *content_type; /* lower-case "type/subtype", no parameters */
	char *filename;     /* Content-Disposition filename or name=, or NULL */
	char *data;         /* transfer-decoded bytes (base64, QP, 7bit) */
	size_t len;
};

struct trpt_mime_msg {
	char *message_id;             /* without <>, or NULL */
	char *subject;                /* unfolded, RFC 2047 decoded, or NULL */
	char *from;                   /* the same for From, or NULL */
	char *report_domain;          /* TLS-Report-Domain, or NULL */
	char *report_submitter;       /* TLS-Report-Submitter, or NULL */
	int tlsrpt_report;            /* multipart/report; report-type=tlsrpt */
	int claims_tlsrpt;            /* any sign of a TLS report: the above, a
					 TLS-Report-* header or a tlsrpt part */
	struct trpt_mime_part *parts; /* candidate report parts only */
	size_t nparts;
};

/*
 * True when data looks like an RFC 5322 message: its first lines are header
 * fields (name of letters, digits, '-', '_' or '.' then ':') or their
 * continuations.  An mbox "From " line is not a field (see mbox.h).
 */
int trpt_mime_looks_like_message(const char *data, size_t len);

/*
 * Parses a message.  Candidate parts are those whose media type is
 * application/tlsrpt+gzip, application/tlsrpt+json, application/tlsrpt,
 * application/gzip, application/x-gzip, application/json or
 * application/octet-stream (the bytes then decide), and a top-level
 * non-multipart body of such a type.  Fails with TRPT_ELIMIT past
 * lim->max_parts parts (leaf parts and nested multiparts both count), a
 * message larger than lim->max_message,
 * nesting deeper than TRPT_MIME_MAX_DEPTH or a candidate part decoding to
 * more than lim->max_message bytes; TRPT_EPARSE when there are no header
 * fields (empty input, garbage).  Header lines that are no field are
 * skipped; a multipart body without its close delimiter ends at the end.
 * CRLF and LF line endings are both read.  A forwarded message/rfc822
 * part is walked too, and its TLS-Report-* headers are used when the outer
 * message has none.  lim may be NULL (defaults).
 * Caller frees *out with trpt_mime_free.
 */
int trpt_mime_parse(const char *data, size_t len, const struct trpt_limits *lim,
    struct trpt_mime_msg **out, struct trpt_err *err);
void trpt_mime_free(struct trpt_mime_msg **msgp);

/*
 * For test_mime: a Content-Type and a Content-Disposition value (either
 * may be NULL) read as trpt_mime_parse reads them, with the hand-written
 * reader of simple values (allow_fast) or with libetpan only.  The out
 * strings are malloc'd or NULL (ctype NULL: no valid type); caller frees.
 */
int trpt__mime_fields(const char *content_type, const char *disposition,
    int allow_fast, char **ctype, char **boundary, char **report_type,
    char **filename);
