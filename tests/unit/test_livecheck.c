/* Live-check evidence in the database (schema/livecheck.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "schema/db.h"
#include "schema/livecheck.h"
#include "tests/helpers/testdb.h"

struct seen {
	char lines[8][160];
	size_t n;
};

static int
collect(void *arg, const struct trpt_livecheck_row *r)
{
	struct seen *s = arg;

	if (s->n < 8)
		snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s %lld %s %s",
		    r->mx, (long long)r->checked_at, r->result_type, r->detail);
	return TRPT_OK;
}

static void
add(struct trpt_db *db, const char *domain, const char *mx, int64_t at,
    const char *type, const char *detail)
{
	struct trpt_livecheck_row r = { domain, mx, at, type, detail };
	struct trpt_err err;

	if (trpt_livecheck_add(db, &r, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
}

/* The latest check of each MX host since a time, all its findings. */
static void
test_livecheck_latest(void **state)
{
	struct trpt_db *db = NULL;
	struct trpt_err err;
	struct seen s;

	(void)state;
	assert_int_equal(trpt_test_db_connect(&db, &err), TRPT_OK);
	add(db, "example.com", "mx2.example.com", 100, "certificate-expired",
	    "old");
	add(db, "example.com", "mx2.example.com", 200, "certificate-expired",
	    "expired on 2026-10-26");
	add(db, "example.com", "mx2.example.com", 200,
	    "certificate-host-mismatch", "covers other.example");
	add(db, "example.com", "mx1.example.com", 150, "ok", "passes");
	add(db, "example.com", "mx3.example.com", 50, "ok", "too old");
	add(db, "example.net", "mx.example.net", 300, "ok", "other domain");
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_livecheck_latest(
			     db, "example.com", 100, 10, collect, &s, &err),
	    TRPT_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.lines[0], "mx1.example.com 150 ok passes");
	assert_string_equal(s.lines[1],
	    "mx2.example.com 200 certificate-expired expired on 2026-10-26");
	assert_string_equal(s.lines[2], "mx2.example.com 200 "
					"certificate-host-mismatch covers "
					"other.example");
	/* The cap holds. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    trpt_livecheck_latest(db, "example.com", 0, 2, collect, &s, &err),
	    TRPT_OK);
	assert_int_equal(s.n, 2);
	/* Nothing checked since: nothing. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(trpt_livecheck_latest(
			     db, "example.com", 201, 10, collect, &s, &err),
	    TRPT_OK);
	assert_int_equal(s.n, 0);
	trpt_db_close(&db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_livecheck_latest),
	};

	return cmocka_run_group_tests_name("livecheck", tests, NULL, NULL);
}
