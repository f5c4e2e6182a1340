#pragma once
/*
 * JSON report validation (jansson) into a struct trpt_report: strict where
 * data would be wrong, lenient where real senders deviate (see README).
 */

#include <stddef.h>

#include "common/err.h"
#include "common/limits.h"
#include "schema/report.h"

/* Context for fallbacks: the domain a policy takes when it names none. */
struct trpt_validate_ctx {
	const char *report_domain; /* TLS-Report-Domain header, or NULL */
	const char *filename;      /* RFC 8460 file name, or NULL */
};

/*
 * Makes jansson allocate from an arena of the validating thread while
 * trpt_validate_json reads a small report (process-wide: call it once
 * before any thread uses jansson, e.g. first thing in main; every other
 * use of jansson keeps malloc and free).  Without it validation is the
 * same, only slower.
 */
void trpt_validate_init(void);

/*
 * Parses and validates len bytes of JSON (UTF-8, optional BOM).  On success
 * *out is a new report (caller frees with trpt_report_free).  Rejections
 * return TRPT_EPARSE or TRPT_ELIMIT with the JSON path in the message,
 * e.g. "policies[0].summary.total-failure-session-count: negative count".
 */
int trpt_validate_json(const char *json, size_t len,
    const struct trpt_limits *lim, const struct trpt_validate_ctx *ctx,
    struct trpt_report **out, struct trpt_err *err);

/*
 * The same, taking the text (malloc'd; always freed).  Below 64 KiB it is
 * freed as soon as jansson has parsed it, before the report is read out of
 * the tree; from 64 KiB on, the failure details are read one at a time
 * from the text (the tree of a whole 5 MB report took about 25 MB), and
 * the text is freed at the end.
 */
int trpt_validate_json_take(char *json_take, size_t len,
    const struct trpt_limits *lim, const struct trpt_validate_ctx *ctx,
    struct trpt_report **out, struct trpt_err *err);
