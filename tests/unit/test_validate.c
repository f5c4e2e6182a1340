/* Report validation: every rejection rule and every leniency, by fixture. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "ingest/validate.h"
#include "tests/helpers/testutil.h"

static struct trpt_limits lim;

static int
validate_file(const char *rel, const struct trpt_validate_ctx *ctx,
    struct trpt_report **r, struct trpt_err *err)
{
	size_t len;
	char *data = trpt_test_slurp(trpt_test_fixture(rel), &len);
	int rc = trpt_validate_json(data, len, &lim, ctx, r, err);

	free(data);
	return rc;
}

static int
has_warning(const struct trpt_report *r, const char *needle)
{
	size_t i;

	for (i = 0; i < r->warnings.n; i++)
		if (strstr(r->warnings.v[i], needle) != NULL)
			return 1;
	return 0;
}

struct bad_case {
	const char *file;
	int rc;
	const char *reason; /* a substring of the message */
};

static const struct bad_case bad_cases[] = {
	{ "bad/not-json.json", TRPT_EPARSE, "not valid JSON" },
	{ "bad/array-top.json", TRPT_EPARSE, "(top level): must be an object" },
	{ "bad/truncated.json", TRPT_EPARSE, "not valid JSON" },
	{ "bad/no-report-id.json", TRPT_EPARSE, "report-id: missing" },
	{ "bad/report-id-number.json", TRPT_EPARSE,
	    "report-id: must be a string, not a number" },
	{ "bad/report-id-empty.json", TRPT_EPARSE, "report-id: empty" },
	{ "bad/no-org.json", TRPT_EPARSE, "organization-name: missing" },
	{ "bad/org-null.json", TRPT_EPARSE,
	    "organization-name: must be a string, not null" },
	{ "bad/no-date-range.json", TRPT_EPARSE, "date-range: missing" },
	{ "bad/no-start.json", TRPT_EPARSE,
	    "date-range.start-datetime: missing" },
	{ "bad/bad-date.json", TRPT_EPARSE,
	    "date-range.start-datetime: not an RFC 3339 date-time" },
	{ "bad/bad-month.json", TRPT_EPARSE, "not an RFC 3339 date-time" },
	{ "bad/start-after-end.json", TRPT_EPARSE,
	    "start-datetime is after end-datetime" },
	{ "bad/no-policies.json", TRPT_EPARSE, "policies: missing" },
	{ "bad/policies-object.json", TRPT_EPARSE,
	    "policies: must be an array, not an object" },
	{ "bad/no-policy-type.json", TRPT_EPARSE,
	    "policies[0].policy.policy-type: missing" },
	{ "bad/no-policy.json", TRPT_EPARSE, "policies[0].policy: missing" },
	{ "bad/no-summary.json", TRPT_EPARSE, "policies[0].summary: missing" },
	{ "bad/count-missing.json", TRPT_EPARSE,
	    "policies[0].summary.total-failure-session-count: missing count" },
	{ "bad/count-negative.json", TRPT_EPARSE,
	    "total-successful-session-count: negative count (-1)" },
	{ "bad/count-fraction.json", TRPT_EPARSE, "fractional count (1.5)" },
	{ "bad/count-string.json", TRPT_EPARSE,
	    "count must be a number, not a string" },
	{ "bad/count-huge.json", TRPT_EPARSE, "count above 2^53" },
	{ "bad/count-overflow.json", TRPT_EPARSE, "too big integer" },
	{ "bad/detail-no-result-type.json", TRPT_EPARSE,
	    "policies[0].failure-details[0].result-type: missing" },
	{ "bad/detail-no-count.json", TRPT_EPARSE,
	    "policies[0].failure-details[0].failed-session-count: missing" },
	{ "bad/detail-negative.json", TRPT_EPARSE, "negative count (-3)" },
	{ "bad/details-not-array.json", TRPT_EPARSE,
	    "policies[0].failure-details: must be an array" },
	{ "bad/duplicate-key.json", TRPT_EPARSE, "duplicate object key" },
	{ "bad/deep.json", TRPT_ELIMIT, "nested 201 deep" },
	/* dates outside the plausible window (issue 9 item 7) */
	{ "bad/date-9999.json", TRPT_EPARSE,
	    "date-range.end-datetime: more than 3 days in the future" },
	{ "bad/date-ahead.json", TRPT_EPARSE,
	    "date-range.end-datetime: more than 3 days in the future" },
	{ "bad/date-0000.json", TRPT_EPARSE, "date-range.start-datetime: " },
	{ "bad/date-2015.json", TRPT_EPARSE,
	    "date-range.start-datetime: before 2016-01-01" },
};

