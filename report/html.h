#pragma once
/*
 * Building HTML (and inline SVG) into a capped buffer.
 *
 * A struct trpt_html keeps the first error: every call after a failure
 * does nothing, and trpt_html_finish returns it, so a page is written
 * without an error check on every line.  trpt_html_raw and
 * trpt_html_rawf write markup as given and must only ever see constant
 * text and numbers; anything that came from a report, a file or a URL
 * goes through trpt_html_text (escaped for element content and quoted
 * attribute values alike) or trpt_html_url (percent-encoded for a query
 * value or fragment).
 */

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

struct trpt_html {
	struct trpt_buf buf;
	struct trpt_err err;
	int rc; /* TRPT_OK, or the first failure */
};

/* Pages stop growing here (TRPT_ELIMIT): a page of a hostile database
 * stays bounded. */
#define TRPT_HTML_MAX_PAGE (64u * 1024 * 1024)

void trpt_html_init(struct trpt_html *h, size_t max);
void trpt_html_free(struct trpt_html *h);

void trpt_html_raw(struct trpt_html *h, const char *markup);
void trpt_html_rawf(struct trpt_html *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Escapes s: & < > " ' become entities; control characters (C0 but tab
 * and newline, DEL, C1) are shown as a visible \xHH; bytes that are not
 * UTF-8 become U+FFFD.  NULL writes nothing.
 */
void trpt_html_text(struct trpt_html *h, const char *s);
void trpt_html_textn(struct trpt_html *h, const char *s, size_t n);

/* Percent-encodes s (all but A-Z a-z 0-9 - . _ ~), for a URL query value
 * or a fragment; the result needs no further escaping in an attribute. */
void trpt_html_url(struct trpt_html *h, const char *s);

/* A count with thousands separators ("12,345"). */
void trpt_html_count(struct trpt_html *h, int64_t n);
/* A share as "99.35%", or "–" for none (rate < 0). */
void trpt_html_rate(struct trpt_html *h, double rate);
/* "2026-01-26" for a day number. */
void trpt_html_day(struct trpt_html *h, int64_t day);

/*
 * Returns h's status; on success hands the bytes to *out (caller frees,
 * NUL-terminated) and *len.  h is empty afterwards in every case.
 */
int trpt_html_finish(
    struct trpt_html *h, char **out, size_t *len, struct trpt_err *err);

/* The style sheet of every page: served as /style.css by the dashboard
 * and put in a <style> element by the static report. */
const char *trpt_html_css(void);
