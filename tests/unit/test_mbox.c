#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "ingest/mbox.h"
#include "ingest/mime.h"
#include "tests/helpers/testutil.h"

#define MAXMSG 8

struct seen {
	int count;
	int n[MAXMSG];
	char *msg[MAXMSG];
	size_t len[MAXMSG];
	int toobig[MAXMSG];
	int stop_at; /* return TRPT_EPARSE for this message number */
};

static int
collect(void *arg, int n, const char *msg, size_t msglen, int toobig)
{
	struct seen *s = arg;

	assert_true(s->count < MAXMSG);
	s->n[s->count] = n;
	s->msg[s->count] = malloc(msglen + 1);
	assert_non_null(s->msg[s->count]);
	memcpy(s->msg[s->count], msg, msglen);
	s->msg[s->count][msglen] = '\0';
	s->len[s->count] = msglen;
	s->toobig[s->count] = toobig;
	s->count++;
	return n == s->stop_at ? TRPT_EPARSE : TRPT_OK;
}

static void
seen_free(struct seen *s)
{
	int i;

	for (i = 0; i < s->count; i++)
		free(s->msg[i]);
}

static int
run(const char *data, size_t len, size_t max, struct seen *s)
{
	struct trpt_err err;

	memset(s, 0, sizeof(*s));
	return trpt_mbox_each(data, len, max, collect, s, &err);
}

static void
test_mbox_looks_like(void **state)
{
	(void)state;
	assert_true(trpt_mbox_looks_like("From a@b Mon Jan 1\n", 19));
	assert_false(trpt_mbox_looks_like("From: a@b\n", 10));
	assert_false(trpt_mbox_looks_like("Received: x\n", 12));
	assert_false(trpt_mbox_looks_like("From", 4));
	assert_false(trpt_mbox_looks_like("", 0));
	assert_false(trpt_mbox_looks_like(NULL, 0));
	assert_false(trpt_mbox_looks_like(">From a\n", 8));
}

static void
test_mbox_three_messages(void **state)
{
	struct seen s;
	size_t len;
	char *data =
	    trpt_test_slurp(trpt_test_fixture("mbox/three.mbox"), &len);

	(void)state;
	assert_true(trpt_mbox_looks_like(data, len));
	assert_int_equal(run(data, len, 1 << 20, &s), TRPT_OK);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.n[0], 1);
	assert_int_equal(s.n[1], 2);
	assert_int_equal(s.n[2], 3);
	/* separator removed, header first */
	assert_true(
	    strncmp(s.msg[0], "From: noreply-smtp-tls-reporting@", 33) == 0);
	assert_true(strncmp(s.msg[1], "From: <tlsrpt-noreply@", 22) == 0);
	assert_true(strncmp(s.msg[2], "From: someone@example.net\n", 26) == 0);
	/* one level of quoting removed */
	assert_non_null(strstr(
	    s.msg[0], "\nFrom here on the line was quoted by the writer.\n"));
	assert_non_null(strstr(s.msg[0], "\n>From mboxrd quotes quoted"));
	assert_non_null(strstr(s.msg[0], "\n> From with a space is not"));
	assert_non_null(strstr(s.msg[0], "\nFromage is no separator"));
	assert_null(strstr(s.msg[0], ">>From"));
	/* the blank line before the next separator is not the message's */
	assert_int_equal(s.msg[0][s.len[0] - 1], '\n');
	assert_int_not_equal(s.msg[0][s.len[0] - 2], '\n');
	assert_string_equal(s.msg[1] + s.len[1] - 14, "\nSecond body.\n");
	/* the last message keeps its bytes, with no trailing newline */
	assert_string_equal(s.msg[2] + s.len[2] - 8, "the end.");
	assert_int_equal(s.toobig[0] | s.toobig[1] | s.toobig[2], 0);
	seen_free(&s);
	free(data);
}

static void
test_mbox_crlf(void **state)
{
	struct seen s;
	size_t len;
	char *data = trpt_test_slurp(trpt_test_fixture("mbox/crlf.mbox"), &len);

	(void)state;
	assert_int_equal(run(data, len, 1 << 20, &s), TRPT_OK);
	assert_int_equal(s.count, 2);
	assert_string_equal(
	    s.msg[0], "Subject: crlf one\r\n\r\nline\r\nFrom quoted\r\n");
	assert_string_equal(s.msg[1], "Subject: crlf two\r\n\r\nlast\r\n");
	seen_free(&s);
	free(data);
}

static void
test_mbox_no_trailing_newline(void **state)
{
	static const char data[] = "From x\nSubject: a\n\nbody";
	static const char sep_only[] = "From x";
	struct seen s;

	(void)state;
	assert_int_equal(run(data, sizeof(data) - 1, 100, &s), TRPT_OK);
	assert_int_equal(s.count, 1);
	assert_string_equal(s.msg[0], "Subject: a\n\nbody");
	seen_free(&s);
	/* a separator line alone is an empty message */
	assert_int_equal(run(sep_only, sizeof(sep_only) - 1, 100, &s), TRPT_OK);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.len[0], 0);
	seen_free(&s);
}

