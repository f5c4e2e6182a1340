/* The parsers of check/: TLSRPT and _mta-sts records, MTA-STS policy
 * files, MX patterns, and the DNS record decoders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "check/check.h"
#include "check/dns.h"
#include "check/policy.h"

struct tlsrpt_case {
	const char *txt;
	int rc;
	size_t nrua;
	const char *first;
};

static const struct tlsrpt_case tlsrpt_cases[] = {
	{ "v=TLSRPTv1; rua=mailto:tlsrpt@example.com", TRPT_OK, 1,
	    "mailto:tlsrpt@example.com" },
	{ "v=TLSRPTv1;rua=mailto:a@example.com,https://r.example.net/x",
	    TRPT_OK, 2, "mailto:a@example.com" },
	{ "v=TLSRPTv1; rua=https://reports.example.com/v1/tlsrpt; ext=1;",
	    TRPT_OK, 1, "https://reports.example.com/v1/tlsrpt" },
	{ "v=TLSRPTv1 ; rua = mailto:x@example.com", TRPT_EPARSE, 0, NULL },
	{ "v=TLSRPTv1; rua=ftp://example.org/x", TRPT_EPARSE, 0, NULL },
	{ "v=TLSRPTv1; rua=mailto:@example.org", TRPT_EPARSE, 0, NULL },
	{ "v=TLSRPTv1; rua=mailto:a@", TRPT_EPARSE, 0, NULL },
	{ "v=TLSRPTv1", TRPT_EPARSE, 0, NULL },
	{ "v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example",
	    TRPT_EPARSE, 0, NULL },
	{ "v=TLSRPTv2; rua=mailto:a@b.example", TRPT_EPARSE, 0, NULL },
	{ "v=TLSRPTv1; garbage", TRPT_EPARSE, 0, NULL },
};

static void
test_policy_tlsrpt(void **state)
{
	struct trpt_policy_tlsrpt r;
	struct trpt_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tlsrpt_cases) / sizeof(tlsrpt_cases[0]); i++) {
		const struct tlsrpt_case *c = &tlsrpt_cases[i];
		int rc = trpt_policy_tlsrpt_parse(c->txt, &r, &err);

		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->txt, rc, c->rc,
			    rc != TRPT_OK ? err.msg : "");
		if (rc == TRPT_OK) {
			assert_int_equal(r.nrua, c->nrua);
			assert_string_equal(r.rua[0], c->first);
		}
	}
}

static void
test_policy_sts_txt(void **state)
{
	static const struct {
		const char *txt;
		int rc;
		const char *id;
	} cases[] = {
		{ "v=STSv1; id=20160831085700Z", TRPT_OK, "20160831085700Z" },
		{ "v=STSv1;id=1;", TRPT_OK, "1" },
		{ "v=STSv1; id=abc; ext=x", TRPT_OK, "abc" },
		{ "v=STSv1;", TRPT_EPARSE, NULL },
		{ "v=STSv1; id=", TRPT_EPARSE, NULL },
		{ "v=STSv1; id=not-alnum", TRPT_EPARSE, NULL },
		{ "v=STSv1; id=123456789012345678901234567890123", TRPT_EPARSE,
		    NULL },
		{ "v=STSv1; id=1; id=2", TRPT_EPARSE, NULL },
		{ "v=STSv2; id=1", TRPT_EPARSE, NULL },
	};
	struct trpt_err err;
	char id[33];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = trpt_policy_sts_txt_parse(
		    cases[i].txt, id, sizeof(id), &err);
		if (rc != cases[i].rc)
			fail_msg("%s: rc %d, want %d", cases[i].txt, rc,
			    cases[i].rc);
		if (rc == TRPT_OK)
			assert_string_equal(id, cases[i].id);
	}
}

static void
test_policy_sts_file(void **state)
{
	static const struct {
		const char *body;
		int rc;
		enum trpt_sts_mode mode;
		size_t nmx;
		const char *why; /* part of the message */
	} cases[] = {
		{ "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
		  "mx: *.example.net\r\nmax_age: 604800\r\n",
		    TRPT_OK, TRPT_STS_ENFORCE, 2, NULL },
		{ "version: STSv1\nmode: testing\nmx: MX.Example.com\n"
		  "max_age: 86400",
		    TRPT_OK, TRPT_STS_TESTING, 1, NULL },
		{ "version: STSv1\nmode: none\nmax_age: 0\n", TRPT_OK,
		    TRPT_STS_NONE, 0, NULL },
		{ "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n"
		  "future_key: anything\n",
		    TRPT_OK, TRPT_STS_ENFORCE, 1, NULL },
		{ "version: STSv1\nmode: enforce\nmax_age: 86400\n",
		    TRPT_EPARSE, 0, 0, "without mx" },
		{ "mode: enforce\nmx: a.example\nmax_age: 86400\n", TRPT_EPARSE,
		    0, 0, "version" },
		{ "version: STSv1\nmode: enforce\nmx: a.example\n", TRPT_EPARSE,
		    0, 0, "max_age" },
		{ "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
		    TRPT_EPARSE, 0, 0, "strict" },
		{ "version: STSv1\nmode: enforce\nmx: a.example\n"
		  "max_age: 31557601\n",
		    TRPT_EPARSE, 0, 0, "max_age" },
		{ "version: STSv1\nmode: enforce\nmx mx-good\nmax_age: 1\n",
		    TRPT_EPARSE, 0, 0, "line 3" },
		{ "version: STSv1\nmode: enforce\nmx: bad_name!\nmax_age: 1\n",
		    TRPT_EPARSE, 0, 0, "mx" },
		{ "version: STSv1\nmode: enforce\nmode: testing\nmx: a.b\n"
		  "max_age: 1\n",
		    TRPT_EPARSE, 0, 0, "twice" },
		{ "<html><body>Not Found</body></html>", TRPT_EPARSE, 0, 0,
		    "line 1" },
	};
	struct trpt_sts_policy p;
	struct trpt_err err;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = trpt_policy_sts_parse(
		    cases[i].body, strlen(cases[i].body), &p, &err);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc,
			    cases[i].rc, rc != TRPT_OK ? err.msg : "");
		if (rc == TRPT_OK) {
			assert_int_equal(p.mode, cases[i].mode);
			assert_int_equal(p.nmx, cases[i].nmx);
		} else if (strstr(err.msg, cases[i].why) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg,
			    cases[i].why);
	}
	/* NUL bytes are refused, not cut short. */
	assert_int_equal(
	    trpt_policy_sts_parse("version: STSv1\0x", 16, &p, &err),
	    TRPT_EPARSE);
}

