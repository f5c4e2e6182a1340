/*
 * ingest/dkim: alignment, contact-info domains, settings, the judgement
 * of verdicts, and, against a real nsd on loopback started by
 * tests/helpers/dkimlab.py (keys made and mails signed at test time): the
 * key cache and its TTL on a clock the test moves, the key's service
 * type, the cap on signatures, and hostile messages.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest/dkim.h"
#include "tests/helpers/testutil.h"

/* The lab: nsd serving keys, and the mails signed with them. */
struct lab {
	pid_t pid;
	FILE *to;   /* its standard input */
	FILE *from; /* its standard output */
	char *tmp;
	char ns[32];
};

static struct lab lab;

static int
lab_start(void **state)
{
	int in[2], out[2];
	char script[4096], line[64];
	const char *root = getenv("TRPT_SOURCE_ROOT");

	(void)state;
	if (root == NULL)
		root = ".";
	snprintf(script, sizeof(script), "%s/tests/helpers/dkimlab.py", root);
	lab.tmp = trpt_test_tmpdir();
	if (pipe(in) != 0 || pipe(out) != 0)
		return -1;
	lab.pid = fork();
	if (lab.pid < 0)
		return -1;
	if (lab.pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl("/usr/bin/python3", "python3", script, lab.tmp,
		    (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	lab.to = fdopen(in[1], "w");
	lab.from = fdopen(out[0], "r");
	if (lab.to == NULL || lab.from == NULL ||
	    fgets(line, sizeof(line), lab.from) == NULL) {
		fprintf(stderr, "# the DKIM lab did not start (nsd, dkimpy)\n");
		return -1;
	}
	snprintf(lab.ns, sizeof(lab.ns), "127.0.0.1:%d", atoi(line));
	return 0;
}

static int
lab_stop(void **state)
{
	int st;

	(void)state;
	if (lab.to != NULL)
		fclose(lab.to);
	if (lab.pid > 0)
		waitpid(lab.pid, &st, 0);
	if (lab.from != NULL)
		fclose(lab.from);
	if (lab.tmp != NULL) {
		trpt_test_rmrf(lab.tmp);
		free(lab.tmp);
	}
	return 0;
}

/* Stops nsd, keeping the lab's files. */
static void
lab_stop_dns(void)
{
	char line[64];

	fputs("stop\n", lab.to);
	fflush(lab.to);
	assert_non_null(fgets(line, sizeof(line), lab.from));
	assert_string_equal(line, "stopped\n");
}

static char *
lab_mail(const char *name, size_t *len)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.eml", lab.tmp, name);
	return trpt_test_slurp(path, len);
}

static int64_t fake_now;

static int64_t
fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static struct trpt_dkim *
verifier(enum trpt_dkim_require req, unsigned timeout_ms)
{
	struct trpt_dkim_config cfg;
	struct trpt_dkim *d = NULL;
	struct trpt_err err;

	trpt_dkim_config_default(&cfg);
	cfg.require = req;
	cfg.nameserver = lab.ns;
	cfg.timeout_ms = timeout_ms;
	cfg.now = fake_clock;
	assert_int_equal(trpt_dkim_new(&cfg, &d, &err), TRPT_OK);
	return d;
}

static void
test_dkim_align(void **state)
{
	static const struct {
		const char *d, *domain;
		enum trpt_dkim_align want;
	} t[] = {
		{ "google.com", "google.com", TRPT_DKIM_ALIGN_SAME },
		{ "Google.COM.", "google.com", TRPT_DKIM_ALIGN_SAME },
		{ "corp.mail.ru", "mail.ru", TRPT_DKIM_ALIGN_CHILD },
		{ "mail.ru", "corp.mail.ru", TRPT_DKIM_ALIGN_PARENT },
		{ "a.b.corp.mail.ru", "mail.ru", TRPT_DKIM_ALIGN_CHILD },
		/* never across a public suffix */
		{ "ru", "mail.ru", TRPT_DKIM_ALIGN_NO },
		{ "co.uk", "example.co.uk", TRPT_DKIM_ALIGN_NO },
		{ "example.co.uk", "co.uk", TRPT_DKIM_ALIGN_NO },
		{ "github.io", "evil.github.io", TRPT_DKIM_ALIGN_NO },
		/* labels, not characters */
		{ "ogle.com", "google.com", TRPT_DKIM_ALIGN_NO },
		{ "google.com.evil.example", "google.com", TRPT_DKIM_ALIGN_NO },
		{ "evil.example", "google.com", TRPT_DKIM_ALIGN_NO },
		{ "", "", TRPT_DKIM_ALIGN_NO },
		{ NULL, "google.com", TRPT_DKIM_ALIGN_NO },
		{ "google.com", NULL, TRPT_DKIM_ALIGN_NO },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (trpt_dkim_align(t[i].d, t[i].domain) != t[i].want)
			fail_msg("align(%s, %s) = %s, want %s",
			    t[i].d ? t[i].d : "NULL",
			    t[i].domain ? t[i].domain : "NULL",
			    trpt_dkim_align_name(
				trpt_dkim_align(t[i].d, t[i].domain)),
			    trpt_dkim_align_name(t[i].want));
	}
}

static void
test_dkim_contact_domain(void **state)
{
	static const struct {
		const char *contact, *want;
	} t[] = {
		{ "smtp-tls-reporting@google.com", "google.com" },
		{ "mailto:TLS@Corp.Mail.RU", "corp.mail.ru" },
		{ "<tls@b.example>", "b.example" },
		{ "https://mail.ru/tlsrpt?x=1", "mail.ru" },
		{ "mx.example.net", "mx.example.net" },
		{ "a@b@c.example", "c.example" },
		{ "reports@example.com, other@x.example", "example.com" },
		{ "", "" },
		{ "not a domain", "" },
		{ "localhost", "" },
		{ "a@b\x01.example", "" },
		{ NULL, "" },
	};
	char out[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r =
		    trpt_dkim_contact_domain(t[i].contact, out, sizeof(out));

		assert_int_equal(r, t[i].want[0] != '\0');
		assert_string_equal(out, t[i].want);
	}
}

static void
test_dkim_settings(void **state)
{
	static const char *good[] = { "127.0.0.1:53", "[::1]:5353", "::1",
		"10.0.0.1", "[2001:db8::1]:53" };
	static const char *bad[] = { "", "ns.example:53", "127.0.0.1:0",
		"127.0.0.1:70000", "[::1", "1.2.3.4:x", "1.2.3.4:", "[::1]x",
		"999.1.1.1" };
	struct trpt_dkim_config cfg;
	struct trpt_dkim *d = NULL;
	enum trpt_dkim_require r;
	struct trpt_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(
		    trpt_dkim_nameserver_check(good[i], &err), TRPT_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    trpt_dkim_nameserver_check(bad[i], &err), TRPT_EINVAL);
		assert_non_null(strstr(err.msg, "nameserver"));
	}
	assert_int_equal(trpt_dkim_require_parse("YES", &r), TRPT_OK);
	assert_int_equal(r, TRPT_DKIM_REQUIRE_YES);
	assert_int_equal(trpt_dkim_require_parse("warn", &r), TRPT_OK);
	assert_int_equal(r, TRPT_DKIM_REQUIRE_WARN);
	assert_int_equal(trpt_dkim_require_parse("no", &r), TRPT_OK);
	assert_int_equal(r, TRPT_DKIM_REQUIRE_NO);
	assert_int_equal(trpt_dkim_require_parse("maybe", &r), TRPT_EINVAL);
	trpt_dkim_config_default(&cfg);
	assert_int_equal(cfg.require, TRPT_DKIM_REQUIRE_WARN);
	cfg.nameserver = "nowhere:53";
	assert_int_equal(trpt_dkim_new(&cfg, &d, &err), TRPT_EINVAL);
	assert_null(d);
}

static struct trpt_dkim_sig
sig(enum trpt_dkim_result r, const char *d, const char *reason)
{
	struct trpt_dkim_sig s;

	memset(&s, 0, sizeof(s));
	s.result = r;
	snprintf(s.domain, sizeof(s.domain), "%s", d);
	snprintf(s.selector, sizeof(s.selector), "s1");
	snprintf(s.reason, sizeof(s.reason), "%s", reason);
	return s;
}

static void
test_dkim_judge(void **state)
{
	struct trpt_dkim_verdict v;
	struct trpt_dkim_outcome o;
	struct trpt_auth a;

	(void)state;
	/* A failing aligned signature and a valid one by someone else: the
	 * valid one is shown, and it does not align. */
	memset(&v, 0, sizeof(v));
	v.done = 1;
	v.nsigs = 2;
	v.sigs[0] = sig(TRPT_DKIM_FAIL, "google.com", "body hash mismatch");
	v.sigs[1] = sig(TRPT_DKIM_PASS, "esp.example", "");
	trpt_dkim_judge(&v, TRPT_DKIM_REQUIRE_YES, "google.com",
	    "smtp-tls-reporting@google.com", 0, &o);
	assert_int_equal(o.action, TRPT_DKIM_REFUSE);
	assert_int_equal(o.result, TRPT_DKIM_PASS);
	assert_int_equal(o.align, TRPT_DKIM_ALIGN_NO);
	assert_string_equal(
	    o.reason, "DKIM: d=esp.example not aligned with google.com");
	trpt_dkim_judge(&v, TRPT_DKIM_REQUIRE_WARN, "google.com", NULL, 0, &o);
	assert_int_equal(o.action, TRPT_DKIM_ACCEPT);
	/* Both domains named, and different. */
	trpt_dkim_judge(
	    &v, TRPT_DKIM_REQUIRE_YES, "mail.ru", "tls@corp.mail.ru", 0, &o);
	assert_string_equal(o.reason,
	    "DKIM: d=esp.example not aligned with mail.ru or corp.mail.ru");
	/* An aligned pass wins over everything. */
	v.sigs[1] = sig(TRPT_DKIM_PASS, "google.com", "");
	v.sigs[0] = sig(TRPT_DKIM_FAIL, "google.com", "body hash mismatch");
	trpt_dkim_judge(&v, TRPT_DKIM_REQUIRE_YES, NULL,
	    "smtp-tls-reporting@google.com", 0, &o);
	assert_int_equal(o.action, TRPT_DKIM_ACCEPT);
	assert_ptr_equal(o.sig, &v.sigs[1]);
	assert_string_equal(o.reason, "");
	trpt_dkim_auth(&o, &a);
	assert_string_equal(a.dkim, "pass");
	assert_string_equal(a.dkim_aligned, "same");
	assert_null(a.dkim_reason);
	assert_int_equal(a.accepted, 0);
	/* An aligned key that cannot be fetched now outweighs a valid
	 * signature by someone else: wait. */
	v.sigs[0] = sig(TRPT_DKIM_TEMPERROR, "google.com", "key unavailable");
	v.sigs[1] = sig(TRPT_DKIM_PASS, "esp.example", "");
	trpt_dkim_judge(&v, TRPT_DKIM_REQUIRE_YES, "google.com", NULL, 0, &o);
	assert_int_equal(o.action, TRPT_DKIM_WAIT);
	assert_non_null(strstr(o.reason, "kept, retried by reprocess"));
	trpt_dkim_judge(&v, TRPT_DKIM_REQUIRE_WARN, "google.com", NULL, 0, &o);
	assert_int_equal(o.action, TRPT_DKIM_ACCEPT);
	assert_int_equal(o.result, TRPT_DKIM_TEMPERROR);
	assert_null(strstr(o.reason, "kept"));
	/* No signature; an operator's release. */
	memset(&v, 0, sizeof(v));
	v.done = 1;
	trpt_dkim_judge(&v, TRPT_DKIM_REQUIRE_YES, "google.com", NULL, 0, &o);
	assert_int_equal(o.action, TRPT_DKIM_REFUSE);
	assert_int_equal(o.result, TRPT_DKIM_NONE);
	assert_string_equal(o.reason, "DKIM: no signature");
	assert_null(o.sig);
	trpt_dkim_judge(&v, TRPT_DKIM_REQUIRE_YES, "google.com", NULL, 1, &o);
	assert_int_equal(o.action, TRPT_DKIM_ACCEPT);
	trpt_dkim_auth(&o, &a);
	assert_string_equal(a.dkim, "none");
	assert_null(a.dkim_domain);
	assert_int_equal(a.accepted, 1);
	/* A message libopendkim could not take at all. */
	snprintf(v.reason, sizeof(v.reason), "syntax error: bad header");
	trpt_dkim_judge(&v, TRPT_DKIM_REQUIRE_YES, "google.com", NULL, 0, &o);
	assert_int_equal(o.result, TRPT_DKIM_FAIL);
	assert_string_equal(o.reason, "DKIM: syntax error: bad header");
	/* Nothing to align with. */
	memset(&v, 0, sizeof(v));
	v.nsigs = 1;
	v.sigs[0] = sig(TRPT_DKIM_PASS, "google.com", "");
	trpt_dkim_judge(&v, TRPT_DKIM_REQUIRE_YES, NULL, NULL, 0, &o);
	assert_int_equal(o.action, TRPT_DKIM_REFUSE);
	assert_non_null(strstr(o.reason, "no submitter or contact-info"));
}

/*
 * The key is cached for the TTL of its record (60 s) on the verifier's
 * clock: within it no DNS query, after it a new one (which libunbound's
 * own cache, on the real clock, may answer).  With the server down and
 * nothing cached, the key is unavailable for now: temperror.
 */
static void
test_dkim_key_ttl(void **state)
{
	struct trpt_dkim *d = verifier(TRPT_DKIM_REQUIRE_YES, 300);
	struct trpt_dkim_verdict v;
	struct trpt_dkim_stats st;
	struct trpt_err err;
	size_t len;
	char *msg = lab_mail("valid", &len);

	(void)state;
	fake_now = 1800000000;
	assert_int_equal(trpt_dkim_verify(d, msg, len, 0, &v, &err), TRPT_OK);
	assert_int_equal(v.nsigs, 1);
	assert_int_equal(v.sigs[0].result, TRPT_DKIM_PASS);
	assert_string_equal(v.sigs[0].domain, "google.com");
	assert_string_equal(v.sigs[0].selector, "sel");
	fake_now += 30;
	assert_int_equal(trpt_dkim_verify(d, msg, len, 0, &v, &err), TRPT_OK);
	assert_int_equal(v.sigs[0].result, TRPT_DKIM_PASS);
	fake_now += 29; /* 59 s after the fetch */
	assert_int_equal(trpt_dkim_verify(d, msg, len, 0, &v, &err), TRPT_OK);
	trpt_dkim_stats(d, &st);
	assert_int_equal(st.dns_queries, 1);
	assert_int_equal(st.cache_hits, 2);
	fake_now += 2; /* 61 s: expired, asked again */
	assert_int_equal(trpt_dkim_verify(d, msg, len, 0, &v, &err), TRPT_OK);
	assert_int_equal(v.sigs[0].result, TRPT_DKIM_PASS);
	trpt_dkim_stats(d, &st);
	assert_int_equal(st.dns_queries, 2);
	assert_int_equal(st.cache_hits, 2);
	assert_int_equal(st.messages, 4);
	trpt_dkim_free(&d);
	assert_null(d);

	lab_stop_dns();
	d = verifier(TRPT_DKIM_REQUIRE_YES, 300);
	assert_int_equal(trpt_dkim_verify(d, msg, len, 0, &v, &err), TRPT_OK);
	assert_int_equal(v.sigs[0].result, TRPT_DKIM_TEMPERROR);
	assert_non_null(strstr(v.sigs[0].reason, "sel._domainkey.google.com"));
	trpt_dkim_stats(d, &st);
	assert_int_equal(st.dns_temp, 1);
	assert_int_equal(st.dns_queries, 1);
	/* The failure is remembered for 30 s: the next mail signed with
	 * that key does not wait for the timeout again. */
	fake_now += 29;
	assert_int_equal(trpt_dkim_verify(d, msg, len, 0, &v, &err), TRPT_OK);
	assert_int_equal(v.sigs[0].result, TRPT_DKIM_TEMPERROR);
	assert_non_null(strstr(v.sigs[0].reason, "no answer within 300 ms"));
	trpt_dkim_stats(d, &st);
	assert_int_equal(st.dns_queries, 1);
	assert_int_equal(st.dns_temp, 2);
	fake_now += 2;
	assert_int_equal(trpt_dkim_verify(d, msg, len, 0, &v, &err), TRPT_OK);
	assert_int_equal(v.sigs[0].result, TRPT_DKIM_TEMPERROR);
	trpt_dkim_stats(d, &st);
	assert_int_equal(st.dns_queries, 2);
	free(msg);
	trpt_dkim_free(&d);
}

static void
test_dkim_key_service(void **state)
{
	struct trpt_dkim *d = verifier(TRPT_DKIM_REQUIRE_YES, 2000);
	struct trpt_dkim_verdict v;
	struct trpt_err err;
	size_t len;
	char *msg;

	(void)state;
	fake_now = 1800000000;
	/* RFC 8460 §3's s=tlsrpt, which libopendkim alone refuses. */
	msg = lab_mail("tlsrpt", &len);
	assert_int_equal(trpt_dkim_verify(d, msg, len, 0, &v, &err), TRPT_OK);
	assert_int_equal(v.sigs[0].result, TRPT_DKIM_PASS);
	assert_string_equal(v.sigs[0].key_service, "tlsrpt");
	free(msg);
	/* A service neither e-mail nor tlsrpt. */
	msg = lab_mail("other", &len);
	assert_int_equal(trpt_dkim_verify(d, msg, len, 0, &v, &err), TRPT_OK);
	assert_int_equal(v.sigs[0].result, TRPT_DKIM_FAIL);
	assert_string_equal(v.sigs[0].key_service, "other");
	assert_non_null(strstr(v.sigs[0].reason, "another service (s=other)"));
	free(msg);
	trpt_dkim_free(&d);
}

/* Past TRPT_DKIM_MAX_SIGS signatures the rest are ignored, not fetched. */
static void
test_dkim_many_signatures(void **state)
{
	struct trpt_dkim *d = verifier(TRPT_DKIM_REQUIRE_YES, 2000);
	struct trpt_dkim_verdict v;
	struct trpt_err err;
	size_t len, hlen, i;
	char *msg = lab_mail("valid", &len), *many, *end;

	(void)state;
	fake_now = 1800000000;
	/* The DKIM-Signature header is the first one, up to the next line
	 * that does not start with a blank. */
	end = msg;
	do
		end = strstr(end, "\r\n") + 2;
	while (*end == ' ' || *end == '\t');
	hlen = (size_t)(end - msg);
	many = malloc(len + 9 * hlen);
	assert_non_null(many);
	for (i = 0; i < 9; i++)
		memcpy(many + i * hlen, msg, hlen);
	memcpy(many + 9 * hlen, msg, len);
	assert_int_equal(
	    trpt_dkim_verify(d, many, len + 9 * hlen, 0, &v, &err), TRPT_OK);
	assert_int_equal(v.nsigs, TRPT_DKIM_MAX_SIGS);
	assert_int_equal(v.ignored, 10 - TRPT_DKIM_MAX_SIGS);
	for (i = 0; i < v.nsigs; i++)
		assert_int_equal(v.sigs[i].result, TRPT_DKIM_PASS);
	free(many);
	free(msg);
	trpt_dkim_free(&d);
}

/* Hostile and broken messages: a verdict, never a crash or a pass. */
static void
test_dkim_hostile(void **state)
{
	static const char *const msgs[] = {
		"",
		"\r\n\r\n",
		"no colon here\r\n\r\nbody",
		"DKIM-Signature: v=1; garbage\r\nFrom: a@b\r\n\r\nbody\r\n",
		"DKIM-Signature: v=1; a=rsa-sha256; d=google.com; s=sel; "
		"h=from; bh=AAAA; b=AAAA\r\nFrom: a@b\r\n\r\nbody\r\n",
		"DKIM-Signature: v=1; a=rsa-sha256; d=..; s=../x; h=from; "
		"bh=AAAA; b=AAAA\r\nFrom: a@b\r\n\r\nbody\r\n",
		"DKIM-Signature: v=1; a=rsa-sha256; d=google.com; s=sel; "
		"h=from; bh=AAAA; b=AAAA\nFrom: a@b\n\nLF only\n",
	};
	struct trpt_dkim *d = verifier(TRPT_DKIM_REQUIRE_YES, 2000);
	struct trpt_dkim_verdict v;
	struct trpt_dkim_outcome o;
	struct trpt_err err;
	static char big[300064];
	size_t i, n = 300000;

	(void)state;
	fake_now = 1800000000;
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		assert_int_equal(
		    trpt_dkim_verify(d, msgs[i], strlen(msgs[i]), 0, &v, &err),
		    TRPT_OK);
		trpt_dkim_judge(
		    &v, TRPT_DKIM_REQUIRE_YES, "google.com", NULL, 0, &o);
		assert_int_not_equal(o.result, TRPT_DKIM_PASS);
		assert_int_equal(o.action, TRPT_DKIM_REFUSE);
		assert_true(strncmp(o.reason, "DKIM: ", 6) == 0);
	}
	/* An empty first line (LF): no header, so no signature; libopendkim
	 * itself aborts on it (an assertion in dkim_header). */
	for (i = 0; i < 2; i++) {
		const char *lf = i == 0
				     ? "\nDKIM-Signature: v=1; a=rsa-sha256; "
				       "d=google.com; s=sel; h=from; "
				       "bh=AAAA; b=AAAA\nFrom: a@b\n\nx\n"
				     : "\n\nDKIM-Signature: v=1\n";

		assert_int_equal(
		    trpt_dkim_verify(d, lf, strlen(lf), 0, &v, &err), TRPT_OK);
		assert_int_equal(v.done, 1);
		assert_int_equal(v.nsigs, 0);
		assert_string_equal(v.reason, "");
	}
	/* One header line longer than any buffer of libopendkim. */
	memcpy(big, "Subject: ", 9);
	memset(big + 9, 'x', n);
	memcpy(big + 9 + n, "\r\n\r\nbody\r\n", 11);
	assert_int_equal(
	    trpt_dkim_verify(d, big, strlen(big), 0, &v, &err), TRPT_OK);
	assert_int_equal(v.nsigs, 0);
	trpt_dkim_free(&d);
}

