/* The weekly summary message: structure, figures, and safety. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report/summary.h"
#include "report/trend.h"
#include "schema/db.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"
#include "tests/unit/reportgen.h"

#define W1 20479 /* 2026-01-26, Monday of 2026-W05 */

static int
setup(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;
	struct gen g = { 0 };
	int64_t d, f;

	if (trpt_test_db_connect(&db, &err) != TRPT_OK)
		return -1;
	/* Three weeks of example.com; in W05 an expired certificate on
	 * mx2 from Wednesday on. */
	for (d = W1 - 14; d < W1 + 7; d++) {
		f = d >= W1 + 2 ? 100 : 0;
		gen_begin(&g, "Google Inc.", d);
		gen_policy(&g, "sts", "example.com", 1000 - f, f, 0);
		if (f > 0)
			gen_failure(&g, "certificate-expired",
			    "mx2.example.com", "209.85.220.1", f);
		gen_policy(&g, "sts", "example.net", 50, 0, 0);
		if (gen_end(&g, db) != TRPT_OK)
			return -1;
		gen_begin(&g, "Microsoft Corporation", d);
		gen_policy(&g, "sts", "example.com", 500, 0, 0);
		gen_policy(&g, "tlsa", "example.com", 500, 0, 0);
		if (gen_end(&g, db) != TRPT_OK)
			return -1;
	}
	if (trpt_trend_refresh(db, &err) != TRPT_OK)
		return -1;
	*state = db;
	return 0;
}

static int
teardown(void **state)
{
	struct trpt_db *db = *state;

	trpt_db_close(&db);
	return 0;
}

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes the base64 body after the part header containing ctype. */
static char *
part(const char *msg, const char *ctype)
{
	const char *p = strstr(msg, ctype), *end;
	char *out;
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0, v;

	assert_non_null(p);
	p = strstr(p, "\r\n\r\n");
	assert_non_null(p);
	p += 4;
	end = strstr(p, "\r\n--");
	assert_non_null(end);
	out = malloc((size_t)(end - p));
	assert_non_null(out);
	for (; p < end; p++) {
		if ((v = b64val(*p)) < 0)
			continue;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	return out;
}

static size_t max_domains, max_text;

static char *
build(struct trpt_db *db, const char *domain, size_t *len)
{
	static const char *const to[] = { "a@example.org", "b@example.org" };
	struct trpt_summary_opts o;
	struct trpt_err err;
	char *msg = NULL;

	memset(&o, 0, sizeof(o));
	o.monday = W1;
	o.domain = domain;
	o.from = "tlsrpt@example.org";
	o.to = to;
	o.nto = 2;
	o.date = (W1 + 8) * 86400 + 3600;
	o.max_domains = max_domains;
	o.max_text = max_text;
	assert_int_equal(trpt_summary_build(db, &o, &msg, len, &err), TRPT_OK);
	return msg;
}

static void
test_summary_message(void **state)
{
	struct trpt_db *db = *state;
	char *msg, *text, *html;
	size_t len, i;

	msg = build(db, NULL, &len);
	if (getenv("TRPT_SHOW") != NULL)
		fprintf(stderr, "%.1200s\n", msg);
	assert_int_equal(strlen(msg), len);
	assert_non_null(strstr(msg, "From: tlsrpt@example.org\r\n"));
	assert_non_null(
	    strstr(msg, "To: a@example.org,\r\n b@example.org\r\n"));
	assert_non_null(
	    strstr(msg, "Date: Tue, 03 Feb 2026 01:00:00 +0000\r\n"));
	assert_non_null(strstr(msg, "MIME-Version: 1.0\r\n"));
	assert_non_null(strstr(msg, "Content-Type: multipart/alternative;"));
	/* 2 domains; W05: 7 x 1550 sessions, 500 failed; W04: all fine. */
	assert_non_null(strstr(msg,
	    "Subject: TLS report 2026-W05: example.com, example.net: 95.39% "
	    "encrypted\r\n (-4.61 points), 3 alerts\r\n"));
	for (i = 0; i < len; i++)
		if (msg[i] == '\n')
			assert_true(i > 0 && msg[i - 1] == '\r');
	text = part(msg, "Content-Type: text/plain; charset=utf-8");
	html = part(msg, "Content-Type: text/html; charset=utf-8");
	if (getenv("TRPT_SHOW") != NULL)
		fprintf(stderr, "%s\n%s\n", text, html);
	assert_non_null(strstr(text, "2 domains, 10850 sessions, 95.39% "
				     "encrypted (-4.61 points), 500 failed, 3 "
				     "alerts."));
	assert_non_null(strstr(text, "== example.com ==\n10500 sessions, 500 "
				     "failed, 95.24% successful (-4.76 "
				     "points)\n"));
	assert_non_null(strstr(text, "  Mon 2026-01-26 "));
	assert_non_null(strstr(text, "  Sun 2026-02-01 "));
	assert_non_null(strstr(text, "  Google Inc.: 500 failed of 7000\n"));
	assert_non_null(strstr(text, "  mx2.example.com: 500 failed\n"));
	/* The overview comes first, the domain needing action on top. */
	assert_non_null(strstr(text, "! example.com "));
	assert_true(
	    strstr(text, "! example.com ") < strstr(text, "  example.net "));
	assert_true(
	    strstr(text, "  example.net ") < strstr(text, "== example.com =="));
	/* No details for a domain without failures or alerts. */
	assert_null(strstr(text, "== example.net =="));
	/* Each type with its MX hosts and senders; its cause and fix once,
	 * at the end. */
	assert_non_null(strstr(text, "  certificate-expired (certificate "
				     "expired): 500 sessions\n    "
				     "mx2.example.com: 500 failed - Google "
				     "Inc.\n"));
	assert_non_null(strstr(text, "== Causes and fixes ==\n"
				     "certificate-expired (certificate "
				     "expired)\n  Probable cause: "));
	assert_null(
	    strstr(strstr(text, "Probable cause") + 1, "Probable cause"));
	assert_non_null(strstr(text, "drop domain example.com, 2026-01-28"));
	assert_non_null(strstr(text, "new-type domain example.com: "
				     "certificate-expired"));
	assert_non_null(strstr(text, "drop sender Google Inc."));
	/* Self-contained HTML: nothing fetched from elsewhere. */
	assert_non_null(strstr(html, "<h2 style=\"font-size:17px\">example.com"
				     "</h2>"));
	assert_non_null(strstr(html, "background:#c62828"));
	assert_non_null(strstr(html, "Probable cause: The certificate"));
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<link"));
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "url("));
	assert_null(strstr(html, "http"));
	assert_non_null(strstr(html, ">example.com</b></td>"));
	assert_true(strstr(html, ">example.net</td>") <
		    strstr(html, "<h2 style=\"font-size:17px\">example.com"));
	free(text);
	free(html);
	free(msg);

	/* Past the size cap, details stop with a note naming the rest. */
	max_text = 1;
	msg = build(db, NULL, &len);
	max_text = 0;
	text = part(msg, "Content-Type: text/plain");
	html = part(msg, "Content-Type: text/html");
	assert_null(strstr(text, "== example.com =="));
	assert_non_null(strstr(text, "1 more domain with failures or alerts "
				     "is left out to keep this mail short: "
				     "example.com."));
	assert_null(strstr(html, "<h2 style=\"font-size:17px\">example.com"));
	assert_non_null(strstr(html, "left out to keep this mail short: "
				     "example.com."));
	free(text);
	free(html);
	free(msg);

	/* One domain, no failures: the sender's drop named only
	 * example.com, so it is not counted here. */
	msg = build(db, "example.net", &len);
	assert_non_null(strstr(msg, "Subject: TLS report 2026-W05: "
				    "example.net: 100.00% encrypted (+0.00 "
				    "points),\r\n 0 alerts\r\n"));
	free(msg);
	msg = build(db, "example.com", &len);
	assert_non_null(strstr(msg, "example.com: 95.24% encrypted (-4.76 "
				    "points),\r\n 3 alerts\r\n"));
	free(msg);
	/* A week without data. */
	msg = build(db, "nothing.example", &len);
	assert_non_null(strstr(msg, "Subject: TLS report 2026-W05: "
				    "nothing.example: no sessions"));
	text = part(msg, "Content-Type: text/plain");
	assert_non_null(strstr(text, "No reports counted sessions this week."));
	free(text);
	free(msg);
}

