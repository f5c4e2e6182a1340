/* HTML escaping, SVG charts, password hashes and the dashboard's pages. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/passwd.h"
#include "common/width.h"
#include "report/alert.h"
#include "report/dash.h"
#include "report/html.h"
#include "report/svg.h"
#include "report/trend.h"
#include "schema/db.h"
#include "schema/store.h"
#include "schema/view.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"
#include "tests/unit/reportgen.h"

#define W1 20479 /* 2026-01-26 */

static char *
render_text(const char *s)
{
	struct trpt_html h;
	char *out = NULL;
	size_t len;

	trpt_html_init(&h, 1024);
	trpt_html_text(&h, s);
	assert_int_equal(trpt_html_finish(&h, &out, &len, NULL), TRPT_OK);
	return out;
}

static void
test_dash_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "<script>alert(1)</script>",
		    "&lt;script&gt;alert(1)&lt;/script&gt;" },
		{ "a\"b'c&d", "a&quot;b&#39;c&amp;d" },
		{ "\x1b[31mred", "\\x1b[31mred" },
		{ "nul\x7f", "nul\\x7f" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" }, /* UTF-8 kept */
		{ "bad\xff", "bad\xef\xbf\xbd" }, /* not UTF-8 */
		{ "over\xc0\xaf",
		    "over\xef\xbf\xbd\xef\xbf\xbd" }, /* overlong */
		{ "c1\xc2\x9b", "c1\\u009b" },        /* C1 CSI */
		{ "tab\tnl\n", "tab\tnl\n" },
	};
	size_t i;
	char *out;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = render_text(cases[i].in);
		assert_string_equal(out, cases[i].out);
		free(out);
	}
}

static void
test_dash_url_and_cap(void **state)
{
	struct trpt_html h;
	struct trpt_err err;
	char *out = NULL;
	size_t len, i;

	(void)state;
	trpt_html_init(&h, 1024);
	trpt_html_url(&h, "a b&c=\"<x>/é");
	assert_int_equal(trpt_html_finish(&h, &out, &len, NULL), TRPT_OK);
	assert_string_equal(out, "a%20b%26c%3D%22%3Cx%3E%2F%C3%A9");
	free(out);
	/* Past the cap every later write is a no-op and finish fails. */
	trpt_html_init(&h, 100);
	for (i = 0; i < 50; i++)
		trpt_html_raw(&h, "0123456789");
	assert_int_equal(trpt_html_finish(&h, &out, &len, &err), TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "limit"));
}

/* The share chart's axis follows the data: a dip from 99.9% to 93% gets
 * an axis from 90%, so the dip spans most of the chart's height. */
static void
test_dash_share_axis(void **state)
{
	double r[4] = { 0.999, 0.999, 0.93, -1 };
	int64_t s[4] = { 1000, 1000, 1000, 0 };
	struct trpt_html h;
	char *out = NULL;
	size_t len;

	(void)state;
	trpt_html_init(&h, 1 << 20);
	trpt_svg_share(&h, r, s, 4, W1, "a <label>");
	assert_int_equal(trpt_html_finish(&h, &out, &len, NULL), TRPT_OK);
	assert_non_null(strstr(out, ">90%</text>"));
	assert_null(strstr(out, ">0%</text>"));
	assert_non_null(strstr(out, "aria-label=\"a &lt;label&gt;\""));
	assert_non_null(strstr(out, "2026-01-28: 93.00% of 1,000 sessions"));
	/* day 4 had no sessions: a gap, no point */
	assert_null(strstr(out, "2026-01-29:"));
	assert_null(strstr(out, "style="));
	free(out);
}

/* Terminal columns count cells, not bytes. */
static void
test_dash_width(void **state)
{
	char buf[64];
	FILE *f;

	(void)state;
	assert_int_equal(trpt_width("example.com"), 11);
	assert_int_equal(trpt_width("b\xc3\xbc"
				    "cher.example"),
	    14);
	assert_int_equal(trpt_width("\xe6\x97\xa5\xe6\x9c\xac"), 4); /* 日本 */
	assert_int_equal(trpt_width("e\xcc\x81"), 1); /* e + combining acute */
	f = fmemopen(buf, sizeof(buf), "w");
	assert_non_null(f);
	/* Cut at a character boundary, padded to the width. */
	assert_int_equal(trpt_width_fput(f, "\xe6\x97\xa5\xe6\x9c\xac!", 3), 0);
	assert_int_equal(trpt_width_fput(f, "ab", 4), 0);
	fclose(f);
	assert_string_equal(buf, "\xe6\x97\xa5 ab  ");
}