/* The verdicts on msg of trpt_dkim_verify and of libopendkim itself
 * must be the same; *skipped counts those libopendkim was spared. */
static void
same_verdict(struct trpt_dkim *d, const char *msg, size_t len, size_t *skipped)
{
	static struct trpt_dkim_verdict a, b;
	struct trpt_dkim_stats before, after;
	struct trpt_err err;

	trpt_dkim_stats(d, &before);
	assert_int_equal(trpt_dkim_verify(d, msg, len, 0, &a, &err), TRPT_OK);
	trpt_dkim_stats(d, &after);
	assert_int_equal(
	    trpt_dkim_verify_libopendkim(d, msg, len, 0, &b, &err), TRPT_OK);
	assert_int_equal(after.messages, before.messages + 1);
	if (memcmp(&a, &b, sizeof(a)) != 0) {
		print_message("# verdicts differ (nsigs %zu/%zu, reason "
			      "'%s'/'%s') on %zu bytes: %.*s\n",
		    a.nsigs, b.nsigs, a.reason, b.reason, len,
		    (int)(len < 300 ? len : 300), msg);
		fail();
	}
	*skipped += (size_t)(after.unsigned_skipped - before.unsigned_skipped);
}

/* msg without its DKIM-Signature fields (and their folded lines). */
static char *
strip_signatures(const char *msg, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1);
	size_t i = 0, o = 0, eol;
	int skip = 0;

	assert_non_null(out);
	while (i < len) {
		const char *nl = memchr(msg + i, '\n', len - i);

		eol = nl != NULL ? (size_t)(nl - msg) + 1 : len;
		if (msg[i] != ' ' && msg[i] != '\t')
			skip = eol - i >= 15 &&
			       strncasecmp(msg + i, "DKIM-Signature:", 15) == 0;
		if (!skip) {
			memcpy(out + o, msg + i, eol - i);
			o += eol - i;
		}
		i = eol;
	}
	*outlen = o;
	return out;
}

