#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libetpan/libetpan.h>
#include <zlib.h>

#include "common/err.h"
#include "common/limits.h"
#include "ingest/mime.h"
#include "tests/helpers/testutil.h"

/* Expected content of a candidate part, in fixtures/mail/. */
enum content { C_NONE, C_GZ1, C_GZ2, C_JSON1, C_JSON1_CRLF_END, C_OTHER };

struct part_case {
	int index;
	const char *ctype;
	const char *filename;
	enum content content;
};

struct mail_case {
	const char *file;
	const char *message_id;
	const char *subject;
	const char *from;
	const char *domain;
	const char *submitter;
	int tlsrpt_report;
	int claims;
	size_t nparts;
	struct part_case parts[2];
};

static const struct mail_case mail_cases[] = {
	{ "report_type_unquoted.eml", "unquoted.1@sender.example",
	    "Report Domain: example.org Submitter: sender.example Report-ID: "
	    "<2024.05.01T00.00.00Z+example.org@sender.example>",
	    "noreply-smtp-tls-reporting@sender.example", "example.org",
	    "sender.example", 1, 1, 1,
	    { { 2, "application/tlsrpt+gzip",
		"sender.example!example.org!1714521600!1714607999!001.json.gz",
		C_GZ1 } } },
	{ "report_type_after_boundary.eml", "after.boundary@sender.example",
	    "report", "\"TLS Reporter\" <tlsrpt@sender.example>", "example.org",
	    "sender.example", 1, 1, 1,
	    { { 2, "application/tlsrpt+gzip",
		"sender.example!example.org!1714521600!1714607999!002.json.gz",
		C_GZ1 } } },
	{ "tlsrpt_json_qp.eml", "qp@sender.example", "qp report",
	    "tlsrpt@sender.example", "example.org", "sender.example", 1, 1, 1,
	    { { 2, "application/tlsrpt+json",
		"sender.example!example.org!1714521600!1714607999.json",
		C_JSON1_CRLF_END } } },
	{ "inline_json_7bit.eml", "inline@sender.example", "inline json",
	    "tlsrpt@sender.example", NULL, NULL, 1, 1, 1,
	    { { 2, "application/json", NULL, C_JSON1 } } },
	{ "crlf.eml", "crlf@sender.example", "crlf report",
	    "tlsrpt@sender.example", "example.org", "sender.example", 1, 1, 1,
	    { { 2, "application/tlsrpt+gzip",
		"sender.example!example.org!1714521600!1714607999!003.json.gz",
		C_GZ1 } } },
	{ "missing_close_boundary.eml", "missing.close@mail.example",
	    "Report Domain: example.org Submitter: mail.example Report-ID: "
	    "<c96d67df@mail.example>",
	    "noreply-smtp-tls-reporting@corp.mail.example", "example.org",
	    "mail.example", 1, 1, 1,
	    { { 2, "application/tlsrpt+gzip",
		"mail.example!example.org!1714521600!1714608000!001.json.gz",
		C_GZ1 } } },
	{ "two_reports.eml", "two@sender.example", "two reports",
	    "tlsrpt@sender.example", NULL, NULL, 1, 1, 2,
	    { { 2, "application/tlsrpt+gzip",
		  "sender.example!example.org!1714521600!1714607999!001.json."
		  "gz",
		  C_GZ1 },
		{ 3, "application/tlsrpt+gzip",
		    "sender.example!example.net!1714521600!1714607999!001.json."
		    "gz",
		    C_GZ2 } } },
	/* leaves: text/plain, text/html, text/plain, tlsrpt, footer */
	{ "nested_mixed.eml", "nested@lists.example",
	    "[tlsrpt] Report Domain: example.org", "list@lists.example", NULL,
	    NULL, 0, 1, 1, { { 4, "application/tlsrpt+gzip", NULL, C_GZ1 } } },
	/* a TLS-Report-Submitter header is a claim; RFC 2231 filename* */
	{ "octet_stream.eml", "octet@sender.example", "TLS report",
	    "reports@sender.example", NULL, "sender.example", 0, 1, 1,
	    { { 2, "application/octet-stream",
		"sender.example!example.org!1714521600!1714607999.json.gz",
		C_GZ1 } } },
	{ "plain_text.eml", "cron.1@host.example",
	    "Cron <root@host> run-parts /etc/cron.daily",
	    "root@host.example (Cron Daemon)", NULL, NULL, 0, 0, 0, { { 0 } } },
	/* a DMARC report: the gzip part is a candidate, no claim */
	{ "dmarc_report.eml", "dmarc@sender.example",
	    "Report domain: example.org Submitter: sender.example Report-ID: "
	    "1234",
	    "noreply-dmarc-support@sender.example", NULL, NULL, 0, 0, 1,
	    { { 2, "application/gzip",
		"sender.example!example.org!1714521600!1714607999.xml.gz",
		C_OTHER } } },
	/* a top-level single part; an RFC 2047 Subject */
	{ "single_part.eml", "single@sender.example",
	    "TLS report f\xc3\xbcr example.org", "tlsrpt@sender.example",
	    "example.org", NULL, 0, 1, 1,
	    { { 1, "application/tlsrpt+gzip",
		"sender.example!example.org!1714521600!1714607999!9.json.gz",
		C_GZ1 } } },
	/* a forwarded report: its parts and TLS-Report-* headers count */
	{ "forwarded.eml", "fwd@example.org", "Fwd: Report Domain: example.org",
	    "Postmaster <postmaster@example.org>", "example.org", NULL, 0, 1, 1,
	    { { 3, "application/tlsrpt+gzip", NULL, C_GZ1 } } },
};

static char *
gunzip(const char *data, size_t len, size_t *outlen)
{
	z_stream zs;
	size_t cap = 1 << 20;
	char *out = malloc(cap);

	assert_non_null(out);
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	*outlen = zs.total_out;
	inflateEnd(&zs);
	return out;
}

static void
assert_bytes(const char *got, size_t gotlen, const char *want, size_t wantlen)
{
	assert_int_equal(gotlen, wantlen);
	assert_memory_equal(got, want, wantlen);
}