static void
test_validate_rejections(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct trpt_report *r = NULL;
		struct trpt_err err;
		int rc = validate_file(bad_cases[i].file, NULL, &r, &err);

		if (rc != bad_cases[i].rc ||
		    strstr(err.msg, bad_cases[i].reason) == NULL)
			fail_msg("%s: rc %d \"%s\", expected %d \"%s\"",
			    bad_cases[i].file, rc, rc ? err.msg : "",
			    bad_cases[i].rc, bad_cases[i].reason);
		assert_null(r);
	}
}

/* Every file listed in bad/README is covered by the table above. */
static void
test_validate_bad_readme_complete(void **state)
{
	char *readme = trpt_test_slurp(trpt_test_fixture("bad/README"), NULL);
	char *line, *save = NULL, name[128];
	size_t i, n = 0;

	(void)state;
	for (line = strtok_r(readme, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		snprintf(name, sizeof(name), "bad/%.*s",
		    (int)strcspn(line, ":"), line);
		for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
			if (strcmp(bad_cases[i].file, name) == 0)
				break;
		if (i == sizeof(bad_cases) / sizeof(bad_cases[0]))
			fail_msg("%s has no expected outcome", name);
		n++;
	}
	assert_int_equal(n, sizeof(bad_cases) / sizeof(bad_cases[0]));
	free(readme);
}

static struct trpt_report *
accept(const char *rel, const struct trpt_validate_ctx *ctx)
{
	struct trpt_report *r = NULL;
	struct trpt_err err;

	if (validate_file(rel, ctx, &r, &err) != TRPT_OK)
		fail_msg("%s rejected: %s", rel, err.msg);
	assert_non_null(r);
	return r;
}

static void
test_validate_base(void **state)
{
	struct trpt_report *r = accept("lenient/base.json", NULL);
	const struct trpt_policy *p;
	const struct trpt_failure *f;

	(void)state;
	assert_string_equal(r->organization_name, "Example Sender");
	assert_string_equal(r->report_id, "r-0001");
	assert_string_equal(r->contact_info, "tlsrpt@sender.example");
	assert_int_equal(r->begin, 1793491200); /* 2026-11-01T00:00:00Z */
	assert_int_equal(r->end, 1793491200 + 86399);
	assert_int_equal(r->npolicies, 1);
	p = &r->policies[0];
	assert_string_equal(p->policy_type, "sts");
	assert_string_equal(p->policy_domain, "example.com");
	assert_int_equal(p->policy_strings.n, 4);
	assert_string_equal(p->policy_strings.v[1], "mode: enforce");
	assert_int_equal(p->mx_hosts.n, 1);
	assert_int_equal(p->successful, 10);
	assert_int_equal(p->failed, 2);
	assert_int_equal(p->nfailures, 1);
	f = &p->failures[0];
	assert_string_equal(f->result_type, "certificate-expired");
	assert_string_equal(f->sending_mta_ip, "192.0.2.1");
	assert_string_equal(f->receiving_mx_hostname, "mx.example.com");
	assert_string_equal(f->receiving_ip, "198.51.100.1");
	assert_null(f->receiving_mx_helo);
	assert_null(f->failure_reason_code);
	assert_int_equal(f->failed_session_count, 2);
	assert_int_equal(r->warnings.n, 0);
	trpt_report_free(&r);
	assert_null(r);
}

static void
test_validate_leniency(void **state)
{
	struct trpt_validate_ctx ctx = { NULL, NULL };
	struct trpt_report *r = NULL;
	struct trpt_err err;

	(void)state;
	r = accept("lenient/no-offset.json", NULL);
	assert_int_equal(r->begin, 1793491200);
	assert_true(has_warning(r, "no UTC offset, taken as UTC"));
	trpt_report_free(&r);

	r = accept("lenient/fraction-offset.json", NULL);
	assert_int_equal(r->begin, 1793491200); /* 02:00+02:00 = 00:00Z */
	assert_int_equal(r->end, 1793491200 + 86399);
	assert_true(has_warning(r, "offset normalised to UTC"));
	trpt_report_free(&r);

	r = accept("lenient/contact-null.json", NULL);
	assert_null(r->contact_info);
	trpt_report_free(&r);
	r = accept("lenient/contact-absent.json", NULL);
	assert_null(r->contact_info);
	trpt_report_free(&r);

	r = accept("lenient/mx-host-string.json", NULL);
	assert_int_equal(r->policies[0].mx_hosts.n, 1);
	assert_string_equal(r->policies[0].mx_hosts.v[0], "*.example.com");
	assert_true(has_warning(r, "mx-host: a string where an array"));
	trpt_report_free(&r);
	r = accept("lenient/mx-host-absent.json", NULL);
	assert_int_equal(r->policies[0].mx_hosts.n, 0);
	trpt_report_free(&r);

	r = accept("lenient/policy-string-absent.json", NULL);
	assert_int_equal(r->policies[0].policy_strings.n, 0);
	trpt_report_free(&r);
	r = accept("lenient/policy-string-empty.json", NULL);
	assert_int_equal(r->policies[0].policy_strings.n, 0);
	trpt_report_free(&r);

	r = accept("lenient/tlsa-json-string.json", NULL);
	assert_int_equal(r->policies[0].policy_strings.n, 2);
	assert_string_equal(r->policies[0].policy_strings.v[0], "3 1 1 AAAA");
	assert_string_equal(r->policies[0].policy_strings.v[1], "3 1 1 BBBB");
	assert_true(has_warning(r, "unpacked into 2 records"));
	trpt_report_free(&r);

	r = accept("lenient/unknown-types.json", NULL);
	assert_string_equal(r->policies[0].policy_type, "future-policy");
	assert_string_equal(
	    r->policies[0].failures[0].result_type, "quantum-mismatch");
	assert_true(has_warning(r, "unknown type \"future-policy\""));
	assert_true(has_warning(r, "not a registered result type"));
	trpt_report_free(&r);

	r = accept("lenient/detail-minimal.json", NULL);
	assert_null(r->policies[0].failures[0].sending_mta_ip);
	assert_null(r->policies[0].failures[0].receiving_mx_hostname);
	assert_int_equal(r->policies[0].failures[0].failed_session_count, 2);
	trpt_report_free(&r);

	/* Totals that disagree are flagged, never corrected. */
	r = accept("lenient/totals-disagree.json", NULL);
	assert_int_equal(r->policies[0].failed, 1);
	assert_int_equal(r->policies[0].failures[0].failed_session_count, 2);
	assert_true(has_warning(r, "failure-details add up to 2, "
				   "total-failure-session-count says 1"));
	trpt_report_free(&r);

	r = accept("lenient/unknown-keys.json", NULL);
	assert_true(has_warning(r, "x-vendor: unknown key"));
	assert_true(has_warning(r, "policies[0].policy.x-note: unknown key"));
	trpt_report_free(&r);

	r = accept("lenient/count-real-integral.json", NULL);
	assert_int_equal(r->policies[0].successful, 10);
	trpt_report_free(&r);

	r = accept("lenient/aliases.json", NULL);
	assert_string_equal(
	    r->policies[0].failures[0].failure_reason_code, "E1");
	assert_string_equal(r->policies[0].failures[0].additional_information,
	    "https://x.example/");
	trpt_report_free(&r);

	r = accept("lenient/bom.json", NULL);
	assert_string_equal(r->report_id, "r-0001");
	trpt_report_free(&r);

	/* policy-domain: header, then file name, else refused (issue 9 item
	 * 15: it was stored under an empty domain, counted for no one). */
	assert_int_equal(
	    validate_file("lenient/no-policy-domain.json", &ctx, &r, &err),
	    TRPT_EPARSE);
	assert_null(r);
	assert_non_null(strstr(err.msg, "policies[0].policy: policy-domain "
					"missing, and no TLS-Report-Domain"));
	assert_int_equal(
	    validate_file("lenient/no-policy-domain.json", NULL, &r, &err),
	    TRPT_EPARSE);
	ctx.filename = "/x/sender.example!from-name.example!1793491200!"
		       "1793577599!001.json";
	r = accept("lenient/no-policy-domain.json", &ctx);
	assert_string_equal(r->policies[0].policy_domain, "from-name.example");
	assert_true(has_warning(r, "taken from the report file name"));
	trpt_report_free(&r);
	ctx.report_domain = "From-Header.Example.";
	r = accept("lenient/no-policy-domain.json", &ctx);
	assert_string_equal(
	    r->policies[0].policy_domain, "from-header.example");
	assert_true(has_warning(r, "taken from the TLS-Report-Domain header"));
	trpt_report_free(&r);
}

/*
 * Issue 9 item 14: 1,100 failure details of 2^53 sessions each add up
 * past 2^63; the sum overflowed (signed, undefined: UBSan).  Refused.
 */
static void
test_validate_failure_sum_overflow(void **state)
{
	struct trpt_report *r = NULL;
	struct trpt_err err;
	struct trpt_buf b;
	size_t i;

	(void)state;
	trpt_buf_init(&b, 1 << 22);
	trpt_buf_appendf(&b, &err,
	    "{\"organization-name\": \"o\", \"report-id\": \"x\","
	    " \"date-range\": {\"start-datetime\": \"2026-01-01T00:00:00Z\","
	    " \"end-datetime\": \"2026-01-01T23:59:59Z\"},"
	    " \"policies\": [{\"policy\": {\"policy-type\": \"sts\","
	    " \"policy-domain\": \"example.com\"}, \"summary\":"
	    " {\"total-successful-session-count\": 0,"
	    " \"total-failure-session-count\": 1},"
	    " \"failure-details\": [");
	for (i = 0; i < 1100; i++)
		trpt_buf_appendf(&b, &err,
		    "%s{\"result-type\": \"certificate-expired\","
		    " \"failed-session-count\": 9007199254740992}",
		    i > 0 ? "," : "");
	trpt_buf_appendf(&b, &err, "]}]}");
	assert_int_equal(
	    trpt_validate_json(b.data, b.len, &lim, NULL, &r, &err),
	    TRPT_ELIMIT);
	assert_null(r);
	assert_non_null(strstr(err.msg, "add up to more than 2^63"));
	trpt_buf_free(&b);
}

/* err may be NULL (the API says so): every fixture, good and bad. */
static void
test_validate_null_err(void **state)
{
	static const char *const files[] = { "lenient/aliases.json",
		"lenient/unknown-keys.json", "lenient/no-offset.json",
		"bad/no-org.json", "bad/count-negative.json",
		"bad/duplicate-key.json", "lenient/no-policy-domain.json" };
	struct trpt_report *r;
	size_t i, len;
	char *data;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		data = trpt_test_slurp(trpt_test_fixture(files[i]), &len);
		r = NULL;
		(void)trpt_validate_json(data, len, &lim, NULL, &r, NULL);
		trpt_report_free(&r);
		free(data);
	}
}