/* in with every CRLF (and then every LF) replaced by nl. */
static char *
line_ends(const char *in, size_t len, const char *nl, size_t *outlen)
{
	char *out = malloc(len + 1);
	size_t i, o = 0;

	assert_non_null(out);
	for (i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			continue;
		if (in[i] == '\n') {
			memcpy(out + o, nl, strlen(nl));
			o += strlen(nl);
		} else
			out[o++] = in[i];
	}
	*outlen = o;
	return out;
}

/* A string literal and its length (it may hold a NUL). */
#define L(s)                                                                   \
	{                                                                      \
		s, sizeof(s) - 1                                               \
	}

/* Compares the verdicts on base and on mutations of it. */
static void
mutations(struct trpt_dkim *d, const char *base, size_t len, unsigned *seed,
    size_t *n, size_t *skipped)
{
	static const struct {
		const char *s;
		size_t n;
	} lines[] = {
		L("no colon here\r\n"),
		L("Bad;Name: x\r\n"),
		L("N\001me: control\r\n"),
		L("Na\377me: eight bit\r\n"),
		L(": empty name\r\n"),
		L(" starts folded\r\n"),
		L("\r\n"),
		L("\n"),
		L("\r"),
		L("From: \r\n"),
		L("From: <>\r\n"),
		L("From: not an address\r\n"),
		L("From: a@b.example\r\nFrom: c@d.example\r\n"),
		L("Date: x\r\nDate: y\r\n"),
		L("DKIM-Sig\r\n nature: v=1; d=example.com\r\n"),
		L("DKIM_Signature: v=1; d=example.com\r\n"),
		L("DKIM-Signatur: v=1\r\n"),
		L("X-DKIM-Signature: v=1\r\n"),
		L("DKIM-Signature : v=1; garbage\r\n"),
		L("dkim-signature:\r\n"),
		L("Subject: nul \0 inside\r\n"),
	};
	static const char flips[] = { '\0', '\r', '\n', ':', ';', ' ', '\t',
		'\377', 'x', '-', 'D' };
	size_t cap = len + 80000, i, k, m, at;
	char *buf = malloc(cap), *v;

	assert_non_null(buf);
	same_verdict(d, base, len, skipped);
	(*n)++;
	v = line_ends(base, len, "\n", &m);
	same_verdict(d, v, m, skipped);
	free(v);
	v = line_ends(base, len, "\r", &m);
	same_verdict(d, v, m, skipped);
	free(v);
	*n += 2;
	for (m = 0; m < len && m < 4096; m += 61, (*n)++)
		same_verdict(d, base, m, skipped);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		size_t ll = lines[i].n;
		const char *nl = memchr(base, '\n', len);

		/* first, then after the first line */
		memcpy(buf, lines[i].s, ll);
		memcpy(buf + ll, base, len);
		same_verdict(d, buf, ll + len, skipped);
		at = nl != NULL ? (size_t)(nl - base) + 1 : len;
		memcpy(buf, base, at);
		memcpy(buf + at, lines[i].s, ll);
		memcpy(buf + at + ll, base + at, len - at);
		same_verdict(d, buf, ll + len, skipped);
		*n += 2;
	}
	/* A field longer than libopendkim's 64 KiB header buffer. */
	memcpy(buf, "Subject: ", 9);
	memset(buf + 9, 'x', 70000);
	memcpy(buf + 70009, "\r\n", 2);
	memcpy(buf + 70011, base, len);
	same_verdict(d, buf, 70011 + len, skipped);
	(*n)++;
	/* Bytes changed at random in the first 2 KB. */
	for (i = 0; i < 150 && len > 0; i++, (*n)++) {
		memcpy(buf, base, len);
		for (k = 0; k < 1 + i % 4; k++) {
			*seed = *seed * 1103515245u + 12345u;
			at = (*seed >> 8) % (len < 2048 ? len : 2048);
			buf[at] = flips[(*seed >> 4) % sizeof(flips)];
		}
		same_verdict(d, buf, len, skipped);
	}
	free(buf);
}

