#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/err.h"
#include "report/csv.h"
#include "report/export.h"
#include "schema/db.h"
#include "schema/export_rows.h"
#include "schema/report.h"
#include "schema/sql.h"
#include "schema/store.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"

/* An in-memory stream to write CSV to, and what it holds. */
struct sink {
	FILE *f;
	char *data;
	size_t len;
};

static void
sink_open(struct sink *s)
{
	s->data = NULL;
	s->len = 0;
	s->f = open_memstream(&s->data, &s->len);
	assert_non_null(s->f);
}

static const char *
sink_text(struct sink *s)
{
	assert_int_equal(fflush(s->f), 0);
	return s->data;
}

static void
sink_close(struct sink *s)
{
	fclose(s->f);
	free(s->data);
}

/* The cells written as one row, without its CRLF. */
static void
assert_row(struct sink *s, struct trpt_csv *c, const char *want)
{
	struct trpt_err err;
	size_t n = strlen(want);

	assert_int_equal(trpt_csv_end_row(c, &err), TRPT_OK);
	sink_text(s);
	assert_int_equal(s->len, n + 2);
	assert_memory_equal(s->data, want, n);
	assert_memory_equal(s->data + n, "\r\n", 2);
	rewind(s->f);
}

static void
one_cell(const char *in, const char *want)
{
	struct trpt_csv c;
	struct sink s;

	sink_open(&s);
	trpt_csv_init(&c, s.f);
	trpt_csv_field(&c, in);
	assert_row(&s, &c, want);
	trpt_csv_free(&c);
	sink_close(&s);
}

static void
test_export_csv_quoting(void **state)
{
	(void)state;
	one_cell("plain", "plain");
	one_cell("", "");
	one_cell(NULL, "");
	one_cell("a,b", "\"a,b\"");
	one_cell("say \"hi\"", "\"say \"\"hi\"\"\"");
	one_cell("\"", "\"\"\"\"");
	one_cell("line1\nline2", "\"line1\nline2\"");
	one_cell("cr\rhere", "\"cr\rhere\"");
	one_cell("crlf\r\n", "\"crlf\r\n\"");
	one_cell("a=b+c-d@e", "a=b+c-d@e");
	one_cell(" =not first", " =not first");
	one_cell("tab\tinside", "tab\tinside");
	one_cell("utf-8 \xc3\xa9\xe2\x82\xac", "utf-8 \xc3\xa9\xe2\x82\xac");
}