static void
test_policy_mx_match(void **state)
{
	(void)state;
	assert_true(
	    trpt_policy_mx_match("mail.example.com", "mail.example.com"));
	assert_true(
	    trpt_policy_mx_match("MAIL.example.com", "mail.example.com"));
	assert_true(trpt_policy_mx_match("*.example.com", "mx1.example.com"));
	/* One label only (RFC 8461 §4.1). */
	assert_false(trpt_policy_mx_match("*.example.com", "a.b.example.com"));
	assert_false(trpt_policy_mx_match("*.example.com", "example.com"));
	assert_false(
	    trpt_policy_mx_match("mail.example.com", "mx.example.com"));
}

static void
test_policy_domain_ascii(void **state)
{
	char out[TRPT_POLICY_NAME];
	struct trpt_err err;

	(void)state;
	assert_int_equal(
	    trpt_check_domain_ascii("Example.COM.", out, sizeof(out), &err),
	    TRPT_OK);
	assert_string_equal(out, "example.com");
	assert_int_equal(trpt_check_domain_ascii("b\xc3\xbc"
						 "cher.example",
			     out, sizeof(out), &err),
	    TRPT_OK);
	assert_string_equal(out, "xn--bcher-kva.example");
	assert_int_equal(
	    trpt_check_domain_ascii("localhost", out, sizeof(out), &err),
	    TRPT_EINVAL);
	assert_int_equal(
	    trpt_check_domain_ascii("a b.example", out, sizeof(out), &err),
	    TRPT_EINVAL);
	assert_int_equal(
	    trpt_check_domain_ascii("a..example", out, sizeof(out), &err),
	    TRPT_EINVAL);
	assert_int_equal(
	    trpt_check_domain_ascii("\xff.example", out, sizeof(out), &err),
	    TRPT_EINVAL);
}

static void
test_policy_dns_decoders(void **state)
{
	static const unsigned char txt[] = { 5, 'v', '=', 'a', ';', ' ', 3, 'b',
		'=', 'c' };
	static const unsigned char txt_bad[] = { 9, 'v', '=' };
	static const unsigned char mx[] = { 0, 10, 2, 'M', 'x', 7, 'e', 'x',
		'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0 };
	static const unsigned char null_mx[] = { 0, 0, 0 };
	static const unsigned char mx_bad[] = { 0, 10, 2, 'm', '\n', 0 };
	static const unsigned char mx_trunc[] = { 0, 10, 60, 'm' };
	static const unsigned char a[] = { 127, 0, 0, 1 };
	struct trpt_err err;
	char buf[64];
	unsigned pref;

	(void)state;
	assert_int_equal(
	    trpt_dns_txt(txt, sizeof(txt), buf, sizeof(buf), &err), TRPT_OK);
	assert_string_equal(buf, "v=a; b=c");
	assert_int_equal(
	    trpt_dns_txt(txt_bad, sizeof(txt_bad), buf, sizeof(buf), &err),
	    TRPT_EPARSE);
	assert_int_equal(
	    trpt_dns_txt(txt, sizeof(txt), buf, 4, &err), TRPT_ELIMIT);
	assert_int_equal(
	    trpt_dns_mx(mx, sizeof(mx), &pref, buf, sizeof(buf), &err),
	    TRPT_OK);
	assert_int_equal(pref, 10);
	assert_string_equal(buf, "mx.example.com");
	assert_int_equal(trpt_dns_mx(null_mx, sizeof(null_mx), &pref, buf,
			     sizeof(buf), &err),
	    TRPT_OK);
	assert_string_equal(buf, "");
	assert_int_equal(
	    trpt_dns_mx(mx_bad, sizeof(mx_bad), &pref, buf, sizeof(buf), &err),
	    TRPT_EPARSE);
	assert_int_equal(trpt_dns_mx(mx_trunc, sizeof(mx_trunc), &pref, buf,
			     sizeof(buf), &err),
	    TRPT_EPARSE);
	assert_int_equal(
	    trpt_dns_addr(TRPT_DNS_A, a, sizeof(a), buf, sizeof(buf), &err),
	    TRPT_OK);
	assert_string_equal(buf, "127.0.0.1");
	assert_int_equal(
	    trpt_dns_addr(TRPT_DNS_AAAA, a, sizeof(a), buf, sizeof(buf), &err),
	    TRPT_EPARSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_tlsrpt),
		cmocka_unit_test(test_policy_sts_txt),
		cmocka_unit_test(test_policy_sts_file),
		cmocka_unit_test(test_policy_mx_match),
		cmocka_unit_test(test_policy_domain_ascii),
		cmocka_unit_test(test_policy_dns_decoders),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