static void
test_validate_limits(void **state)
{
	struct trpt_limits small = lim;
	struct trpt_report *r = NULL;
	struct trpt_err err;
	size_t len;
	char *data =
	    trpt_test_slurp(trpt_test_fixture("lenient/base.json"), &len);

	(void)state;
	small.max_json = 100;
	assert_int_equal(
	    trpt_validate_json(data, len, &small, NULL, &r, &err), TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "exceeds the limit of 100 bytes"));
	small = lim;
	small.max_depth = 2;
	assert_int_equal(
	    trpt_validate_json(data, len, &small, NULL, &r, &err), TRPT_ELIMIT);
	small = lim;
	small.max_failures = 0;
	assert_int_equal(
	    trpt_validate_json(data, len, &small, NULL, &r, &err), TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "more than 0 failure details"));
	small = lim;
	small.max_policies = 0;
	assert_int_equal(
	    trpt_validate_json(data, len, &small, NULL, &r, &err), TRPT_ELIMIT);
	assert_null(r);
	free(data);
}

/* Brackets inside strings do not count towards the depth. */
static void
test_validate_depth_ignores_strings(void **state)
{
	static const char doc[] =
	    "{\"organization-name\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "\","
	    "\"report-id\":\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\\\"\","
	    "\"date-range\":{\"start-datetime\":\"2026-01-01T00:00:00Z\","
	    "\"end-datetime\":\"2026-01-01T23:59:59Z\"},\"policies\":[]}";
	struct trpt_report *r = NULL;
	struct trpt_err err;
	struct trpt_limits small = lim;

	(void)state;
	small.max_depth = 3;
	if (trpt_validate_json(doc, strlen(doc), &small, NULL, &r, &err) !=
	    TRPT_OK)
		fail_msg("%s", err.msg);
	assert_true(has_warning(r, "policies: empty"));
	trpt_report_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_rejections),
		cmocka_unit_test(test_validate_bad_readme_complete),
		cmocka_unit_test(test_validate_base),
		cmocka_unit_test(test_validate_leniency),
		cmocka_unit_test(test_validate_limits),
		cmocka_unit_test(test_validate_failure_sum_overflow),
		cmocka_unit_test(test_validate_null_err),
		cmocka_unit_test(test_validate_depth_ignores_strings),
	};

	trpt_limits_default(&lim);
	return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