/* Each character that starts a spreadsheet formula gets a quote. */
static void
test_export_csv_formula_guard(void **state)
{
	(void)state;
	one_cell("=1+2", "'=1+2");
	one_cell("+1", "'+1");
	one_cell("-1", "'-1");
	one_cell("@SUM(A1)", "'@SUM(A1)");
	one_cell("\tx", "'\tx");
	one_cell("\rx", "\"'\rx\"");
	one_cell("=HYPERLINK(\"http://x\",\"y\")",
	    "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
	one_cell("-a,b", "\"'-a,b\"");
	one_cell("=", "'=");
}

static void
test_export_csv_row(void **state)
{
	struct trpt_csv c;
	struct sink s;
	struct trpt_err err;

	(void)state;
	sink_open(&s);
	trpt_csv_init(&c, s.f);
	trpt_csv_field(&c, "a");
	trpt_csv_int(&c, -5); /* a number, not a formula */
	trpt_csv_int(&c, INT64_MAX);
	trpt_csv_date(&c, 0);
	trpt_csv_date(&c, 1778630399);
	trpt_csv_field_n(&c, "xyz", 2);
	trpt_csv_field(&c, NULL);
	assert_int_equal(trpt_csv_end_row(&c, &err), TRPT_OK);
	trpt_csv_date(&c, -62167219200LL);
	trpt_csv_date(&c, 253402300799LL);
	trpt_csv_date(&c, 253402300800LL);
	trpt_csv_date(&c, INT64_MIN);
	assert_int_equal(trpt_csv_end_row(&c, &err), TRPT_OK);
	trpt_csv_field(&c, "second");
	assert_int_equal(trpt_csv_end_row(&c, &err), TRPT_OK);
	assert_string_equal(sink_text(&s),
	    "a,-5,9223372036854775807,1970-01-01T00:00:00Z,"
	    "2026-05-12T23:59:59Z,xy,\r\n"
	    "0000-01-01T00:00:00Z,9999-12-31T23:59:59Z,253402300800,"
	    "-9223372036854775808\r\n"
	    "second\r\n");
	trpt_csv_free(&c);
	sink_close(&s);
}

static void
one_list(const char *json, const char *want)
{
	struct trpt_csv c;
	struct sink s;

	sink_open(&s);
	trpt_csv_init(&c, s.f);
	trpt_csv_list(&c, json);
	trpt_csv_field(&c, "next");
	assert_row(&s, &c, want);
	trpt_csv_free(&c);
	sink_close(&s);
}

static void
test_export_csv_list(void **state)
{
	(void)state;
	one_list(NULL, ",next");
	one_list("[]", ",next");
	one_list(" [ ] ", ",next");
	one_list("[\"a\"]", "a,next");
	one_list("[\"mx1.example.com\",\"*.example.net\"]",
	    "mx1.example.com|*.example.net,next");
	one_list("[ \"a\" , \"b\" ,\"c\" ]", "a|b|c,next");
	one_list("[\"\",\"\"]", "|,next");
	one_list("[\"version: STSv1\",\"mode: enforce\"]",
	    "version: STSv1|mode: enforce,next");
	/* Escapes, and CSV quoting of the joined cell. */
	one_list("[\"a,b\",\"say \\\"x\\\"\"]", "\"a,b|say \"\"x\"\"\",next");
	one_list("[\"l1\\nl2\",\"t\\tb\\\\s\\/\"]", "\"l1\nl2|t\tb\\s/\",next");
	one_list("[\"\\u00e9\\u20ac\\ud83d\\ude00\\u0041\"]",
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	    "A,next");
	one_list("[\"raw \xc3\xbc\"]", "raw \xc3\xbc,next");
	/* The guard looks at the cell, not each value. */
	one_list("[\"=cmd\",\"b\"]", "'=cmd|b,next");
	one_list("[\"b\",\"=cmd\"]", "b|=cmd,next");
}

static void
test_export_csv_list_malformed(void **state)
{
	static const char *bad[] = { "", "[", "]", "{}", "[1]", "[\"a\"",
		"[\"a\",]", "[,\"a\"]", "[\"a\"] x", "[\"a\" \"b\"]",
		"[\"\\x\"]", "[\"\\u12\"]", "[\"\\u0000\"]", "[\"\\ud800\"]",
		"[\"\\udc00\"]", "[\"\\ud800\\u0041\"]", "[\"ctl\x01\"]",
		"[\"unterminated]", "null" };
	struct trpt_csv c;
	struct trpt_err err;
	struct sink s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sink_open(&s);
		trpt_csv_init(&c, s.f);
		trpt_csv_list(&c, bad[i]);
		trpt_csv_field(&c, "x");
		if (trpt_csv_end_row(&c, &err) != TRPT_EPARSE)
			fail_msg("list %s was accepted", bad[i]);
		assert_non_null(strstr(err.msg, "not a JSON array"));
		/* Sticky: later rows report it too. */
		assert_int_equal(trpt_csv_end_row(&c, &err), TRPT_EPARSE);
		trpt_csv_free(&c);
		sink_close(&s);
	}
}

static void
test_export_csv_write_error(void **state)
{
	struct trpt_csv c;
	struct trpt_err err;
	FILE *f;

	(void)state;
	f = fopen("/dev/null", "r");
	assert_non_null(f);
	trpt_csv_init(&c, f);
	trpt_csv_field(&c, "a");
	assert_int_equal(trpt_csv_end_row(&c, &err), TRPT_EIO);
	assert_non_null(strstr(err.msg, "writing CSV"));
	trpt_csv_free(&c);
	fclose(f);
}