static void
check_content(const struct trpt_mime_part *p, enum content c)
{
	const char *name =
	    c == C_GZ2 ? "mail/report2.json" : "mail/report1.json";
	size_t wlen, glen;
	char *want, *got;

	if (c == C_NONE || c == C_OTHER)
		return;
	want = trpt_test_slurp(trpt_test_fixture(name), &wlen);
	switch (c) {
	case C_GZ1:
	case C_GZ2:
		assert_true(p->len > 2);
		assert_int_equal((unsigned char)p->data[0], 0x1f);
		assert_int_equal((unsigned char)p->data[1], 0x8b);
		got = gunzip(p->data, p->len, &glen);
		assert_bytes(got, glen, want, wlen);
		free(got);
		break;
	case C_JSON1:
		assert_bytes(p->data, p->len, want, wlen);
		break;
	case C_JSON1_CRLF_END:
		/* libetpan turns a line break in quoted-printable into CRLF */
		assert_int_equal(p->len, wlen + 1);
		assert_memory_equal(p->data, want, wlen - 1);
		assert_memory_equal(p->data + wlen - 1, "\r\n", 2);
		break;
	default:
		break;
	}
	/* data is NUL-terminated for convenience */
	assert_int_equal(p->data[p->len], '\0');
	free(want);
}

static void
assert_str_or_null(const char *got, const char *want)
{
	if (want == NULL)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
}

static void
check_case(const struct mail_case *mc, const char *data, size_t len)
{
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;
	size_t i;

	assert_true(trpt_mime_looks_like_message(data, len));
	if (trpt_mime_parse(data, len, NULL, &m, &err) != TRPT_OK)
		fail_msg("%s: %s", mc->file, err.msg);
	assert_str_or_null(m->message_id, mc->message_id);
	assert_str_or_null(m->subject, mc->subject);
	assert_str_or_null(m->from, mc->from);
	assert_str_or_null(m->report_domain, mc->domain);
	assert_str_or_null(m->report_submitter, mc->submitter);
	assert_int_equal(m->tlsrpt_report, mc->tlsrpt_report);
	assert_int_equal(m->claims_tlsrpt, mc->claims);
	assert_int_equal(m->nparts, mc->nparts);
	for (i = 0; i < mc->nparts; i++) {
		const struct trpt_mime_part *p = &m->parts[i];
		const struct part_case *pc = &mc->parts[i];

		assert_int_equal(p->index, pc->index);
		assert_string_equal(p->content_type, pc->ctype);
		assert_str_or_null(p->filename, pc->filename);
		check_content(p, pc->content);
	}
	trpt_mime_free(&m);
	assert_null(m);
}

/* A copy with every line ending turned into CRLF (crlf) or LF (!crlf). */
static char *
convert_eol(const char *data, size_t len, int crlf, size_t *outlen)
{
	char *out = malloc(2 * len + 1), *o = out;
	size_t i;

	assert_non_null(out);
	for (i = 0; i < len; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		if (data[i] == '\n' && crlf)
			*o++ = '\r';
		*o++ = data[i];
	}
	*outlen = (size_t)(o - out);
	return out;
}

static void
test_mime_fixtures(void **state)
{
	size_t i, len;
	char *data;

	(void)state;
	for (i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		char rel[128];

		snprintf(rel, sizeof(rel), "mail/%s", mail_cases[i].file);
		data = trpt_test_slurp(trpt_test_fixture(rel), &len);
		check_case(&mail_cases[i], data, len);
		free(data);
	}
}

/* The same message with LF or CRLF line endings gives the same result
 * (parts not base64-encoded may differ in their line endings only). */
static void
test_mime_lf_crlf_same(void **state)
{
	size_t i, j, len, lflen, crlflen, a, b;
	char *data, *lf, *crlf;

	(void)state;
	for (i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		struct trpt_mime_msg *m1 = NULL, *m2 = NULL;
		char rel[128];

		snprintf(rel, sizeof(rel), "mail/%s", mail_cases[i].file);
		data = trpt_test_slurp(trpt_test_fixture(rel), &len);
		lf = convert_eol(data, len, 0, &lflen);
		crlf = convert_eol(data, len, 1, &crlflen);
		assert_int_equal(
		    trpt_mime_parse(lf, lflen, NULL, &m1, NULL), TRPT_OK);
		assert_int_equal(
		    trpt_mime_parse(crlf, crlflen, NULL, &m2, NULL), TRPT_OK);
		assert_str_or_null(m1->message_id, m2->message_id);
		assert_str_or_null(m1->subject, m2->subject);
		assert_str_or_null(m1->report_domain, m2->report_domain);
		assert_str_or_null(m1->report_submitter, m2->report_submitter);
		assert_int_equal(m1->claims_tlsrpt, m2->claims_tlsrpt);
		assert_int_equal(m1->tlsrpt_report, m2->tlsrpt_report);
		assert_int_equal(m1->nparts, m2->nparts);
		assert_int_equal(m1->nparts, mail_cases[i].nparts);
		for (j = 0; j < m1->nparts; j++) {
			const struct trpt_mime_part *p1 = &m1->parts[j];
			const struct trpt_mime_part *p2 = &m2->parts[j];

			assert_int_equal(p1->index, p2->index);
			assert_string_equal(p1->content_type, p2->content_type);
			assert_str_or_null(p1->filename, p2->filename);
			/* compare without CR */
			for (a = 0, b = 0; a < p1->len || b < p2->len;) {
				if (a < p1->len && p1->data[a] == '\r') {
					a++;
					continue;
				}
				if (b < p2->len && p2->data[b] == '\r') {
					b++;
					continue;
				}
				assert_true(a < p1->len && b < p2->len);
				assert_int_equal(p1->data[a], p2->data[b]);
				a++;
				b++;
			}
		}
		trpt_mime_free(&m1);
		trpt_mime_free(&m2);
		free(lf);
		free(crlf);
		free(data);
	}
}