/* Terminal sparklines on the series' own scale: 99.9% and 93% differ. */
static void
test_dash_spark_scaled(void **state)
{
	(void)state;
	/* On the absolute scale both are the same bar... */
	assert_string_equal(trpt_trend_spark(0.999), trpt_trend_spark(0.93));
	/* ...on the series' scale, the top but one and the bottom. */
	assert_string_equal(
	    trpt_trend_spark_scaled(0.999, 0.93, 0.999), "\u2587");
	assert_string_equal(
	    trpt_trend_spark_scaled(0.93, 0.93, 0.999), "\u2581");
	assert_string_equal(trpt_trend_spark_scaled(1.0, 0.93, 1.0), "\u2588");
	/* A flat series keeps the absolute scale. */
	assert_string_equal(trpt_trend_spark_scaled(0.0, 0.0, 0.0), "\u2581");
	assert_string_equal(trpt_trend_spark_scaled(-1, 0.5, 1.0), "\u00b7");
}

static void
test_dash_passwd(void **state)
{
	char line[TRPT_PASSWD_LINE_MAX], file[600];
	struct trpt_err err;
	int ok = -1;

	(void)state;
	assert_int_equal(
	    trpt_passwd_hash("viewer", "s3cret", 1000, line, &err), TRPT_OK);
	assert_int_equal(strncmp(line, "viewer:pbkdf2-sha256$1000$", 26), 0);
	snprintf(file, sizeof(file), "# users\n\nother:%s\n%s\n",
	    strchr(line, ':') + 1, line);
	assert_int_equal(
	    trpt_passwd_check(file, "viewer", "s3cret", &ok, &err), TRPT_OK);
	assert_int_equal(ok, 1);
	assert_int_equal(
	    trpt_passwd_check(file, "viewer", "s3creT", &ok, &err), TRPT_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(
	    trpt_passwd_check(file, "nobody", "s3cret", &ok, &err), TRPT_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(
	    trpt_passwd_check("viewer:plain\n", "viewer", "plain", &ok, &err),
	    TRPT_EPARSE);
	assert_non_null(strstr(err.msg, "line 1"));
	assert_int_equal(trpt_passwd_check("v:pbkdf2-sha256$0$AAAA$BBBB\n", "v",
			     "x", &ok, &err),
	    TRPT_EPARSE);
	assert_int_equal(
	    trpt_passwd_hash("a:b", "x", 1000, line, &err), TRPT_EINVAL);
}

static int
setup(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;
	struct gen g = { 0 };
	int64_t d, f;

	if (trpt_test_db_connect(&db, &err) != TRPT_OK)
		return -1;
	for (d = W1 - 14; d < W1 + 7; d++) {
		f = d >= W1 + 2 ? 100 : 0;
		gen_begin(&g, "Google Inc.", d);
		gen_policy(&g, "sts", "example.com", 1000 - f, f, 0);
		if (f > 0)
			gen_failure(&g, "certificate-expired",
			    "mx2.example.com", "209.85.220.1", f);
		gen_policy(&g, "sts", "aaa.example", 50, 0, 0);
		if (gen_end(&g, db) != TRPT_OK)
			return -1;
	}
	gen_begin(&g, "<script>x</script>", W1);
	gen_policy(&g, "sts", "evil\x1b[31m.example", 1, 1, 0);
	gen_failure(&g, "<b>type</b>", "mx\"'.example", NULL, 1);
	if (gen_end(&g, db) != TRPT_OK)
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

static char *
page(
    struct trpt_db *db, const struct trpt_alerts *a, int which, const char *arg)
{
	struct trpt_dash d = { db, W1 - 14, W1 + 6, NULL, a, 0, 0 };
	struct trpt_html h;
	struct trpt_err err;
	char *out = NULL;
	size_t len;
	int rc;

	trpt_html_init(&h, TRPT_HTML_MAX_PAGE);
	trpt_dash_begin(&h, &d, "t");
	rc = which == 0   ? trpt_dash_overview(&d, &h, &err)
	     : which == 1 ? trpt_dash_domain(&d, arg, &h, &err)
	     : which == 2 ? trpt_dash_sender(&d, arg, &h, &err)
	     : which == 3 ? trpt_dash_report(&d, 1, NULL, &h, &err)
			  : trpt_dash_quarantine(&d, &h, &err);
	if (rc != TRPT_OK)
		fprintf(stderr, "# %s\n", err.msg);
	assert_int_equal(rc, TRPT_OK);
	trpt_dash_end(&h);
	assert_int_equal(trpt_html_finish(&h, &out, &len, &err), TRPT_OK);
	return out;
}

static void
test_dash_pages(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_alert_config ac;
	struct trpt_alerts *a = NULL;
	struct trpt_err err;
	char *out, *com, *aaa;

	trpt_alert_config_init(&ac);
	assert_int_equal(
	    trpt_alert_detect(db, &ac, W1 - 14, W1 + 7, &a, &err), TRPT_OK);
	out = page(db, a, 0, NULL);
	/* The domain needing action comes first, before aaa.example. */
	com = strstr(out, ">example.com</a></td><td class=\"n bad\">");
	aaa = strstr(out, ">aaa.example</a>");
	assert_non_null(com);
	assert_non_null(aaa);
	assert_true(com < aaa);
	assert_non_null(strstr(out, "evil\\x1b[31m.example"));
	assert_null(strstr(out, "\x1b"));
	free(out);

	out = page(db, a, 1, "example.com");
	assert_non_null(strstr(out, "<svg class=\"chart\""));
	assert_non_null(strstr(out, "OPEN drop"));
	assert_non_null(strstr(out, "mx2.example.com"));
	assert_non_null(strstr(out, "Probable causes"));
	free(out);

	out = page(db, a, 1, "evil\x1b[31m.example");
	assert_null(strstr(out, "<script>"));
	assert_null(strstr(out, "<b>"));
	assert_non_null(strstr(out, "&lt;b&gt;type&lt;/b&gt;"));
	assert_non_null(strstr(out, "mx&quot;&#39;.example"));
	free(out);

	out = page(db, a, 2, "Google Inc.");
	assert_non_null(strstr(out, "Sender Google Inc."));
	assert_non_null(strstr(out, "certificate-expired"));
	free(out);

	out = page(db, a, 3, NULL);
	assert_non_null(strstr(out, "Provenance"));
	assert_non_null(strstr(out, "<th>DKIM</th><td><span class=\"muted\">"
				    "not verified"));
	free(out);
	/* A verified report shows its signature, escaped. */
	trpt_test_db_exec(db, "UPDATE reports SET dkim = 'pass', dkim_domain = "
			      "'google.com', dkim_selector = 's<1>', "
			      "dkim_aligned = 'same' WHERE id = 1");
	out = page(db, a, 3, NULL);
	assert_non_null(strstr(out, "<strong class=\"ok\">pass</strong> "
				    "d=google.com s=s&lt;1&gt;, aligned with "
				    "the sender: same"));
	free(out);
	out = page(db, a, 4, NULL);
	assert_non_null(strstr(out, "0 rejected inputs"));
	free(out);
	trpt_alert_free(&a);
}

/*
 * The senders of a failure reason (and a sender's domains) are listed in
 * byte order whatever order they were stored in, on both databases; a
 * comma in a name is kept as it is.  SQLite's group_concat listed them in
 * the order it met them.
 */
static void
test_dash_reason_lists(void **state)
{
	static const char *const orgs[] = { "Zeta Mail", "alpha, Inc.",
		"Beta Corp", "Zeta Mail", "Mu" };
	static const char *const domains[] = { "z.example", "B.example",
		"a.example", "z.example" };
	struct trpt_db *db = *state;
	struct trpt_view_filter f = { W1 - 14, W1 + 7, "list.example", NULL,
		10 };
	struct trpt_view_rows *r = NULL;
	struct trpt_err err;
	struct gen g = { 0 };
	size_t i;

	for (i = 0; i < sizeof(orgs) / sizeof(orgs[0]); i++) {
		gen_begin(&g, orgs[i], W1 + 3 - (int64_t)(i % 2));
		gen_policy(&g, "sts", "list.example", 10, 5, 0);
		gen_failure(&g, "validation-failure", "mx.list.example",
		    "192.0.2.9", 5);
		assert_int_equal(gen_end(&g, db), TRPT_OK);
	}
	for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		gen_begin(&g, "Lister", W1 + 1 + (int64_t)i);
		gen_policy(&g, "sts", domains[i], 10, 3, 0);
		gen_failure(
		    &g, "dane-required", "mx.lister.example", "192.0.2.10", 3);
		assert_int_equal(gen_end(&g, db), TRPT_OK);
	}
	assert_int_equal(trpt_view_reasons(db, &f, &r, &err), TRPT_OK);
	assert_int_equal(r->nrows, 1);
	assert_int_equal(trpt_view_int(r, 0, 5), 5);
	assert_string_equal(
	    trpt_view_text(r, 0, 6), "Beta Corp, Mu, Zeta Mail, alpha, Inc.");
	trpt_view_free(&r);

	f.domain = NULL;
	f.org = "Lister";
	assert_int_equal(trpt_view_reasons(db, &f, &r, &err), TRPT_OK);
	assert_int_equal(r->nrows, 1);
	assert_string_equal(
	    trpt_view_text(r, 0, 6), "B.example, a.example, z.example");
	trpt_view_free(&r);
}

/*
 * A query of a page that fails names the query: its text outlives the
 * statement (on PostgreSQL the error comes at the first step, after the
 * view's copy of the text had been freed).
 */
static void
test_dash_query_error(void **state)
{
	struct trpt_db *db = *state;
	struct trpt_view_rows *r = NULL;
	struct trpt_err err;

	trpt_test_db_exec(db, "ALTER TABLE raw_inputs RENAME TO raw_gone");
	assert_int_equal(trpt_view_report(db, 1, &r, &err), TRPT_EDB);
	assert_null(r);
	assert_non_null(strstr(err.msg, ": SELECT r.id, r.organization_name"));
	assert_non_null(strstr(err.msg, "raw_inputs"));
}

static int64_t
version(struct trpt_db *db)
{
	struct trpt_err err;
	int64_t v = -1;

	if (trpt_view_data_version(db, &v, &err) != TRPT_OK)
		fail_msg("data version: %s", err.msg);
	return v;
}

/*
 * The key of the dashboard's cache changes with every commit that changes
 * the rollups.  On PostgreSQL a transaction that took a lower report id
 * may commit after one with a higher id: the highest id, the key before,
 * stayed the same then, and the cache kept alerts without its reports.
 * SQLite has one writer at a time, so there the two commit in turn.
 */
static void
test_dash_data_version(void **state)
{
	struct trpt_db *a = NULL, *b = NULL;
	struct trpt_err err;
	struct gen g = { 0 };
	char *dir = trpt_test_tmpdir(), path[4200], *name;
	int64_t v0, v1, v2;
	int pg = trpt_test_db_pg();

	(void)state;
	snprintf(path, sizeof(path), "%s/version.db", dir);
	name = trpt_test_db_new(path);
	if (trpt_db_open(name, &a, &err) != TRPT_OK ||
	    trpt_db_open(name, &b, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	v0 = version(b);

	/* a takes the lower id, b the higher one and commits first. */
	assert_int_equal(trpt_store_begin(a, &err), TRPT_OK);
	gen_begin(&g, "Early Org", W1);
	gen_policy(&g, "sts", "early.example", 90, 10, 0);
	assert_int_equal(gen_end(&g, a), TRPT_OK);
	if (!pg)
		assert_int_equal(trpt_store_commit(a, &err), TRPT_OK);
	assert_int_equal(trpt_store_begin(b, &err), TRPT_OK);
	gen_begin(&g, "Late Org", W1);
	gen_policy(&g, "sts", "late.example", 100, 0, 0);
	assert_int_equal(gen_end(&g, b), TRPT_OK);
	assert_int_equal(trpt_store_commit(b, &err), TRPT_OK);
	v1 = version(b);
	assert_true(v1 > v0);
	if (pg) {
		assert_true(trpt_test_db_int(b, "SELECT max(id) FROM reports") >
			    trpt_test_db_int(a, "SELECT min(id) FROM reports"));
		assert_int_equal(trpt_store_commit(a, &err), TRPT_OK);
	}
	v2 = version(b);
	assert_true(v2 > v1 || !pg);
	/* A transaction that stores nothing leaves it as it is. */
	assert_int_equal(trpt_store_begin(a, &err), TRPT_OK);
	assert_int_equal(trpt_store_commit(a, &err), TRPT_OK);
	assert_int_equal(version(b), v2);
	trpt_db_close(&a);
	trpt_db_close(&b);
	trpt_test_db_drop(name);
	free(name);
	trpt_test_rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dash_escape),
		cmocka_unit_test(test_dash_url_and_cap),
		cmocka_unit_test(test_dash_share_axis),
		cmocka_unit_test(test_dash_passwd),
		cmocka_unit_test(test_dash_spark_scaled),
		cmocka_unit_test(test_dash_width),
		cmocka_unit_test_setup_teardown(
		    test_dash_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_dash_query_error, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_dash_reason_lists, setup, teardown),
		cmocka_unit_test(test_dash_data_version),
	};

	return cmocka_run_group_tests_name("dash", tests, NULL, NULL);
}
