/*
 * The shared corpus of real and quirky reports (../shared/corpus): every
 * file has its expected outcome, and the quirks their expected reading.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/files.h"
#include "ingest/pipeline.h"
#include "schema/db.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"

struct expect {
	const char *file;
	int stored;         /* 1: accepted, 0: rejected */
	const char *reason; /* for a rejection */
	int policies, failures, warnings;
	int64_t successful, failed; /* summed over the policies */
};

/* Reviewed by hand against each file and ../shared/RFC8460-NOTES.md. */
static const struct expect expected[] = {
	{ "real/google-like_parsedmarc_smtp_tls.json", 1, NULL, 1, 2, 0, 0, 3 },
	{ "real/google_cry-inc_domain.de_compact.json", 1, NULL, 1, 0, 0, 2,
	    0 },
	{ "real/google_cry-inc_foo-bar.io_no-policy-found.json", 1, NULL, 1, 0,
	    0, 1, 0 },
	{ "real/google_cry-inc_foo-bar.io_sts.json", 1, NULL, 1, 0, 0, 1, 0 },
	{ "real/google_isseis_success_1.eml", 1, NULL, 1, 0, 0, 1, 0 },
	{ "real/google_isseis_success_2.eml", 1, NULL, 1, 0, 0, 4, 0 },
	{ "real/google_marcbradshaw_fastmaildmarc_no-policy-found.eml", 1, NULL,
	    1, 0, 0, 343, 0 },
	{ "real/google_marcbradshaw_fastmaildmarc_no-policy-found.json", 1,
	    NULL, 1, 0, 0, 343, 0 },
	{ "real/google_marcbradshaw_fastmaildmarc_no-policy-found.json.gz", 1,
	    NULL, 1, 0, 0, 343, 0 },
	{ "real/google_mox_test.xmox.nl_attachment.json.gz", 1, NULL, 1, 0, 0,
	    3, 0 },
	{ "real/google_mox_test.xmox.nl_crlf.eml", 1, NULL, 1, 0, 0, 3, 0 },
	{ "real/google_parsedmarc_cardinalhealth.eml", 1, NULL, 1, 0, 0, 48,
	    0 },
	{ "real/google_parsedmarc_cardinalhealth_attachment.json.gz", 1, NULL,
	    1, 0, 0, 48, 0 },
	{ "real/google_phi-ag_example.com.json", 1, NULL, 1, 0, 0, 53, 0 },
	{ "real/microsoft_cry-inc_random.net_sts-and-tlsa.json", 1, NULL, 2, 0,
	    1, 4, 0 },
	{ "real/microsoft_isseis_success.eml", 1, NULL, 1, 0, 0, 2, 0 },
	{ "real/microsoft_neztore_josh.scot.json.gz", 1, NULL, 1, 0, 0, 2, 0 },
	{ "real/microsoft_phi-ag_example.com.json", 1, NULL, 1, 0, 0, 18, 0 },
	{ "quirky/draft-example_danmarg_failure-error-code_mxhost-string.json",
	    1, NULL, 1, 3, 2, 5326, 303 },
	{ "quirky/"
	  "google-like_robalexdev_failures-without-details_punycode.json",
	    1, NULL, 1, 0, 0, 99, 102 },
	{ "quirky/google-like_stalwart_rpt02.json", 1, NULL, 1, 1, 0, 23, 1 },
	{ "quirky/"
	  "google-like_stalwart_rpt02_application-tlsrpt-uncompressed.eml",
	    1, NULL, 1, 1, 0, 23, 1 },
	{ "quirky/google-like_stalwart_rpt03_no-policy-domain.json", 0,
	    "policies[0].policy: policy-domain missing", 0, 0, 0, 0, 0 },
	{ "quirky/google_isseis_failure_edited-content-mismatch.eml", 1, NULL,
	    1, 1, 0, 4523, 2 },
	{ "quirky/mailru_parsedmarc_sts-fetch-error.json", 1, NULL, 1, 2, 1, 0,
	    1 },
	{ "quirky/microsoft_cry-inc_no-sending-ip-no-mx.json", 1, NULL, 1, 1, 0,
	    0, 3 },
	{ "quirky/microsoft_mox_no-timezone-datetime_attachment.json.gz", 1,
	    NULL, 1, 0, 2, 2, 0 },
	{ "quirky/microsoft_mox_no-timezone-datetime_crlf.eml", 1, NULL, 1, 0,
	    2, 2, 0 },
	{ "quirky/microsoft_neztore_hand-edited-failure-details.json", 1, NULL,
	    1, 1, 3, 2, 2 },
	{ "quirky/microsoft_phi-ag_no-timezone-datetime.json", 1, NULL, 1, 0, 2,
	    7, 0 },
	{ "quirky/parsedmarc_empty_failure_detail_fields.json", 1, NULL, 1, 1,
	    0, 0, 1 },
	{ "quirky/"
	  "postfix-sys4-tlsrpt-reporter_from-issue-sys4-51_no-policy-domain."
	  "json",
	    0, "policy-domain missing, and no TLS-Report-Domain", 0, 0, 0, 0,
	    0 },
	{ "quirky/rfc8460-errata6241_phi-ag_mxhost-array.json", 1, NULL, 1, 3,
	    0, 5326, 303 },
	{ "quirky/rfc8460-example_phi-ag_mxhost-string.json", 1, NULL, 1, 3, 1,
	    5326, 303 },
	{ "quirky/rfc8460-example_robalexdev_unfolded-headers.eml", 1, NULL, 1,
	    3, 1, 5326, 303 },
	{ "quirky/rfc8460-example_stalwart_rpt01.eml", 1, NULL, 1, 3, 0, 5326,
	    303 },
	{ "quirky/rfc8460-example_stalwart_rpt01.json", 1, NULL, 1, 3, 0, 5326,
	    303 },
	{ "quirky/rfc8460_parsedmarc_example-mxhost-string.json", 1, NULL, 1, 3,
	    1, 5326, 303 },
	{ "quirky/"
	  "stalwart-egressif_from-issue-parsedmarc575_contact-null_empty-"
	  "arrays.json",
	    1, NULL, 1, 0, 0, 1, 0 },
	{ "quirky/stalwart-refluxstop_from-issue-cry-inc71_contact-null.json",
	    1, NULL, 1, 0, 0, 1, 0 },
	{ "quirky/"
	  "unknown-sender_cry-inc_contact-info-null_mxhost-with-prefix.json",
	    1, NULL, 1, 0, 0, 1, 0 },
};