/* A multipart/mixed message with n leaf parts, the last one JSON. */
static char *
make_parts(size_t n, size_t *len)
{
	size_t cap = 256 + n * 64, i;
	char *s = malloc(cap);
	int off;

	assert_non_null(s);
	off = snprintf(s, cap,
	    "From: a@example\nContent-Type: multipart/mixed; boundary=B\n\n");
	for (i = 0; i < n; i++)
		off += snprintf(s + off, cap - (size_t)off,
		    "--B\nContent-Type: %s\n\n{\"n\":%zu}\n",
		    i + 1 == n ? "application/json" : "text/plain", i);
	off += snprintf(s + off, cap - (size_t)off, "--B--\n");
	*len = (size_t)off;
	return s;
}

static void
test_mime_too_many_parts(void **state)
{
	struct trpt_mime_msg *m = NULL, *sentinel = (void *)&m;
	struct trpt_limits lim;
	struct trpt_err err;
	size_t len;
	char *s;

	(void)state;
	trpt_limits_default(&lim);
	assert_int_equal(lim.max_parts, 64);
	s = make_parts(64, &len);
	assert_int_equal(trpt_mime_parse(s, len, &lim, &m, &err), TRPT_OK);
	assert_int_equal(m->nparts, 1);
	assert_int_equal(m->parts[0].index, 64);
	assert_string_equal(m->parts[0].data, "{\"n\":63}");
	trpt_mime_free(&m);
	free(s);

	s = make_parts(65, &len);
	m = sentinel;
	assert_int_equal(trpt_mime_parse(s, len, &lim, &m, &err), TRPT_ELIMIT);
	assert_int_equal(err.code, TRPT_ELIMIT);
	assert_string_equal(err.msg, "more than 64 MIME parts");
	assert_ptr_equal(m, sentinel); /* out untouched on failure */
	free(s);

	/* a lower limit counts the real thing too */
	s = trpt_test_slurp(trpt_test_fixture("mail/two_reports.eml"), &len);
	lim.max_parts = 3;
	m = NULL;
	assert_int_equal(trpt_mime_parse(s, len, &lim, &m, &err), TRPT_OK);
	trpt_mime_free(&m);
	lim.max_parts = 2;
	assert_int_equal(trpt_mime_parse(s, len, &lim, &m, &err), TRPT_ELIMIT);
	assert_string_equal(err.msg, "more than 2 MIME parts");
	assert_null(m);
	free(s);
}

/* depth multiparts, each inside the one before, around one JSON part. */
static char *
make_nested(int depth, size_t *len)
{
	size_t cap = 256 + (size_t)depth * 128;
	char *s = malloc(cap);
	int off, i;

	assert_non_null(s);
	off = snprintf(s, cap, "From: a@example\n");
	for (i = 0; i < depth; i++)
		off += snprintf(s + off, cap - (size_t)off,
		    "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i,
		    i);
	off += snprintf(s + off, cap - (size_t)off,
	    "Content-Type: application/json\n\n{}\n");
	for (i = depth - 1; i >= 0; i--)
		off += snprintf(s + off, cap - (size_t)off, "--b%d--\n", i);
	*len = (size_t)off;
	return s;
}

static void
test_mime_nesting_limit(void **state)
{
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;
	size_t len;
	char *s;

	(void)state;
	s = make_nested(TRPT_MIME_MAX_DEPTH, &len);
	assert_int_equal(trpt_mime_parse(s, len, NULL, &m, &err), TRPT_OK);
	assert_int_equal(m->nparts, 1);
	assert_string_equal(m->parts[0].content_type, "application/json");
	assert_string_equal(m->parts[0].data, "{}");
	trpt_mime_free(&m);
	free(s);
	s = make_nested(TRPT_MIME_MAX_DEPTH + 1, &len);
	assert_int_equal(trpt_mime_parse(s, len, NULL, &m, &err), TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "nested deeper than 16 levels"));
	assert_null(m);
	free(s);
	/* a hostile depth fails fast, without deep recursion */
	s = make_nested(20000, &len);
	assert_int_equal(trpt_mime_parse(s, len, NULL, &m, &err), TRPT_ELIMIT);
	free(s);
}

/*
 * A decoded part never exceeds max_message, even where decoding grows the
 * bytes: libetpan's quoted-printable decoder turns each LF into CRLF.
 */
static void
test_mime_part_size_limit(void **state)
{
	static const char head[] =
	    "From: a@example\n"
	    "Content-Type: application/json\n"
	    "Content-Transfer-Encoding: quoted-printable\n"
	    "\n{";
	struct trpt_mime_msg *m = NULL;
	struct trpt_limits lim;
	struct trpt_err err;
	size_t len = sizeof(head) - 1 + 1000 + 1;
	char *s = malloc(len), want[128];

	(void)state;
	assert_non_null(s);
	memcpy(s, head, sizeof(head) - 1);
	memset(s + sizeof(head) - 1, '\n', 1000);
	s[len - 1] = '}';
	trpt_limits_default(&lim);
	lim.max_message = len;
	assert_int_equal(trpt_mime_parse(s, len, &lim, &m, &err), TRPT_ELIMIT);
	snprintf(want, sizeof(want),
	    "part 1 (application/json): decoded size exceeds %zu bytes", len);
	assert_string_equal(err.msg, want);
	assert_null(m);
	lim.max_message = 2002;
	assert_int_equal(trpt_mime_parse(s, len, &lim, &m, &err), TRPT_OK);
	assert_int_equal(m->parts[0].len, 2002);
	trpt_mime_free(&m);
	free(s);
}

static void
test_mime_message_size_limit(void **state)
{
	struct trpt_mime_msg *m = NULL;
	struct trpt_limits lim;
	struct trpt_err err;
	size_t len;
	char *s;

	(void)state;
	s = trpt_test_slurp(trpt_test_fixture("mail/plain_text.eml"), &len);
	trpt_limits_default(&lim);
	lim.max_message = len - 1;
	assert_int_equal(trpt_mime_parse(s, len, &lim, &m, &err), TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "exceeds the limit of"));
	assert_null(m);
	lim.max_message = len;
	assert_int_equal(trpt_mime_parse(s, len, &lim, &m, &err), TRPT_OK);
	trpt_mime_free(&m);
	free(s);
}