static void
test_summary_hostile(void **state)
{
	static const char *const bad_to[] = { "x@example.org\r\nBcc: y@evil" };
	static const char *const to[] = { "x@example.org" };
	struct trpt_db *db = *state;
	struct trpt_summary_opts o;
	struct trpt_err err;
	struct gen g = { 0 };
	char *msg = NULL, *html;
	size_t len;

	memset(&o, 0, sizeof(o));
	o.monday = W1;
	o.from = "tlsrpt@example.org";
	o.to = bad_to;
	o.nto = 1;
	assert_int_equal(
	    trpt_summary_build(db, &o, &msg, &len, &err), TRPT_EINVAL);
	assert_non_null(strstr(err.msg, "control character"));
	o.from = "nobody";
	o.to = to;
	assert_int_equal(
	    trpt_summary_build(db, &o, &msg, &len, &err), TRPT_EINVAL);
	assert_null(msg);

	/* Report data with markup and a line break in a domain name. */
	gen_begin(&g, "<script>x</script>", W1);
	gen_policy(&g, "sts", "evil\r\nBcc: a@b<b>.example", 10, 0, 0);
	assert_int_equal(gen_end(&g, db), TRPT_OK);
	assert_int_equal(trpt_trend_refresh(db, &err), TRPT_OK);
	o.from = "tlsrpt@example.org";
	o.domain = "evil\r\nBcc: a@b<b>.example";
	assert_int_equal(trpt_summary_build(db, &o, &msg, &len, &err), TRPT_OK);
	assert_null(strstr(msg, "\r\nBcc:"));
	assert_non_null(strstr(msg, "evil??Bcc: a@b<b>.example"));
	html = part(msg, "Content-Type: text/html");
	assert_non_null(strstr(html, "evil\r\nBcc: a@b&lt;b&gt;.example"));
	assert_null(strstr(html, "<b>.example"));
	free(html);
	free(msg);

	/* A domain in UTF-8: the Subject in RFC 2047 encoded-words. */
	gen_begin(&g, "Google Inc.", W1);
	gen_policy(&g, "sts",
	    "b\xc3\xbc"
	    "cher.example",
	    10, 0, 0);
	assert_int_equal(gen_end(&g, db), TRPT_OK);
	assert_int_equal(trpt_trend_refresh(db, &err), TRPT_OK);
	o.domain = "b\xc3\xbc"
		   "cher.example";
	assert_int_equal(trpt_summary_build(db, &o, &msg, &len, &err), TRPT_OK);
	/* "TLS report 2026-W05: bücher.example: 100.00% ..." */
	assert_non_null(strstr(msg, "Subject: =?UTF-8?B?VExTIHJlcG9ydCAyMDI2"
				    "LVcwNTogYsO8Y2hlci5leGFtcGxlOiAxMDAuMDAl"
				    "?=\r\n =?UTF-8?B?"));
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_summary_message, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_summary_hostile, setup, teardown),
	};

	return cmocka_run_group_tests_name("summary", tests, NULL, NULL);
}