struct run {
	struct trpt_db *db;
	struct trpt_pipeline p;
	char reason[512];
};

static void
on_event(void *arg, const struct trpt_event *ev)
{
	struct run *r = arg;

	if (ev->kind == TRPT_EV_REJECTED)
		snprintf(r->reason, sizeof(r->reason), "%s", ev->reason);
}

static void
run_open(struct run *r)
{
	struct trpt_limits lim;
	struct trpt_err err;

	memset(r, 0, sizeof(*r));
	if (trpt_test_db_connect(&r->db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	trpt_limits_default(&lim);
	trpt_pipeline_init(&r->p, r->db, &lim);
	r->p.on_event = on_event;
	r->p.arg = r;
}

static void
run_path(struct run *r, const char *path)
{
	struct trpt_err err;

	if (trpt_files_ingest(&r->p, path, &err) != TRPT_OK)
		fail_msg("%s: %s", path, err.msg);
}

static int64_t
q(struct run *r, const char *sql)
{
	return trpt_test_db_int(r->db, sql);
}

static int
corpus_present(void)
{
	if (trpt_test_corpus("") == NULL) {
		fprintf(stderr, "# shared corpus absent: corpus tests skipped; "
				"set TRPT_CORPUS to ../shared/corpus\n");
		return 0;
	}
	return 1;
}

static void
test_corpus_each_file(void **state)
{
	size_t i;

	(void)state;
	if (!corpus_present())
		skip();
	for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		const struct expect *e = &expected[i];
		struct run r;
		int64_t v;

		run_open(&r);
		run_path(&r, trpt_test_corpus(e->file));
		if ((int)r.p.stats.stored != e->stored ||
		    (int)r.p.stats.rejected != !e->stored)
			fail_msg("%s: stored %d rejected %d (%s)", e->file,
			    (int)r.p.stats.stored, (int)r.p.stats.rejected,
			    r.reason);
		if (!e->stored && strstr(r.reason, e->reason) == NULL)
			fail_msg("%s: reason \"%s\", want \"%s\"", e->file,
			    r.reason, e->reason);
		if (e->stored) {
			if ((v = q(&r, "SELECT COUNT(*) FROM policies")) !=
			    e->policies)
				fail_msg("%s: %d policies", e->file, (int)v);
			if ((v = q(&r, "SELECT COUNT(*) FROM failures")) !=
			    e->failures)
				fail_msg("%s: %d failures", e->file, (int)v);
			if ((v = q(&r, "SELECT COUNT(*) FROM warnings")) !=
			    e->warnings)
				fail_msg("%s: %d warnings", e->file, (int)v);
			if ((v = q(&r, "SELECT SUM(successful) FROM "
				       "policies")) != e->successful)
				fail_msg("%s: %lld successful", e->file,
				    (long long)v);
			if ((v = q(&r, "SELECT SUM(failed) FROM policies")) !=
			    e->failed)
				fail_msg(
				    "%s: %lld failed", e->file, (long long)v);
		} else
			assert_int_equal(q(&r, "SELECT COUNT(*) FROM "
					       "quarantine"),
			    1);
		trpt_db_close(&r.db);
	}
}

/* Whole folders into one database: the same report as .json, .json.gz
 * and inside its e-mail is stored once. */
static void
test_corpus_folders_deduplicate(void **state)
{
	struct run r;

	(void)state;
	if (!corpus_present())
		skip();
	run_open(&r);
	run_path(&r, trpt_test_corpus("real"));
	assert_int_equal(r.p.stats.stored, 14);
	assert_int_equal(r.p.stats.duplicates, 4);
	assert_int_equal(r.p.stats.rejected, 0);
	run_path(&r, trpt_test_corpus("quirky"));
	/* quirky/ alone stores 14 with 8 duplicates; one of its reports is
	 * also in real/.  Two of its files are other versions of a report
	 * stored before (hand-edited failure details; the RFC 8460 example
	 * as errata 6241 corrects it): kept as conflicting copies, not
	 * counted as duplicates (issue 9 item 5). */
	assert_int_equal(r.p.stats.stored, 14 + 14);
	assert_int_equal(r.p.stats.conflicts, 2);
	assert_int_equal(r.p.stats.duplicates, 4 + 7);
	/* The report without a policy-domain, file name or header is
	 * refused (issue 9 item 15). */
	assert_int_equal(r.p.stats.rejected, 2);
	assert_int_equal(q(&r, "SELECT COUNT(*) FROM reports"), 28);
	assert_int_equal(
	    q(&r, "SELECT COUNT(*) FROM reports WHERE conflict = 1"), 4);
	assert_int_equal(
	    q(&r, "SELECT COUNT(*) FROM reports WHERE counted = 1"), 26);
	assert_int_equal(q(&r, "SELECT SUM(seen_count) FROM reports"), 39);
	trpt_db_close(&r.db);
}

/* The quirks of ../shared/RFC8460-NOTES.md part 2, read as documented. */
static void
test_corpus_quirks(void **state)
{
	struct run r;

	(void)state;
	if (!corpus_present())
		skip();
	run_open(&r);
	/* Q1: no time zone, taken as UTC (2023-01-10T00:00:00). */
	run_path(&r, trpt_test_corpus(
			 "quirky/microsoft_mox_no-timezone-datetime_crlf.eml"));
	assert_int_equal(q(&r, "SELECT begin_ts FROM reports"), 1673308800);
	assert_int_equal(q(&r, "SELECT COUNT(*) FROM warnings WHERE message "
			       "LIKE '%no UTC offset%'"),
	    2);
	/* Q3: Microsoft's TLSA policy-string unpacked into two records. */
	run_path(
	    &r, trpt_test_corpus(
		    "real/microsoft_cry-inc_random.net_sts-and-tlsa.json"));
	assert_int_equal(trpt_test_db_json_len(r.db,
			     "SELECT policy_strings FROM policies WHERE "
			     "policy_type = 'tlsa'"),
	    2);
	/* Q2: null contact-info kept as NULL. */
	run_path(&r, trpt_test_corpus("quirky/stalwart-egressif_from-issue-"
				      "parsedmarc575_contact-null_empty-"
				      "arrays.json"));
	assert_int_equal(q(&r, "SELECT COUNT(*) FROM reports WHERE "
			       "contact_info IS NULL"),
	    1);
	/* Q5: no policy-domain and nothing to take it from: refused and
	 * kept in quarantine, not stored under an empty domain. */
	run_path(&r, trpt_test_corpus("quirky/postfix-sys4-tlsrpt-reporter_"
				      "from-issue-sys4-51_no-policy-domain."
				      "json"));
	assert_int_equal(q(&r, "SELECT COUNT(*) FROM policies WHERE "
			       "policy_domain = ''"),
	    0);
	assert_int_equal(q(&r, "SELECT COUNT(*) FROM quarantine WHERE reason "
			       "LIKE '%policy-domain missing%'"),
	    1);
	/* Q9: Mail.ru's end is the next midnight, kept as sent. */
	run_path(&r,
	    trpt_test_corpus("quirky/mailru_parsedmarc_sts-fetch-error.json"));
	assert_int_equal(q(&r, "SELECT end_ts - begin_ts FROM reports WHERE "
			       "organization_name = 'Mail.ru'"),
	    86400);
	/* Q8: the JSON wins over the Subject; the headers are kept. */
	run_path(
	    &r, trpt_test_corpus("real/google_parsedmarc_cardinalhealth.eml"));
	assert_int_equal(q(&r, "SELECT COUNT(*) FROM reports WHERE report_id "
			       "= '2024-09-03T00:00:00Z_cardinalhealth.ca'"),
	    1);
	assert_int_equal(q(&r, "SELECT COUNT(*) FROM raw_inputs WHERE "
			       "report_domain = 'cardinalhealth.ca' AND "
			       "report_submitter = 'google.com' AND "
			       "message_id IS NOT NULL"),
	    1);
	/* Q10: application/tlsrpt with plain JSON and no CTE. */
	run_path(&r, trpt_test_corpus("quirky/google-like_stalwart_rpt02_"
				      "application-tlsrpt-uncompressed.eml"));
	assert_int_equal(q(&r, "SELECT COUNT(*) FROM reports WHERE report_id "
			       "= '2020-01-01T00:00:00Z_example.com'"),
	    1);
	trpt_db_close(&r.db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_each_file),
		cmocka_unit_test(test_corpus_folders_deduplicate),
		cmocka_unit_test(test_corpus_quirks),
	};
	/*
	 * Without ../shared/corpus there is nothing to test: say so as a
	 * TAP plan of no tests with a SKIP directive, which meson reports
	 * as a skipped test (the TAP form of exit status 77), not a failure.
	 */
	if (trpt_test_corpus("") == NULL) {
		printf("1..0 # SKIP shared corpus absent (set TRPT_CORPUS "
		       "to ../shared/corpus)\n");
		return 0;
	}
	return cmocka_run_group_tests_name("corpus", tests, NULL, NULL);
}