static void
test_mime_empty_and_headers_only(void **state)
{
	static const char hdr_only[] = "From: a@example\r\nSubject: hi\r\n";
	static const char no_body[] =
	    "Subject:\n  folded\n   twice\nFrom: x\n\n";
	static const char json[] = "{\"organization-name\":\"x\"}";
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;

	(void)state;
	assert_int_equal(trpt_mime_parse("", 0, NULL, &m, &err), TRPT_EPARSE);
	assert_string_equal(err.msg, "empty message");
	assert_int_equal(trpt_mime_parse(NULL, 0, NULL, &m, &err), TRPT_EPARSE);
	assert_null(m);

	assert_int_equal(
	    trpt_mime_parse(hdr_only, sizeof(hdr_only) - 1, NULL, &m, &err),
	    TRPT_OK);
	assert_string_equal(m->subject, "hi");
	assert_string_equal(m->from, "a@example");
	assert_null(m->message_id);
	assert_int_equal(m->nparts, 0);
	assert_int_equal(m->claims_tlsrpt, 0);
	trpt_mime_free(&m);

	assert_int_equal(
	    trpt_mime_parse(no_body, sizeof(no_body) - 1, NULL, &m, &err),
	    TRPT_OK);
	assert_string_equal(m->subject, "folded twice");
	assert_int_equal(m->nparts, 0);
	trpt_mime_free(&m);

	/* JSON is not a message */
	assert_false(trpt_mime_looks_like_message(json, sizeof(json) - 1));
	assert_int_equal(
	    trpt_mime_parse(json, sizeof(json) - 1, NULL, &m, &err),
	    TRPT_EPARSE);
	assert_non_null(strstr(err.msg, "no header fields"));
	assert_null(m);
}

static void
test_mime_header_quirks(void **state)
{
	static const char msg[] =
	    "From sender@example Mon Jan  1 00:00:00 2024\n" /* mbox line */
	    "Message-ID:\n <folded@example>\n"
	    "this line is garbage\n"
	    "TLS-Report-Domain:\t example.org \n"
	    "Tls-Report-Domain: second.example\n" /* the first one wins */
	    "subject: =?iso-8859-1?q?caf=E9?=\n"
	    "Content-Type: multipart/report; report-type=tlsrpt\n" /* no
								     boundary */
	    "\n"
	    "body\n";
	static const char empty_vals[] = "Message-ID: <>\nTLS-Report-Domain: "
					 "\nSubject: =?bogus\n\n";
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;

	(void)state;
	assert_int_equal(
	    trpt_mime_parse(msg, sizeof(msg) - 1, NULL, &m, &err), TRPT_OK);
	assert_string_equal(m->message_id, "folded@example");
	assert_string_equal(m->report_domain, "example.org");
	assert_string_equal(m->subject, "caf\xc3\xa9");
	assert_null(m->from);
	assert_int_equal(m->claims_tlsrpt, 1); /* by the header */
	assert_int_equal(m->tlsrpt_report, 0); /* no boundary: no multipart */
	assert_int_equal(m->nparts, 0);
	trpt_mime_free(&m);

	assert_int_equal(
	    trpt_mime_parse(empty_vals, sizeof(empty_vals) - 1, NULL, &m, &err),
	    TRPT_OK);
	assert_null(m->message_id);
	assert_null(m->report_domain);
	assert_string_equal(m->subject, "=?bogus");
	assert_int_equal(m->claims_tlsrpt, 0);
	trpt_mime_free(&m);
}

static void
test_mime_looks_like(void **state)
{
	static const struct {
		const char *s;
		int want;
	} cases[] = {
		{ "From: a@b\n\nbody", 1 },
		{ "Return-Path: <a@b>\r\nReceived: from x\r\n\tby y\r\n", 1 },
		{ "X-Mailer : old syntax\n", 1 },
		{ "Subject: only a header", 1 },
		{ "From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\n", 0 },
		{ "{\"organization-name\":\"Google Inc.\"}", 0 },
		{ "\x1f\x8b\x08\x00", 0 },
		{ "\n\nFrom: a@b\n", 0 },
		{ " continuation first\n", 0 },
		{ "From: a@b\nnot a header line\n", 0 },
		{ "no colon here\n", 0 },
		{ ": no name\n", 0 },
		{ "", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (trpt_mime_looks_like_message(
			cases[i].s, strlen(cases[i].s)) != cases[i].want)
			fail_msg("looks_like(\"%s\") != %d", cases[i].s,
			    cases[i].want);
	assert_false(trpt_mime_looks_like_message(NULL, 0));
}

/*
 * Every prefix of a real message, each in a buffer of exactly its size (so
 * that the sanitizers see any read past it), parses or fails cleanly.
 */
static void
test_mime_truncated(void **state)
{
	static const char *const files[] = { "mail/two_reports.eml",
		"mail/crlf.eml", "mail/nested_mixed.eml",
		"mail/tlsrpt_json_qp.eml" };
	struct trpt_mime_msg *m;
	struct trpt_err err;
	size_t f, n, len;
	char *data, *copy;
	int rc;

	(void)state;
	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		data = trpt_test_slurp(trpt_test_fixture(files[f]), &len);
		for (n = 0; n <= len; n++) {
			copy = malloc(n > 0 ? n : 1);
			assert_non_null(copy);
			memcpy(copy, data, n);
			m = NULL;
			rc = trpt_mime_parse(copy, n, NULL, &m, &err);
			assert_true(rc == TRPT_OK || rc == TRPT_EPARSE);
			assert_true((rc == TRPT_OK) == (m != NULL));
			trpt_mime_free(&m);
			free(copy);
		}
		free(data);
	}
}

/* A quoted-printable body that ends in a truncated escape, at the very end
 * of its buffer (libetpan would read past it). */
static void
test_mime_qp_truncated_escape(void **state)
{
	static const char msg[] =
	    "From: a@example\n"
	    "Content-Type: application/json\n"
	    "Content-Transfer-Encoding: quoted-printable\n"
	    "\n"
	    "{\"a\":=221=22}=4";
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;
	char *copy = malloc(sizeof(msg) - 1);

	(void)state;
	assert_non_null(copy);
	memcpy(copy, msg, sizeof(msg) - 1);
	assert_int_equal(
	    trpt_mime_parse(copy, sizeof(msg) - 1, NULL, &m, &err), TRPT_OK);
	assert_int_equal(m->nparts, 1);
	assert_string_equal(m->parts[0].data, "{\"a\":\"1\"}");
	trpt_mime_free(&m);
	free(copy);
}

/*
 * The base64 decoder gives libetpan's bytes: whole groups decoded four
 * characters at a time, groups split by line breaks, white space, '='
 * and garbage inside, and incomplete last groups of 2 or 3 characters
 * (a last group of one character, 6 bits, gives no byte here and a
 * partial one in libetpan: not compared).
 */
static void
test_mime_base64_as_libetpan(void **state)
{
	static const char *const bodies[] = {
		"eyJhIjoxfQ==\r\n",
		"eyJh\r\nIjox\r\nfQ==",
		"ey\r\nJhIj\r\noxfQ",
		"eyJ hIj oxf Q==",
		"e!y*J@h\tI\x01j\xffo\"xfQ=",
		"eyJhIjoxfQ=eyJh",
		"eyJhIj",
		"eyJhIjo",
		"====",
		"",
		"QUJD\nREVG\r\nR0hJ\n\nSktM===\n",
		"QUJDREVG+/+/QUJD\r\nREVGR0hJ-_QUJDREVG",
	};
	char msg[512];
	size_t i, idx, declen;
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;
	char *dec;
	int n;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		n = snprintf(msg, sizeof(msg),
		    "From: a@example\n"
		    "Content-Type: application/json\n"
		    "Content-Transfer-Encoding: base64\n"
		    "\n%s",
		    bodies[i]);
		assert_true(n > 0 && (size_t)n < sizeof(msg));
		assert_int_equal(
		    trpt_mime_parse(msg, (size_t)n, NULL, &m, &err), TRPT_OK);
		assert_int_equal(m->nparts, 1);
		idx = 0;
		dec = NULL;
		assert_int_equal(
		    mailmime_part_parse(bodies[i], strlen(bodies[i]), &idx,
			MAILMIME_MECHANISM_BASE64, &dec, &declen),
		    MAILIMF_NO_ERROR);
		if (m->parts[0].len != declen ||
		    memcmp(m->parts[0].data, dec, declen) != 0)
			fail_msg("body %zu: %zu bytes, libetpan %zu", i,
			    m->parts[0].len, declen);
		mailmime_decoded_part_free(dec);
		trpt_mime_free(&m);
	}
}