static void
test_mbox_too_big(void **state)
{
	static const char data[] =
	    "From a\nSubject: small\n\nok\n\n"
	    "From b\nSubject: big\n\n0123456789abcdef\n\n"
	    "From c\nSubject: small\n\n>From x\n";
	struct seen s;

	(void)state;
	assert_int_equal(run(data, sizeof(data) - 1, 23, &s), TRPT_OK);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.toobig[0], 0);
	assert_string_equal(s.msg[0], "Subject: small\n\nok\n");
	/* the big one: flagged, its first max bytes passed as stored */
	assert_int_equal(s.toobig[1], TRPT_ELIMIT);
	assert_int_equal(s.len[1], 23);
	assert_string_equal(s.msg[1], "Subject: big\n\n012345678");
	/* the next message is still read; 24 bytes stored, 23 unquoted */
	assert_int_equal(s.toobig[2], 0);
	assert_string_equal(s.msg[2], "Subject: small\n\nFrom x\n");
	seen_free(&s);
}

static void
test_mbox_callback_stops(void **state)
{
	static const char data[] =
	    "From a\n\n1\n\nFrom b\n\n2\n\nFrom c\n\n3\n";
	struct seen s;
	struct trpt_err err;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	assert_int_equal(
	    trpt_mbox_each(data, sizeof(data) - 1, 100, collect, &s, &err),
	    TRPT_EPARSE);
	assert_int_equal(s.count, 2);
	seen_free(&s);
}

static void
test_mbox_not_an_mbox(void **state)
{
	static const char data[] = "Subject: x\n\nFrom a\n";
	struct seen s;
	struct trpt_err err;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_mbox_each(data, sizeof(data) - 1, 100, collect, &s, &err),
	    TRPT_EPARSE);
	assert_int_equal(err.code, TRPT_EPARSE);
	assert_non_null(strstr(err.msg, "not an mbox"));
	assert_int_equal(s.count, 0);
	/* empty data: an empty mailbox */
	assert_int_equal(
	    trpt_mbox_each("", 0, 100, collect, &s, &err), TRPT_OK);
	assert_int_equal(s.count, 0);
}

/* Report mails stored in an mbox come out whole and parse as such. */
static int
parse_report(void *arg, int n, const char *msg, size_t msglen, int toobig)
{
	struct trpt_mime_msg *m = NULL;
	struct trpt_err err;
	int *count = arg;

	assert_int_equal(toobig, 0);
	assert_true(trpt_mime_looks_like_message(msg, msglen));
	if (trpt_mime_parse(msg, msglen, NULL, &m, &err) != TRPT_OK)
		fail_msg("message %d: %s", n, err.msg);
	assert_string_equal(m->report_domain, "example.org");
	assert_int_equal(m->tlsrpt_report, 1);
	assert_int_equal(m->nparts, 1);
	assert_true((unsigned char)m->parts[0].data[0] == 0x1f ||
		    m->parts[0].data[0] == '{');
	trpt_mime_free(&m);
	(*count)++;
	return TRPT_OK;
}

static void
test_mbox_of_report_mails(void **state)
{
	static const char *const files[] = { "mail/report_type_unquoted.eml",
		"mail/missing_close_boundary.eml", "mail/tlsrpt_json_qp.eml" };
	struct trpt_err err;
	size_t i, len, off = 0, cap = 1 << 16;
	char *mbox = malloc(cap), *data;
	int count = 0;

	(void)state;
	assert_non_null(mbox);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		data = trpt_test_slurp(trpt_test_fixture(files[i]), &len);
		off += (size_t)snprintf(mbox + off, cap - off,
		    "From tlsrpt@sender.example Thu May  2 00:00:0%zu 2024\n",
		    i);
		assert_true(off + len + 1 < cap);
		memcpy(mbox + off, data, len);
		off += len;
		mbox[off++] = '\n';
		free(data);
	}
	assert_true(trpt_mbox_looks_like(mbox, off));
	assert_int_equal(
	    trpt_mbox_each(mbox, off, 1 << 20, parse_report, &count, &err),
	    TRPT_OK);
	assert_int_equal(count, 3);
	free(mbox);
}

/* From the first implementation's tests (main). */
struct mbox_seen {
	int n;
	char msgs[4][256];
	int toobig[4];
};

static int
collect_lead(void *arg, int n, const char *msg, size_t len, int toobig)
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
test_mbox_quoting_example(void **state)
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
	    trpt_mbox_each(box, sizeof(box) - 1, 1000, collect_lead, &s, &err),
	    TRPT_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.msgs[0], "Subject: one\n\nFrom here\n>From "
				       "there\nFrom: no\n");
	assert_string_equal(s.msgs[1], "Subject: two\n\nbody two");
	/* A message over the cap is flagged, not copied. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_mbox_each(box, sizeof(box) - 1, 30, collect_lead, &s, &err),
	    TRPT_OK);
	assert_int_equal(s.n, 2);
	assert_true(s.toobig[0]);
	assert_false(s.toobig[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mbox_looks_like),
		cmocka_unit_test(test_mbox_three_messages),
		cmocka_unit_test(test_mbox_crlf),
		cmocka_unit_test(test_mbox_no_trailing_newline),
		cmocka_unit_test(test_mbox_too_big),
		cmocka_unit_test(test_mbox_callback_stops),
		cmocka_unit_test(test_mbox_not_an_mbox),
		cmocka_unit_test(test_mbox_of_report_mails),
		cmocka_unit_test(test_mbox_quoting_example),
	};
	return cmocka_run_group_tests_name("mbox", tests, NULL, NULL);
}