/*
 * A message without "DKIM-Signature" anywhere is answered without
 * libopendkim: the verdict must be libopendkim's, on the fixtures' mails,
 * the corpus's with their signatures taken out, and mutations of them
 * (broken and missing fields, other line ends, truncations, a field past
 * libopendkim's buffer, NULs, stray bytes, names close to
 * DKIM-Signature).  A message that holds the name goes to libopendkim.
 */
static void
test_dkim_unsigned_as_libopendkim(void **state)
{
	static const char *const dirs[] = { "real", "quirky" };
	struct trpt_dkim *d = verifier(TRPT_DKIM_REQUIRE_YES, 2000);
	size_t n = 0, skipped = 0, len, slen, i, before;
	unsigned seed = 1;
	char path[8448], *msg, *bare;
	const char *dir;
	struct dirent *de;
	DIR *dh;

	(void)state;
	fake_now = 1800000000;
	dir = trpt_test_fixture("mail");
	dh = opendir(dir);
	assert_non_null(dh);
	while ((de = readdir(dh)) != NULL) {
		if (strstr(de->d_name, ".eml") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", trpt_test_fixture("mail"),
		    de->d_name);
		msg = trpt_test_slurp(path, &len);
		mutations(d, msg, len, &seed, &n, &skipped);
		free(msg);
	}
	closedir(dh);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char base[4096];

		if ((dir = trpt_test_corpus(dirs[i])) == NULL)
			continue;
		snprintf(base, sizeof(base), "%s", dir);
		dh = opendir(base);
		assert_non_null(dh);
		while ((de = readdir(dh)) != NULL) {
			if (strstr(de->d_name, ".eml") == NULL)
				continue;
			snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
			msg = trpt_test_slurp(path, &len);
			bare = strip_signatures(msg, len, &slen);
			mutations(d, bare, slen, &seed, &n, &skipped);
			free(bare);
			free(msg);
		}
		closedir(dh);
	}
	print_message("# %zu messages compared, %zu of them without "
		      "libopendkim\n",
	    n, skipped);
	assert_true(skipped > 1000);
	assert_true(skipped < n);

	/* Any spelling of the name, anywhere, goes to libopendkim. */
	before = skipped;
	same_verdict(d, "dKiM-sIgNaTuRe", 14, &skipped);
	same_verdict(
	    d, "From: a@b\r\n\r\nbody DKIM-SIGNATURE\r\n", 36, &skipped);
	assert_int_equal(skipped, before);
	same_verdict(d, "DKIM-Signatur", 13, &skipped);
	assert_int_equal(skipped, before + 1);
	trpt_dkim_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dkim_align),
		cmocka_unit_test(test_dkim_contact_domain),
		cmocka_unit_test(test_dkim_settings),
		cmocka_unit_test(test_dkim_judge),
		cmocka_unit_test(test_dkim_key_service),
		cmocka_unit_test(test_dkim_many_signatures),
		cmocka_unit_test(test_dkim_hostile),
		cmocka_unit_test(test_dkim_unsigned_as_libopendkim),
		/* last: it stops the lab's DNS server */
		cmocka_unit_test(test_dkim_key_ttl),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("dkim", tests, lab_start, lab_stop);
}