/*
 * Delimiter lines are found among lines that begin with '-' but are none
 * ("-- " signatures, "---", a longer boundary, one not at a line start).
 */
static void
test_mime_dash_lines(void **state)
{
	static const char msg[] =
	    "From: a@example\n"
	    "Content-Type: multipart/mixed; boundary=\"b-1\"\n"
	    "\n"
	    "-- \n"
	    "--b-1\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "---\n"
	    "-- x --b-1\n"
	    "--b-12\n"
	    "--b-1x\n"
	    "--b-1 \t\n"
	    "Content-Type: application/json\n"
	    "\n"
	    "{\"a\":1}\n"
	    "-\n"
	    "--b-1--\n"
	    "--b-1\n"
	    "Content-Type: application/json\n"
	    "\n"
	    "{}\n";
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;

	(void)state;
	assert_int_equal(
	    trpt_mime_parse(msg, sizeof(msg) - 1, NULL, &m, &err), TRPT_OK);
	assert_int_equal(m->nparts, 1);
	assert_int_equal(m->parts[0].index, 2);
	assert_string_equal(m->parts[0].data, "{\"a\":1}\n-");
	trpt_mime_free(&m);
}

/* Random bytes, and a real message with random bytes changed. */
static void
test_mime_garbage(void **state)
{
	struct trpt_mime_msg *m;
	struct trpt_err err;
	uint32_t x = 12345;
	size_t i, k, len;
	char *data, *buf;
	int rc;

	(void)state;
	buf = malloc(4096);
	assert_non_null(buf);
	for (k = 0; k < 200; k++) {
		size_t n = 1 + k * 20;

		for (i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (char)(x >> 16);
		}
		m = NULL;
		rc = trpt_mime_parse(buf, n, NULL, &m, &err);
		assert_true(rc == TRPT_OK || rc == TRPT_EPARSE);
		trpt_mime_free(&m);
	}
	free(buf);
	data =
	    trpt_test_slurp(trpt_test_fixture("mail/nested_mixed.eml"), &len);
	for (k = 0; k < 500; k++) {
		buf = malloc(len);
		assert_non_null(buf);
		memcpy(buf, data, len);
		for (i = 0; i < 8; i++) {
			x = x * 1103515245u + 12345u;
			buf[(x >> 8) % len] = "\n\r-:;\"=\0 Bx"[(x >> 4) % 12];
		}
		m = NULL;
		rc = trpt_mime_parse(buf, len, NULL, &m, &err);
		assert_true(
		    rc == TRPT_OK || rc == TRPT_EPARSE || rc == TRPT_ELIMIT);
		trpt_mime_free(&m);
		free(buf);
	}
	free(data);
}

/*
 * The real and quirky report mails of the corpus.  Known files are checked
 * field by field; any other .eml must still yield a report part.
 */
struct corpus_case {
	const char *file;
	const char *domain;
	const char *submitter;
	const char *message_id;
	const char *ctype;
	const char *attachment; /* the part's bytes as extracted, or NULL */
};