/*
 * The stored reports every export test reads: chosen to exercise order
 * (two reports with the same begin, one earlier), lists, NULLs, quoting,
 * the formula guard, UTF-8 and the filters.
 */
struct fixture {
	struct trpt_db *db;
};

/* Stores r, whose outcome must be want (TRPT_STORE_NEW, ...). */
static void
store_as(struct trpt_db *db, struct trpt_report *r, const char *bytes, int want)
{
	struct trpt_origin o = {
		.kind = "file", .source = "fixture", .received = 1779000000
	};
	struct trpt_raw raw = {
		.bytes = bytes, .len = strlen(bytes), .origin = &o
	};
	struct trpt_err err;
	int dup = -1;

	if (trpt_store_report(db, r, &raw, &dup, NULL, &err) != TRPT_OK)
		fail_msg("storing %s: %s", r->report_id, err.msg);
	assert_int_equal(dup, want);
}

static void
store(struct trpt_db *db, struct trpt_report *r, const char *bytes)
{
	store_as(db, r, bytes, TRPT_STORE_NEW);
}

static void
fill(struct trpt_db *db)
{
	/* Google: one STS policy with two failure details. */
	char *g_ps[] = { "version: STSv1", "mode: enforce",
		"mx: mx1.example.com", "mx: *.backup.example.com",
		"max_age: 604800" };
	char *g_mx[] = { "mx1.example.com", "*.backup.example.com" };
	struct trpt_failure g_f[] = {
		{ .result_type = "certificate-expired",
		    .sending_mta_ip = "209.85.220.41",
		    .receiving_mx_hostname = "mx1.example.com",
		    .receiving_ip = "192.0.2.10",
		    .failed_session_count = 3 },
		{ .result_type = "validation-failure",
		    .sending_mta_ip = "2607:f8b0:4864:20::b2f",
		    .receiving_mx_hostname = "mx2.backup.example.com",
		    .receiving_mx_helo = "mx2.backup.example.com",
		    .receiving_ip = "2001:db8::25",
		    .failure_reason_code = "hostname mismatch, \"CN=other\"",
		    .additional_information = "https://example.com/tls?a=1&b=2",
		    .failed_session_count = 1 },
	};
	struct trpt_policy g_p[] = { { .policy_type = "sts",
	    .policy_domain = "example.com",
	    .policy_strings = { g_ps, 5 },
	    .mx_hosts = { g_mx, 2 },
	    .successful = 1204,
	    .failed = 4,
	    .failures = g_f,
	    .nfailures = 2 } };
	struct trpt_report g = { .organization_name = "Google Inc.",
		.contact_info = "smtp-tls-reporting@google.com",
		.report_id = "2026-05-12T00:00:00Z_example.com",
		.begin = 1778544000,
		.end = 1778630399,
		.policies = g_p,
		.npolicies = 1 };

	/* Microsoft, same day: two policies, no contact, one failure with
	 * a multi-line reason; the second policy is in another domain. */
	struct trpt_failure m_f[] = {
		{ .result_type = "starttls-not-supported",
		    .sending_mta_ip = "40.107.1.1",
		    .receiving_mx_hostname = "mail.example.org",
		    .additional_information = "line one\nline two",
		    .failed_session_count = 7 },
	};
	struct trpt_policy m_p[] = {
		{ .policy_type = "sts",
		    .policy_domain = "example.com",
		    .successful = 50 },
		{ .policy_type = "no-policy-found",
		    .policy_domain = "example.org",
		    .successful = 0,
		    .failed = 7,
		    .failures = m_f,
		    .nfailures = 1 },
	};
	struct trpt_report m = { .organization_name = "Microsoft Corporation",
		.report_id = "133912345678901234+example.com",
		.begin = 1778544000,
		.end = 1778630399,
		.policies = m_p,
		.npolicies = 2 };

	/* A hostile sender, a day earlier: formula cells everywhere and a
	 * policy-domain in other letter case. */
	char *h_ps[] = { "=cmd|' /C calc'!A0", "mode: testing" };
	char *h_mx[] = { "@evil", "-x" };
	struct trpt_failure h_f[] = {
		{ .result_type = "+dane-required",
		    .sending_mta_ip = "-1",
		    .receiving_mx_hostname = "@mx",
		    .receiving_mx_helo = "\rhelo",
		    .receiving_ip = "\t10.0.0.1",
		    .failure_reason_code = "=1+1",
		    .additional_information = "\"quoted\", with comma",
		    .failed_session_count = 2 },
	};
	struct trpt_policy h_p[] = { { .policy_type = "tlsa",
	    .policy_domain = "Example.COM",
	    .policy_strings = { h_ps, 2 },
	    .mx_hosts = { h_mx, 2 },
	    .successful = 1,
	    .failed = 2,
	    .failures = h_f,
	    .nfailures = 1 } };
	struct trpt_report h = { .organization_name = "=HYPERLINK(\"x\")",
		.contact_info = "@attacker",
		.report_id = "-2+3",
		.begin = 1778457600,
		.end = 1778543999,
		.policies = h_p,
		.npolicies = 1 };

	/* A later report in UTF-8 with an empty policy-domain. */
	struct trpt_policy u_p[] = { { .policy_type = "no-policy-found",
	    .policy_domain = "",
	    .successful = 12 } };
	struct trpt_report u = { .organization_name =
				     "Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9"
				     "rale",
		.contact_info = "tls@soci\xc3\xa9t\xc3\xa9.example",
		.report_id = "u-1",
		.begin = 1778630400,
		.end = 1778716799,
		.policies = u_p,
		.npolicies = 1 };

	/* Stored out of order: the export sorts. */
	store(db, &u, "u");
	store(db, &m, "m");
	store(db, &g, "g");
	store(db, &h, "h");
}

