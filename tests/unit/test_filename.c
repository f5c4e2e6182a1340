#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/filename.h"

struct good_case {
	const char *name;
	const char *sender;
	const char *domain;
	int64_t begin;
	int64_t end;
	const char *unique_id;
	int gzip;
};

static const struct good_case good[] = {
	/* Google and Microsoft, as found in real mail */
	{ "google.com!example.com!1778457600!1778543999!001.json.gz",
	    "google.com", "example.com", 1778457600, 1778543999, "001", 1 },
	{ "microsoft.com!test.xmox.nl!1673308800!1673395199!"
	  "133198585438131172.json.gz",
	    "microsoft.com", "test.xmox.nl", 1673308800, 1673395199,
	    "133198585438131172", 1 },
	/* Stalwart: no unique-id; RFC example: plain .json */
	{ "mx.egressif.io!example.org!1730332800!1730419200.json.gz",
	    "mx.egressif.io", "example.org", 1730332800, 1730419200, "", 1 },
	{ "mail.sender.example!example.com!1013662812!1013749130.json",
	    "mail.sender.example", "example.com", 1013662812, 1013749130, "",
	    0 },
	/* a path: only the last component counts */
	{ "/var/spool/tlsrpt/in!box/google.com!example.com!0!86399!x.json",
	    "google.com", "example.com", 0, 86399, "x", 0 },
	/* upper-case extensions are tolerated */
	{ "a.example!b.example!1!2!id.JSON.GZ", "a.example", "b.example", 1, 2,
	    "id", 1 },
	{ "a.example!b.example!1!2.Json", "a.example", "b.example", 1, 2, "",
	    0 },
	/* the largest timestamp that fits */
	{ "a!b!9223372036854775807!0.json", "a", "b", INT64_MAX, 0, "", 0 },
};

static const char *const bad[] = {
	"",
	"report.json",
	"report.json.gz",
	"google.com!example.com!1778457600!1778543999!001.xml",
	"google.com!example.com!1778457600!1778543999!001.json.zip",
	"google.com!example.com!1778457600!1778543999!001.gz",
	"google.com!example.com!1778457600!1778543999!001",
	"google.com!example.com!1778457600.json", /* 3 fields */
	"google.com!example.com!1!2!3!4.json",    /* 6 fields */
	"!example.com!1!2!001.json",              /* no sender */
	"google.com!!1!2!001.json",               /* no domain */
	"google.com!example.com!!2!001.json",     /* no begin */
	"google.com!example.com!1!!001.json",     /* no end */
	"a!b!1!2!x.y.json.gz", /* unique-id = 1*(ALPHA / DIGIT) */
	"a!b!1!2!x_y.json",
	"google.com!example.com!1!2!.json",     /* empty id */
	"google.com!example.com!-1!2!001.json", /* sign */
	"google.com!example.com!+1!2!001.json",
	"google.com!example.com!1e9!2!001.json",
	"google.com!example.com!2024-01-01!2!001.json",
	"google.com!example.com!9223372036854775808!2.json", /* > int64 */
	"google.com!example.com!99999999999999999999999!2.json",
	"google com!example.com!1!2!001.json",   /* space */
	"google.com!exa\tmple.com!1!2!001.json", /* control */
	"google.com!example.com!1!2!001.json/",  /* directory */
	"dir/google.com!example.com!1!2!001.json.gz.tmp",
	".json",
	".json.gz",
};

static void
test_filename_good(void **state)
{
	struct trpt_filename f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&f, 0x55, sizeof(f));
		if (trpt_filename_parse(good[i].name, &f) != 1)
			fail_msg("rejected %s", good[i].name);
		assert_string_equal(f.sender, good[i].sender);
		assert_string_equal(f.domain, good[i].domain);
		assert_true(f.begin == good[i].begin);
		assert_true(f.end == good[i].end);
		assert_string_equal(f.unique_id, good[i].unique_id);
		assert_int_equal(f.gzip, good[i].gzip);
	}
}

static void
test_filename_bad(void **state)
{
	struct trpt_filename f, orig;
	size_t i;

	(void)state;
	memset(&orig, 0x55, sizeof(orig));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = orig;
		if (trpt_filename_parse(bad[i], &f) != 0)
			fail_msg("accepted \"%s\"", bad[i]);
		/* out-parameters are written only on success */
		assert_memory_equal(&f, &orig, sizeof(f));
	}
	assert_int_equal(trpt_filename_parse(NULL, &f), 0);
}

static void
test_filename_field_sizes(void **state)
{
	struct trpt_filename f;
	char name[1024];

	(void)state;
	/* a sender of 255 bytes fits, 256 does not */
	memset(name, 'a', 255);
	strcpy(name + 255, "!d!1!2.json");
	assert_int_equal(trpt_filename_parse(name, &f), 1);
	assert_int_equal(strlen(f.sender), 255);
	memset(name, 'a', 256);
	strcpy(name + 256, "!d!1!2.json");
	assert_int_equal(trpt_filename_parse(name, &f), 0);
	/* a unique-id of 127 bytes fits, 128 does not */
	strcpy(name, "s!d!1!2!");
	memset(name + 8, 'u', 127);
	strcpy(name + 8 + 127, ".json.gz");
	assert_int_equal(trpt_filename_parse(name, &f), 1);
	assert_int_equal(strlen(f.unique_id), 127);
	memset(name + 8, 'u', 128);
	strcpy(name + 8 + 128, ".json.gz");
	assert_int_equal(trpt_filename_parse(name, &f), 0);
}

/* From the first implementation's tests (main). */
static void
test_filename_examples(void **state)
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
		cmocka_unit_test(test_filename_good),
		cmocka_unit_test(test_filename_bad),
		cmocka_unit_test(test_filename_field_sizes),
		cmocka_unit_test(test_filename_examples),
	};
	return cmocka_run_group_tests_name("filename", tests, NULL, NULL);
}