static const struct corpus_case corpus_cases[] = {
	{ "real/google_isseis_success_1.eml", "example.com", "google.com",
	    "6a034af0.00000000.3a4de4.4c68tls@google.com",
	    "application/tlsrpt+gzip", NULL },
	{ "real/google_isseis_success_2.eml", "example.com", "google.com",
	    "6a049c05.00000000.3554e0.3524tls@google.com",
	    "application/tlsrpt+gzip", NULL },
	{ "real/google_marcbradshaw_fastmaildmarc_no-policy-found.eml",
	    "fastmaildmarc.com", "google.com",
	    "00000000000013b408059ff0b6f0@google.com",
	    "application/tlsrpt+gzip",
	    "real/google_marcbradshaw_fastmaildmarc_no-policy-found.json.gz" },
	{ "real/google_mox_test.xmox.nl_crlf.eml", "test.xmox.nl", "google.com",
	    "000000000000f47cc505e8c8905c@google.com",
	    "application/tlsrpt+gzip",
	    "real/google_mox_test.xmox.nl_attachment.json.gz" },
	{ "real/google_parsedmarc_cardinalhealth.eml", "cardinalhealth.ca",
	    "google.com", "66d83c20.050a0220.a0566.1e8dtls@google.com",
	    "application/tlsrpt+gzip",
	    "real/google_parsedmarc_cardinalhealth_attachment.json.gz" },
	{ "real/microsoft_isseis_success.eml", "example.com", "microsoft.com",
	    "134232617934286362+example.com@example.com",
	    "application/tlsrpt+gzip", NULL },
	{ "quirky/google-like_stalwart_rpt02_application-tlsrpt-"
	  "uncompressed.eml",
	    "example.net", "mail.sender.example.com", NULL,
	    "application/tlsrpt", NULL },
	{ "quirky/google_isseis_failure_edited-content-mismatch.eml",
	    "example.com", "google.com",
	    "6a049c05.00000000.3554e0.3524tls@google.com",
	    "application/tlsrpt+gzip", NULL },
	{ "quirky/microsoft_mox_no-timezone-datetime_crlf.eml", "test.xmox.nl",
	    "microsoft.com", "133198585438131172+test.xmox.nl@test.xmox.nl",
	    "application/tlsrpt+gzip",
	    "quirky/microsoft_mox_no-timezone-datetime_attachment.json.gz" },
	{ "quirky/rfc8460-example_robalexdev_unfolded-headers.eml",
	    "example.net", "mail.sender.example.com", NULL,
	    "application/tlsrpt+gzip", NULL },
	{ "quirky/rfc8460-example_stalwart_rpt01.eml", "example.net",
	    "mail.sender.example.com", NULL, "application/tlsrpt+gzip", NULL },
};

static const struct corpus_case *
corpus_lookup(const char *rel)
{
	size_t i;

	for (i = 0; i < sizeof(corpus_cases) / sizeof(corpus_cases[0]); i++)
		if (strcmp(corpus_cases[i].file, rel) == 0)
			return &corpus_cases[i];
	return NULL;
}

static void
check_corpus_mail(const char *rel, const char *path)
{
	const struct corpus_case *cc = corpus_lookup(rel);
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;
	size_t len, i, alen, good = 0;
	char *data, *att, *apath;

	data = trpt_test_slurp(path, &len);
	assert_true(trpt_mime_looks_like_message(data, len));
	if (trpt_mime_parse(data, len, NULL, &m, &err) != TRPT_OK)
		fail_msg("%s: %s", rel, err.msg);
	if (!m->claims_tlsrpt || !m->tlsrpt_report)
		fail_msg("%s: not recognised as a TLS report", rel);
	for (i = 0; i < m->nparts; i++) {
		const struct trpt_mime_part *p = &m->parts[i];

		if (p->len >= 2 && (((unsigned char)p->data[0] == 0x1f &&
					(unsigned char)p->data[1] == 0x8b) ||
				       p->data[0] == '{'))
			good++;
	}
	if (good == 0)
		fail_msg("%s: no part with gzip or JSON bytes", rel);
	if (cc != NULL) {
		assert_str_or_null(m->report_domain, cc->domain);
		assert_str_or_null(m->report_submitter, cc->submitter);
		assert_str_or_null(m->message_id, cc->message_id);
		assert_int_equal(m->nparts, 1);
		assert_string_equal(m->parts[0].content_type, cc->ctype);
		assert_non_null(m->parts[0].filename);
		if (cc->attachment != NULL) {
			apath = strdup(trpt_test_corpus(cc->attachment));
			assert_non_null(apath);
			att = trpt_test_slurp(apath, &alen);
			assert_bytes(
			    m->parts[0].data, m->parts[0].len, att, alen);
			free(att);
			free(apath);
		}
	} else
		fprintf(stderr, "# %s: new corpus file, generic checks only\n",
		    rel);
	trpt_mime_free(&m);
	free(data);
}

static void
test_mime_corpus(void **state)
{
	static const char *const dirs[] = { "real", "quirky" };
	struct dirent *e;
	size_t d, seen = 0, known = 0;
	char rel[512], path[2048];
	const char *dp;
	DIR *dir;

	(void)state;
	for (d = 0; d < 2; d++) {
		dp = trpt_test_corpus(dirs[d]);
		if (dp == NULL)
			return; /* the helper printed a note */
		dir = opendir(dp);
		if (dir == NULL)
			fail_msg("cannot open %s", dp);
		snprintf(path, sizeof(path), "%s", dp);
		while ((e = readdir(dir)) != NULL) {
			size_t n = strlen(e->d_name);
			char full[2048 + 512];

			if (n < 4 || strcmp(e->d_name + n - 4, ".eml") != 0)
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", dirs[d], e->d_name);
			snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
			check_corpus_mail(rel, full);
			seen++;
			if (corpus_lookup(rel) != NULL)
				known++;
		}
		closedir(dir);
	}
	/* every file named above was found */
	assert_int_equal(known, sizeof(corpus_cases) / sizeof(corpus_cases[0]));
	assert_true(seen >= known);
}

/* Tests from the first implementation (main), kept as they were. */
static struct trpt_limits deflim;

static struct trpt_mime_msg *
parse_ok(const char *text)
{
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;

	if (trpt_mime_parse(text, strlen(text), &deflim, &m, &err) != TRPT_OK)
		fail_msg("parse failed: %s", err.msg);
	return m;
}

#define JSON "{\"report-id\":\"x\"}"

