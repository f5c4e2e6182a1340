/* MIME extraction (libetpan), mbox splitting and RFC 8460 file names. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/filename.h"
#include "ingest/mbox.h"
#include "ingest/mime.h"
#include "tests/helpers/testutil.h"

static struct trpt_limits lim;

static struct trpt_mime_msg *
parse_ok(const char *text)
{
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;

	if (trpt_mime_parse(text, strlen(text), &lim, &m, &err) != TRPT_OK)
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
	struct trpt_limits small = lim;
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
	    trpt_mime_parse("X: y\n\n", 6, &lim, &m, &err), TRPT_OK);
	assert_int_equal(m->nparts, 0);
	trpt_mime_free(&m);
	assert_int_equal(trpt_mime_parse("Content-Type: multipart/report; "
					 "boundary=\n\n--\n--\n",
			     46, &lim, &m, &err) == TRPT_OK ||
			     err.code == TRPT_EPARSE,
	    1);
	trpt_mime_free(&m);
}

/* Every corpus e-mail yields a report part that is gzip or JSON. */
static void
test_mime_corpus_mails(void **state)
{
	static const char *const mails[] = {
		"real/google_isseis_success_1.eml",
		"real/google_isseis_success_2.eml",
		"real/google_marcbradshaw_fastmaildmarc_no-policy-found.eml",
		"real/google_mox_test.xmox.nl_crlf.eml",
		"real/google_parsedmarc_cardinalhealth.eml",
		"real/microsoft_isseis_success.eml",
		"quirky/google-like_stalwart_rpt02_application-tlsrpt-"
		"uncompressed.eml",
		"quirky/google_isseis_failure_edited-content-mismatch.eml",
		"quirky/microsoft_mox_no-timezone-datetime_crlf.eml",
		"quirky/rfc8460-example_robalexdev_unfolded-headers.eml",
		"quirky/rfc8460-example_stalwart_rpt01.eml",
	};
	size_t i, len;

	(void)state;
	if (trpt_test_corpus("") == NULL)
		skip();
	for (i = 0; i < sizeof(mails) / sizeof(mails[0]); i++) {
		char *data = trpt_test_slurp(trpt_test_corpus(mails[i]), &len);
		struct trpt_mime_msg *m = NULL;
		struct trpt_err err;

		if (trpt_mime_parse(data, len, &lim, &m, &err) != TRPT_OK)
			fail_msg("%s: %s", mails[i], err.msg);
		if (m->nparts != 1 || !m->claims_tlsrpt ||
		    m->report_domain == NULL)
			fail_msg("%s: %zu parts, claims %d, domain %s",
			    mails[i], m->nparts, m->claims_tlsrpt,
			    m->report_domain ? m->report_domain : "-");
		if (!(m->parts[0].len > 2 &&
			((unsigned char)m->parts[0].data[0] == 0x1f ||
			    m->parts[0].data[0] == '{')))
			fail_msg("%s: part is neither gzip nor JSON", mails[i]);
		trpt_mime_free(&m);
		free(data);
	}
}

struct mbox_seen {
	int n;
	char msgs[4][256];
	int toobig[4];
};

static int
collect(void *arg, int n, const char *msg, size_t len, int toobig)
{
	struct mbox_seen *s = arg;

	assert_int_equal(n, s->n + 1);
	s->toobig[s->n] = toobig;
	if (!toobig)
		snprintf(
		    s->msgs[s->n], sizeof(s->msgs[0]), "%.*s", (int)len, msg);
	s->n++;
	return TRPT_OK;
}

static void
test_mime_mbox(void **state)
{
	static const char box[] =
	    "From a@b Mon Jan  1 00:00:00 2026\n"
	    "Subject: one\n\n>From here\n>>From there\nFrom: no\n\n"
	    "From c@d Mon Jan  1 00:00:01 2026\n"
	    "Subject: two\n\nbody two";
	struct mbox_seen s;
	struct trpt_err err;

	(void)state;
	assert_true(trpt_mbox_looks_like(box, sizeof(box) - 1));
	assert_false(trpt_mbox_looks_like("From: a@b\n", 10));
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_mbox_each(box, sizeof(box) - 1, 1000, collect, &s, &err),
	    TRPT_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.msgs[0], "Subject: one\n\nFrom here\n>From "
				       "there\nFrom: no\n");
	assert_string_equal(s.msgs[1], "Subject: two\n\nbody two");
	/* A message over the cap is flagged, not copied. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_mbox_each(box, sizeof(box) - 1, 30, collect, &s, &err),
	    TRPT_OK);
	assert_int_equal(s.n, 2);
	assert_true(s.toobig[0]);
	assert_false(s.toobig[1]);
}

static void
test_mime_filename(void **state)
{
	struct trpt_filename fn;

	(void)state;
	assert_true(trpt_filename_parse("/x/google.com!example.com!1663200000!"
					"1663286399!001.json.gz",
	    &fn));
	assert_string_equal(fn.sender, "google.com");
	assert_string_equal(fn.domain, "example.com");
	assert_int_equal(fn.begin, 1663200000);
	assert_int_equal(fn.end, 1663286399);
	assert_string_equal(fn.unique_id, "001");
	assert_true(fn.gzip);
	/* Stalwart: no unique-id */
	assert_true(trpt_filename_parse(
	    "mx.example.net!example.com!1730332800!1730419200.json", &fn));
	assert_string_equal(fn.unique_id, "");
	assert_false(fn.gzip);
	assert_false(trpt_filename_parse("report.json", &fn));
	assert_false(trpt_filename_parse("a!b!c!d.json", &fn));
	assert_false(trpt_filename_parse("a!b!1!2!x-y.json", &fn));
	assert_false(trpt_filename_parse("a!b!1!2.xml.gz", &fn));
	assert_false(trpt_filename_parse("a!b c!1!2.json", &fn));
	assert_false(trpt_filename_parse("a!b!1!2!3!4!5.json", &fn));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_report_type_forms),
		cmocka_unit_test(test_mime_encodings_and_headers),
		cmocka_unit_test(test_mime_missing_closing_boundary),
		cmocka_unit_test(test_mime_nested_and_several),
		cmocka_unit_test(test_mime_non_report),
		cmocka_unit_test(test_mime_limits_and_garbage),
		cmocka_unit_test(test_mime_corpus_mails),
		cmocka_unit_test(test_mime_mbox),
		cmocka_unit_test(test_mime_filename),
	};

	trpt_limits_default(&lim);
	return cmocka_run_group_tests_name("mime", tests, NULL, NULL);
}