static int
setup(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;

	if (trpt_test_db_connect(&db, &err) != TRPT_OK) {
		fprintf(stderr, "# %s\n", err.msg);
		return -1;
	}
	fill(db);
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

/*
 * Compares out with tests/fixtures/expected/name byte for byte.  With
 * TRPT_UPDATE_GOLDEN set, writes the file instead (review the diff!).
 */
static void
assert_golden(const char *name, const char *out, size_t len)
{
	char rel[128];
	const char *path;
	char *want;
	size_t wlen, i;

	snprintf(rel, sizeof(rel), "expected/%s", name);
	path = trpt_test_fixture(rel);
	if (getenv("TRPT_UPDATE_GOLDEN") != NULL) {
		trpt_test_write(path, out, len);
		return;
	}
	want = trpt_test_slurp(path, &wlen);
	for (i = 0; i < len && i < wlen && out[i] == want[i]; i++)
		;
	if (i < len || i < wlen)
		fail_msg("%s differs from the output at byte %zu "
			 "(lengths %zu and %zu)",
		    path, i, wlen, len);
	free(want);
}

static void
test_export_policies_golden(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_err err;
	struct sink s;
	uint64_t rows = 0;

	sink_open(&s);
	assert_int_equal(
	    trpt_export_policies_count(db, NULL, s.f, &rows, &err), TRPT_OK);
	assert_int_equal(rows, 5);
	sink_text(&s);
	assert_golden("policies.csv", s.data, s.len);
	sink_close(&s);
}

static void
test_export_failures_golden(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_err err;
	struct sink s;
	uint64_t rows = 0;

	sink_open(&s);
	assert_int_equal(
	    trpt_export_failures_count(db, NULL, s.f, &rows, &err), TRPT_OK);
	assert_int_equal(rows, 4);
	sink_text(&s);
	assert_golden("failures.csv", s.data, s.len);
	sink_close(&s);
}

/*
 * The plan of an export's statement: its SQL is read from SQLite's
 * sqlite_stmt in the row callback, while it streams (the only other
 * statement running), then EXPLAIN QUERY PLAN gives the plan's lines.
 */
struct plan {
	struct trpt_db *db;
	int rows;
	int64_t running;
	char sql[2048];
};

static int
first_row_sql(void *arg, const struct trpt_export_cell *row)
{
	struct plan *x = arg;

	(void)row;
	if (x->rows++ > 0)
		return TRPT_OK;
	x->running = trpt_test_db_int(x->db,
	    "SELECT count(*) FROM sqlite_stmt WHERE busy AND sql NOT LIKE"
	    " '%sqlite_stmt%'");
	trpt_test_db_text(x->db,
	    "SELECT sql FROM sqlite_stmt WHERE busy AND sql NOT LIKE"
	    " '%sqlite_stmt%'",
	    x->sql, sizeof(x->sql));
	return TRPT_OK;
}

/* The plan's lines of export kind (0 policies, 1 failures, 2 reports),
 * each ending in a newline, into out. */
static void
export_plan(
    struct trpt_db *db, int kind, const char *domain, char *out, size_t size)
{
	struct trpt_export_rows_filter f = { INT64_MIN, INT64_MAX, domain };
	struct plan x = { db, 0, 0, "" };
	struct trpt_stmt *st = NULL;
	struct trpt_err err;
	char sql[2100];
	size_t len = 0;
	int rc;

	rc = kind == 0
		 ? trpt_export_rows_policies(db, &f, first_row_sql, &x, &err)
	     : kind == 1
		 ? trpt_export_rows_failures(db, &f, first_row_sql, &x, &err)
		 : trpt_export_rows_reports(db, &f, first_row_sql, &x, &err);
	assert_int_equal(rc, TRPT_OK);
	assert_true(x.rows > 0);
	assert_int_equal(x.running, 1);
	snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", x.sql);
	assert_int_equal(trpt_sql_prepare(db, sql, &st, &err), TRPT_OK);
	out[0] = '\0';
	while ((rc = trpt_sql_step(st, &err)) == 1) {
		len += (size_t)snprintf(
		    out + len, size - len, "%s\n", trpt_sql_text(st, 3));
		assert_true(len < size);
	}
	assert_int_equal(rc, 0);
	trpt_sql_finalize(&st);
}

/*
 * Exports read the reports in the order of reports_begin, the reports'
 * unique key (begin_ts, organization_name, report_id, copy; migration
 * 0028), and each report's policies and failures from their own indexes:
 * the rows stream out as they are read, with no sort at all (from 0026
 * to 0027 SQLite sorted the reports of each begin time and organisation),
 * nor an automatic index.  Without the index, SQLite sorts everything:
 * the check sees it.
 */
static void
test_export_streams_in_key_order(void **state)
{
	static const char *const domains[] = { NULL, "example.com" };
	struct trpt_db *db = *state;
	char plan[2048];
	int kind, d;

	for (kind = 0; kind < 3; kind++)
		for (d = 0; d < 2; d++) {
			export_plan(db, kind, domains[d], plan, sizeof(plan));
			if (strstr(plan, "INDEX reports_begin (begin_ts>? AND"
					 " begin_ts<?)") == NULL ||
			    strstr(plan, "TEMP B-TREE") != NULL ||
			    strstr(plan, "AUTOMATIC") != NULL)
				fail_msg("export %d%s: %s", kind,
				    d ? " of a domain" : "", plan);
		}
	trpt_test_db_exec(db, "DROP INDEX reports_begin");
	export_plan(db, 0, NULL, plan, sizeof(plan));
	assert_non_null(strstr(plan, "USE TEMP B-TREE FOR ORDER BY"));
}

/* Exports with a filter, returning the data rows and the text. */
static uint64_t
export_rows(struct trpt_db *db, int failures, int64_t since, int64_t until,
    const char *domain, char **text)
{
	struct trpt_export_filter f;
	struct trpt_err err;
	struct sink s;
	uint64_t rows = 0;
	int rc;

	trpt_export_filter_init(&f);
	f.since = since;
	f.until = until;
	f.domain = domain;
	sink_open(&s);
	rc = failures ? trpt_export_failures_count(db, &f, s.f, &rows, &err)
		      : trpt_export_policies_count(db, &f, s.f, &rows, &err);
	if (rc != TRPT_OK)
		fail_msg("export: %s", err.msg);
	sink_text(&s);
	if (text != NULL)
		*text = strdup(s.data);
	sink_close(&s);
	return rows;
}

static void
test_export_filter_dates(void **state)
{
	struct trpt_db *db = *state;
	char *text;

	/* Begins: hostile 1778457600, Google and Microsoft 1778544000,
	 * Société 1778630400. */
	assert_int_equal(export_rows(db, 0, 0, 0, NULL, NULL), 5);
	assert_int_equal(
	    export_rows(db, 0, INT64_MIN, INT64_MAX, NULL, NULL), 5);
	assert_int_equal(export_rows(db, 0, 1778544000, 0, NULL, NULL), 4);
	assert_int_equal(export_rows(db, 0, 1778544001, 0, NULL, NULL), 1);
	assert_int_equal(export_rows(db, 0, 0, 1778544000, NULL, NULL), 1);
	assert_int_equal(export_rows(db, 0, 0, 1778544001, NULL, NULL), 4);
	/* since <= begin < until: one day exactly. */
	assert_int_equal(
	    export_rows(db, 0, 1778544000, 1778630400, NULL, &text), 3);
	assert_non_null(strstr(text, "Google Inc."));
	assert_non_null(strstr(text, "Microsoft Corporation"));
	assert_null(strstr(text, "HYPERLINK"));
	assert_null(strstr(text, "u-1"));
	free(text);
	assert_int_equal(
	    export_rows(db, 1, 1778544000, 1778630400, NULL, NULL), 3);
	/* Empty ranges still give the header. */
	assert_int_equal(
	    export_rows(db, 0, 1778630401, 1778630401, NULL, &text), 0);
	assert_string_equal(text,
	    "report_id,organization_name,contact_info,begin_date,end_date,"
	    "policy_type,policy_domain,policy_strings,mx_host_patterns,"
	    "successful_session_count,failed_session_count,copy,conflict\r\n");
	free(text);
	assert_int_equal(export_rows(db, 0, 0, INT64_MIN, NULL, NULL), 0);
	assert_int_equal(export_rows(db, 1, 1, 1778457600, NULL, &text), 0);
	assert_string_equal(text,
	    "report_id,organization_name,begin_date,end_date,policy_type,"
	    "policy_domain,mx_host_patterns,result_type,sending_mta_ip,"
	    "receiving_mx_hostname,receiving_mx_helo,receiving_ip,"
	    "failed_session_count,failure_reason_code,"
	    "additional_information,copy,conflict\r\n");
	free(text);
}

static void
test_export_filter_domain(void **state)
{
	struct trpt_db *db = *state;
	char *text;

	/* example.com: Google, Microsoft's first policy, and the hostile
	 * Example.COM (case-insensitive). */
	assert_int_equal(export_rows(db, 0, 0, 0, "example.com", NULL), 3);
	assert_int_equal(export_rows(db, 0, 0, 0, "EXAMPLE.com", &text), 3);
	assert_non_null(strstr(text, ",Example.COM,"));
	assert_null(strstr(text, "example.org"));
	free(text);
	assert_int_equal(export_rows(db, 1, 0, 0, "example.com", NULL), 3);
	assert_int_equal(export_rows(db, 0, 0, 0, "example.org", NULL), 1);
	assert_int_equal(export_rows(db, 1, 0, 0, "example.org", &text), 1);
	assert_non_null(strstr(text, "starttls-not-supported"));
	free(text);
	/* Exact, not a suffix or a pattern. */
	assert_int_equal(export_rows(db, 0, 0, 0, "ample.com", NULL), 0);
	assert_int_equal(export_rows(db, 0, 0, 0, "%", NULL), 0);
	assert_int_equal(export_rows(db, 0, 0, 0, "example.co_", NULL), 0);
	/* "" means any domain. */
	assert_int_equal(export_rows(db, 0, 0, 0, "", NULL), 5);
	/* Combined with dates. */
	assert_int_equal(
	    export_rows(db, 0, 1778544000, 1778630400, "example.com", NULL), 2);
}

static void
test_export_write_error(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_err err;
	FILE *f = fopen("/dev/full", "w");

	assert_non_null(f);
	assert_int_equal(trpt_export_policies(db, NULL, f, &err), TRPT_EIO);
	assert_non_null(strstr(err.msg, "writing CSV"));
	fclose(f);
}

/* A list the database should never hold fails the export clearly. */
static void
test_export_bad_list(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_err err;
	struct sink s;

	trpt_test_db_exec(db, "UPDATE policies SET mx_hosts = '[1,2]' "
			      "WHERE policy_domain = 'example.org'");
	sink_open(&s);
	assert_int_equal(
	    trpt_export_policies(db, NULL, s.f, &err), TRPT_EPARSE);
	assert_non_null(strstr(err.msg, "exporting policies"));
	assert_non_null(strstr(err.msg, "[1,2]"));
	sink_close(&s);
}

/* Many rows stream out; each is in order. */
/*
 * The reports of one begin time and organisation come out by report-id
 * and copy, whatever order they were stored in: 300 report-ids stored
 * from the highest down, every tenth with a second copy.
 */
static void
test_export_order_one_begin(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_policy p = { .policy_type = "sts",
		.policy_domain = "example.com",
		.successful = 1 };
	struct trpt_report r = { .organization_name = "Org",
		.begin = 1778544000,
		.end = 1778630399,
		.policies = &p,
		.npolicies = 1 };
	struct trpt_err err;
	char id[32], raw[64], *text, *line, *save = NULL, *copy;
	long n = 0;
	int i, ri = 0, c = 0;

	(void)state;
	assert_int_equal(trpt_test_db_connect(&db, &err), TRPT_OK);
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (i = 299; i >= 0; i--) {
		snprintf(id, sizeof(id), "r%03d", i);
		r.report_id = id;
		p.successful = 1;
		snprintf(raw, sizeof(raw), "%s-0", id);
		store(db, &r, raw);
		if (i % 10 == 0) {
			p.successful = 2; /* other content: copy 1 */
			snprintf(raw, sizeof(raw), "%s-1", id);
			store_as(db, &r, raw, TRPT_STORE_CONFLICT);
		}
	}
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	assert_int_equal(export_rows(db, 0, 0, 0, NULL, &text), 330);
	for (line = strtok_r(text, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		if (n++ == 0)
			continue;
		/* report_id first, copy the second cell from the end. */
		snprintf(id, sizeof(id), "r%03d,", ri);
		assert_memory_equal(line, id, strlen(id));
		copy = strrchr(line, ',');
		assert_non_null(copy);
		*copy = '\0';
		copy = strrchr(line, ',');
		assert_non_null(copy);
		assert_string_equal(copy, c ? ",1" : ",0");
		if (c == 0 && ri % 10 == 0)
			c = 1;
		else {
			ri++;
			c = 0;
		}
	}
	assert_int_equal(n, 331);
	assert_int_equal(ri, 300);
	free(text);
	trpt_db_close(&db);
}

static void
test_export_many(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_policy p = { .policy_type = "sts",
		.policy_domain = "example.com",
		.successful = 1 };
	struct trpt_report r = {
		.organization_name = "Org", .policies = &p, .npolicies = 1
	};
	struct trpt_err err;
	char id[32], *text, *line, *save = NULL;
	long prev = -1, n = 0;
	int i;

	(void)state;
	assert_int_equal(trpt_test_db_connect(&db, &err), TRPT_OK);
	assert_int_equal(trpt_store_begin(db, &err), TRPT_OK);
	for (i = 0; i < 2000; i++) {
		/* begin falls as i rises: the export must reverse them. */
		snprintf(id, sizeof(id), "%d", i);
		r.report_id = id;
		r.begin = 1778544000 - (int64_t)i * 60;
		r.end = r.begin + 59;
		store(db, &r, id);
	}
	assert_int_equal(trpt_store_commit(db, &err), TRPT_OK);
	assert_int_equal(export_rows(db, 0, 0, 0, NULL, &text), 2000);
	for (line = strtok_r(text, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		if (n++ == 0)
			continue;
		assert_true(prev < 0 || strtol(line, NULL, 10) == prev - 1);
		prev = strtol(line, NULL, 10);
	}
	assert_int_equal(n, 2001);
	assert_int_equal(prev, 0);
	free(text);
	trpt_db_close(&db);
}

/* SQLite's allocator with a one-shot fault at allocation fail_at. */
static sqlite3_mem_methods real_mem;
static long fail_at = -1;
static int injected;

static void *
faulty_malloc(int n)
{
	if (fail_at == 0) {
		fail_at = -1;
		injected = 1;
		return NULL;
	}
	if (fail_at > 0)
		fail_at--;
	return real_mem.xMalloc(n);
}

static void *
faulty_realloc(void *p, int n)
{
	if (fail_at == 0) {
		fail_at = -1;
		injected = 1;
		return NULL;
	}
	if (fail_at > 0)
		fail_at--;
	return real_mem.xRealloc(p, n);
}

static void
install_faulty_malloc(void)
{
	sqlite3_mem_methods m;

	assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
	assert_int_equal(
	    sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem), SQLITE_OK);
	m = real_mem;
	m.xMalloc = faulty_malloc;
	m.xRealloc = faulty_realloc;
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
	assert_int_equal(
	    sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0), SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
}

/* Out of memory anywhere in an export fails it cleanly, or not at all. */
static void
test_export_oom(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_err err;
	struct sink s;
	char *golden;
	size_t glen;
	long n;
	int rc = TRPT_OK, which, failures = 0;

	for (which = 0; which < 2; which++) {
		golden = trpt_test_slurp(
		    trpt_test_fixture(which == 0 ? "expected/policies.csv"
						 : "expected/failures.csv"),
		    &glen);
		for (n = 0; n < 100000; n++) {
			sink_open(&s);
			injected = 0;
			fail_at = n;
			rc = which == 0
				 ? trpt_export_policies(db, NULL, s.f, &err)
				 : trpt_export_failures(db, NULL, s.f, &err);
			fail_at = -1;
			if (rc == TRPT_OK) {
				sink_text(&s);
				assert_int_equal(s.len, glen);
				assert_memory_equal(s.data, golden, glen);
			} else if (rc == TRPT_ENOMEM || rc == TRPT_EDB)
				failures++;
			else
				fail_msg(
				    "allocation %ld: %d %s", n, rc, err.msg);
			sink_close(&s);
			if (!injected)
				break;
		}
		free(golden);
		assert_int_equal(rc, TRPT_OK);
	}
	assert_true(failures > 0);
}

int
main(void)
{
	struct CMUnitTest tests[] = {
		cmocka_unit_test(test_export_csv_quoting),
		cmocka_unit_test(test_export_csv_formula_guard),
		cmocka_unit_test(test_export_csv_row),
		cmocka_unit_test(test_export_csv_list),
		cmocka_unit_test(test_export_csv_list_malformed),
		cmocka_unit_test(test_export_csv_write_error),
		cmocka_unit_test_setup_teardown(
		    test_export_policies_golden, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_export_failures_golden, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_export_streams_in_key_order, setup, teardown),
		cmocka_unit_test(test_export_order_one_begin),
		cmocka_unit_test_setup_teardown(
		    test_export_filter_dates, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_export_filter_domain, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_export_write_error, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_export_bad_list, setup, teardown),
		cmocka_unit_test(test_export_many),
		cmocka_unit_test_setup_teardown(
		    test_export_oom, setup, teardown),
	};

	trpt_test_db_sqlite_only(tests, sizeof(tests) / sizeof(tests[0]),
	    "test_export_streams_in_key_order",
	    "SQLite's query plan, read from sqlite_stmt and EXPLAIN");
	/* The failing allocations are SQLite's and the export's own, which
	 * are the same code on both databases. */
	trpt_test_db_sqlite_only(tests, sizeof(tests) / sizeof(tests[0]),
	    "test_export_oom", "SQLite's allocator hook makes the failures");
	install_faulty_malloc();
	return cmocka_run_group_tests_name("export", tests, NULL, NULL);
}