/* report-type quoted or not, before or after the boundary; LF or CRLF. */
static void
test_mime_report_type_forms(void **state)
{
	static const char *const forms[] = {
		"Content-Type: multipart/report; report-type=tlsrpt; "
		"boundary=\"B\"\n",
		"Content-Type: multipart/report; boundary=\"B\"; "
		"report-type=\"tlsrpt\"\n",
		"Content-Type: multipart/report;\n\tboundary=\"B\";\n "
		"report-type=TLSRPT\n",
	};
	char msg[1024];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		struct trpt_mime_msg *m;

		snprintf(msg, sizeof(msg),
		    "From: a@b\nSubject: Report Domain: example.com\n"
		    " Submitter: b Report-ID: <1@b>\nMIME-Version: 1.0\n%s\n"
		    "--B\nContent-Type: text/plain\n\nhuman\n"
		    "--B\nContent-Type: application/tlsrpt+json\n\n" JSON
		    "\n--B--\n",
		    forms[i]);
		m = parse_ok(msg);
		assert_true(m->tlsrpt_report);
		assert_true(m->claims_tlsrpt);
		assert_int_equal(m->nparts, 1);
		assert_string_equal(
		    m->parts[0].content_type, "application/tlsrpt+json");
		assert_int_equal(m->parts[0].index, 2);
		assert_non_null(strstr(m->parts[0].data, JSON));
		/* the folded Subject comes back on one line */
		assert_string_equal(m->subject,
		    "Report Domain: example.com "
		    "Submitter: b Report-ID: <1@b>");
		trpt_mime_free(&m);
		assert_null(m);
	}
}

static void
test_mime_encodings_and_headers(void **state)
{
	static const char crlf[] =
	    "From: a@b\r\nMessage-ID: <id-1@sender.example>\r\n"
	    "TLS-Report-Domain:  example.com \r\n"
	    "TLS-Report-Submitter: sender.example\r\n"
	    "Content-Type: multipart/report; report-type=tlsrpt; boundary=Z\r\n"
	    "\r\n--Z\r\n"
	    "Content-Type: application/tlsrpt+json\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "{\"report-id\"=3A\"a=3Db\",=\r\n\"x\":1}\r\n"
	    "--Z\r\n"
	    "Content-Type: application/tlsrpt+gzip; name=\"n!example.com!1!2."
	    "json.gz\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "H4sIAAAAAAACA6tWKkotyC8q0c1MUbJSqlCqBQDqGf0sEQAAAA==\r\n"
	    "--Z--\r\n";
	struct trpt_mime_msg *m = parse_ok(crlf);

	(void)state;
	assert_string_equal(m->message_id, "id-1@sender.example");
	assert_string_equal(m->report_domain, "example.com");
	assert_string_equal(m->report_submitter, "sender.example");
	assert_int_equal(m->nparts, 2);
	assert_string_equal(
	    m->parts[0].data, "{\"report-id\":\"a=b\",\"x\":1}");
	assert_string_equal(m->parts[1].filename, "n!example.com!1!2.json.gz");
	assert_true((unsigned char)m->parts[1].data[0] == 0x1f &&
		    (unsigned char)m->parts[1].data[1] == 0x8b);
	trpt_mime_free(&m);
}

/* Mail.ru ends without the closing delimiter; parts must still come. */
static void
test_mime_missing_closing_boundary(void **state)
{
	struct trpt_mime_msg *m = parse_ok(
	    "From: a@b\nContent-Type: multipart/report; report-type=\"tlsrpt\";"
	    "\n boundary=\"----=_Part\"\n\n------=_Part\nContent-Type: "
	    "text/plain\n\nhi\n------=_Part\nContent-Type: "
	    "application/tlsrpt+json\n\n" JSON "\n");

	(void)state;
	assert_int_equal(m->nparts, 1);
	assert_non_null(strstr(m->parts[0].data, JSON));
	trpt_mime_free(&m);
}

/* Two reports, one nested in multipart/mixed, one forwarded. */
static void
test_mime_nested_and_several(void **state)
{
	struct trpt_mime_msg *m = parse_ok(
	    "From: a@b\nContent-Type: multipart/mixed; boundary=O\n\n"
	    "--O\nContent-Type: multipart/mixed; boundary=I\n\n"
	    "--I\nContent-Type: application/octet-stream\n"
	    "Content-Disposition: attachment; filename=\"r1.json\"\n\n" JSON
	    "\n--I--\n"
	    "--O\nContent-Type: message/rfc822\n\n"
	    "From: c@d\nContent-Type: application/tlsrpt+json\n\n" JSON "\n"
	    "--O--\n");

	(void)state;
	assert_int_equal(m->nparts, 2);
	assert_string_equal(
	    m->parts[0].content_type, "application/octet-stream");
	assert_string_equal(m->parts[0].filename, "r1.json");
	assert_string_equal(
	    m->parts[1].content_type, "application/tlsrpt+json");
	assert_true(m->claims_tlsrpt); /* a tlsrpt part */
	assert_false(m->tlsrpt_report);
	trpt_mime_free(&m);
}

static void
test_mime_non_report(void **state)
{
	struct trpt_mime_msg *m =
	    parse_ok("From: Cron <root@host>\nSubject: daily\n\nall fine\n");

	(void)state;
	assert_int_equal(m->nparts, 0);
	assert_false(m->claims_tlsrpt);
	trpt_mime_free(&m);
	/* A DMARC report: a candidate part, but no claim to be TLS-RPT. */
	m = parse_ok("From: a@b\nContent-Type: application/gzip; "
		     "name=\"google.com!example.com!1!2.xml.gz\"\n"
		     "Content-Transfer-Encoding: "
		     "base64\n\nH4sIAAAAAAAAAwMAAAAAAAAAAAA=\n");
	assert_int_equal(m->nparts, 1);
	assert_false(m->claims_tlsrpt);
	trpt_mime_free(&m);
}

static void
test_mime_limits_and_garbage(void **state)
{
	struct trpt_limits small = deflim;
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;
	char *msg = malloc(65536), *o = msg;
	int i;

	(void)state;
	o += sprintf(o, "From: a@b\nContent-Type: multipart/mixed; "
			"boundary=P\n\n");
	for (i = 0; i < 10; i++)
		o += sprintf(o, "--P\nContent-Type: text/plain\n\n%d\n", i);
	sprintf(o, "--P--\n");
	small.max_parts = 9;
	assert_int_equal(
	    trpt_mime_parse(msg, strlen(msg), &small, &m, &err), TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "more than 9 MIME parts"));
	assert_null(m);
	small.max_parts = 10;
	assert_int_equal(
	    trpt_mime_parse(msg, strlen(msg), &small, &m, &err), TRPT_OK);
	trpt_mime_free(&m);
	small.max_message = 10;
	assert_int_equal(
	    trpt_mime_parse(msg, strlen(msg), &small, &m, &err), TRPT_ELIMIT);
	free(msg);

	/* Never a crash on junk; the header sniffing is strict. */
	assert_false(trpt_mime_looks_like_message("\x01\x02", 2));
	assert_false(trpt_mime_looks_like_message("no colon here\n", 14));
	assert_false(trpt_mime_looks_like_message(":empty name", 11));
	assert_true(trpt_mime_looks_like_message("Received: x\n", 12));
	assert_int_equal(
	    trpt_mime_parse("X: y\n\n", 6, &deflim, &m, &err), TRPT_OK);
	assert_int_equal(m->nparts, 0);
	trpt_mime_free(&m);
	assert_int_equal(trpt_mime_parse("Content-Type: multipart/report; "
					 "boundary=\n\n--\n--\n",
			     46, &deflim, &m, &err) == TRPT_OK ||
			     err.code == TRPT_EPARSE,
	    1);
	trpt_mime_free(&m);
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * The hand-written reader of simple Content-Type and Content-Disposition
 * values gives what libetpan gives: on simple values, on values near them
 * that it leaves to libetpan (comments, quoted pairs, white space or 8-bit
 * bytes in quotes, unknown types, libetpan's own disposition parameters,
 * too many parameters), and on broken ones.
 */
static void
test_mime_simple_fields_as_libetpan(void **state)
{
	static const char *const ctypes[] = {
		"application/tlsrpt+gzip",
		"Application/TLSRPT+GZIP; "
		"name=\"google.com!example.com!1.json.gz\"",
		"multipart/report; report-type=\"tlsrpt\"; boundary=\"=_b01\"",
		"multipart/report;boundary=abc;report-type=TLSRPT",
		"multipart/mixed; boundary=\"----=_Part_1_2.3\"",
		"text/plain; charset=\"UTF-8\"",
		"text/plain; charset=utf-8; format=flowed",
		"application/octet-stream; name*=UTF-8''r%C3%A9port.json.gz",
		"application/json; name=a.json; name=b.json",
		"application/json; NAME=\"x.json\"",
		"application/gzip ; name = x.gz",
		"application/json; name=\"\"",
		"application/json; name=\"a b.json\"",
		"application/json; name=\"a\\\"b\"",
		"application/json (comment); name=x",
		"application/json; name=x;",
		"application/json; name",
		"application/json;",
		"application/",
		"/json",
		"x-foo/bar; name=y",
		"foo/bar; name=y",
		"application/json; name=\"caf\xc3\xa9.json\"",
		"application/json garbage",
		"application/json; =x",
		"multipart/report; boundary=\"b\"; report-type=tlsrpt; "
		"a=1; b=2; c=3; d=4; e=5; f=6; g=7; h=8; i=9; j=10; k=11; "
		"l=12; m=13; n=14; o=15",
		"",
		"   ",
	};
	static const char *const dispositions[] = {
		"attachment",
		"attachment; filename=\"google.com!example.com!1.json.gz\"",
		"Attachment; FILENAME=x.json",
		"inline; filename=\"\"; filename=y.json",
		"attachment; filename*=UTF-8''a%20b.json",
		"attachment; size=12; filename=x.json",
		"attachment; size=abc; filename=x.json",
		"attachment; creation-date=\"Wed, 12 Feb 1997 16:29:51 "
		"-0500\"; "
		"filename=x",
		"form-data; name=x; filename=y",
		"attachment; filename=\"a b.json\"",
		"attachment; filename=x;",
		"attachment filename=x",
		"",
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(ctypes) / sizeof(ctypes[0]); i++)
		for (j = 0; j < sizeof(dispositions) / sizeof(dispositions[0]);
		     j++) {
			char *c[2], *b[2], *r[2], *f[2];
			int k;

			for (k = 0; k < 2; k++)
				assert_int_equal(trpt__mime_fields(ctypes[i],
						     dispositions[j], k, &c[k],
						     &b[k], &r[k], &f[k]),
				    TRPT_OK);
			if (!same_str(c[0], c[1]) || !same_str(b[0], b[1]) ||
			    !same_str(r[0], r[1]) || !same_str(f[0], f[1]))
				fail_msg("[%s] [%s]: libetpan %s %s %s %s, "
					 "fast path %s %s %s %s",
				    ctypes[i], dispositions[j], c[0], b[0],
				    r[0], f[0], c[1], b[1], r[1], f[1]);
			for (k = 0; k < 2; k++) {
				free(c[k]);
				free(b[k]);
				free(r[k]);
				free(f[k]);
			}
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_fixtures),
		cmocka_unit_test(test_mime_lf_crlf_same),
		cmocka_unit_test(test_mime_too_many_parts),
		cmocka_unit_test(test_mime_nesting_limit),
		cmocka_unit_test(test_mime_part_size_limit),
		cmocka_unit_test(test_mime_message_size_limit),
		cmocka_unit_test(test_mime_empty_and_headers_only),
		cmocka_unit_test(test_mime_header_quirks),
		cmocka_unit_test(test_mime_looks_like),
		cmocka_unit_test(test_mime_truncated),
		cmocka_unit_test(test_mime_qp_truncated_escape),
		cmocka_unit_test(test_mime_base64_as_libetpan),
		cmocka_unit_test(test_mime_dash_lines),
		cmocka_unit_test(test_mime_garbage),
		cmocka_unit_test(test_mime_corpus),
		cmocka_unit_test(test_mime_report_type_forms),
		cmocka_unit_test(test_mime_encodings_and_headers),
		cmocka_unit_test(test_mime_missing_closing_boundary),
		cmocka_unit_test(test_mime_nested_and_several),
		cmocka_unit_test(test_mime_non_report),
		cmocka_unit_test(test_mime_limits_and_garbage),
		cmocka_unit_test(test_mime_simple_fields_as_libetpan),
	};

	trpt_limits_default(&deflim);
	return cmocka_run_group_tests_name("mime", tests, NULL, NULL);
}
