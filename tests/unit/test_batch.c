/*
 * Batched ingest (trpt_pipeline batch_max/batch_ms): what another
 * connection sees while a batch is open and after it is committed,
 * duplicates inside one batch, rejections inside a batch, and a batch that
 * SQLite rolled back under the pipeline's feet.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/pipeline.h"
#include "schema/db.h"
#include "schema/store.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"

struct fixture {
	char *dir;
	char path[4200];
	char *name; /* the database: path, or a PostgreSQL URL */
	struct trpt_db *db;
	struct trpt_db *other; /* a second connection, as another process */
	struct trpt_pipeline p;
	struct trpt_limits lim;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct trpt_err err;

	f->dir = trpt_test_tmpdir();
	snprintf(f->path, sizeof(f->path), "%s/batch.db", f->dir);
	f->name = trpt_test_db_new(f->path);
	if (trpt_db_open(f->name, &f->db, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	if (trpt_db_open(f->name, &f->other, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	trpt_limits_default(&f->lim);
	trpt_pipeline_init(&f->p, f->db, &f->lim);
	f->p.batch_max = 3;
	f->p.batch_ms = 1000000; /* only the count ends a batch here */
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	trpt_db_close(&f->other);
	trpt_db_close(&f->db);
	trpt_test_db_drop(f->name);
	free(f->name);
	trpt_test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Committed rows, as another connection sees them. */
static int64_t
seen(struct fixture *f, const char *table)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return trpt_test_db_int(f->other, sql);
}

static int
input(struct fixture *f, int id, int bad)
{
	char json[1024], src[32];
	struct trpt_origin o;
	struct trpt_err err;
	int rc;

	snprintf(json, sizeof(json),
	    "{\"organization-name\":\"Batch\",\"report-id\":\"r%d\","
	    "\"date-range\":{\"start-datetime\":\"2026-01-01T00:00:00Z\","
	    "\"end-datetime\":\"2026-01-01T23:59:59Z\"},\"policies\":[{"
	    "\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":"
	    "\"example.com\"},\"summary\":{"
	    "\"total-successful-session-count\":%d,"
	    "\"total-failure-session-count\":0}}]}",
	    id, bad ? -1 : id);
	snprintf(src, sizeof(src), "input-%d", id);
	memset(&o, 0, sizeof(o));
	o.kind = "file";
	o.source = src;
	rc = trpt_pipeline_input(&f->p, json, strlen(json), &o, NULL, &err);
	if (rc != TRPT_OK)
		print_message("# %s\n", err.msg);
	return rc;
}

static void
test_batch_commits_every_n(void **state)
{
	struct fixture *f = *state;
	struct trpt_err err;

	assert_int_equal(input(f, 1, 0), TRPT_OK);
	assert_int_equal(input(f, 2, 0), TRPT_OK);
	assert_true(trpt_db_in_transaction(f->db));
	assert_int_equal(seen(f, "reports"), 0); /* not committed yet */
	assert_int_equal(input(f, 3, 0), TRPT_OK);
	assert_false(trpt_db_in_transaction(f->db));
	assert_int_equal(seen(f, "reports"), 3);
	assert_int_equal(input(f, 4, 0), TRPT_OK);
	assert_int_equal(input(f, 5, 1), TRPT_OK); /* rejected */
	assert_int_equal(seen(f, "reports"), 3);
	assert_int_equal(seen(f, "quarantine"), 0);
	assert_int_equal(input(f, 6, 0), TRPT_OK);
	assert_int_equal(seen(f, "reports"), 5);
	assert_int_equal(seen(f, "quarantine"), 1);
	assert_int_equal(input(f, 7, 0), TRPT_OK);
	assert_int_equal(seen(f, "reports"), 5);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
	assert_int_equal(seen(f, "reports"), 6);
	assert_int_equal(seen(f, "policies"), 6);
	assert_int_equal(f->p.stats.stored, 6);
	assert_int_equal(f->p.stats.rejected, 1);
	/* Nothing open: flushing again does nothing. */
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
}

static void
test_batch_duplicate_inside(void **state)
{
	struct fixture *f = *state;
	struct trpt_err err;

	assert_int_equal(input(f, 1, 0), TRPT_OK);
	assert_int_equal(input(f, 1, 0), TRPT_OK);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
	assert_int_equal(seen(f, "reports"), 1);
	assert_int_equal(f->p.stats.stored, 1);
	assert_int_equal(f->p.stats.duplicates, 1);
}

static void
test_batch_lost(void **state)
{
	struct fixture *f = *state;
	struct trpt_err err;

	assert_int_equal(input(f, 1, 0), TRPT_OK);
	assert_int_equal(input(f, 2, 0), TRPT_OK);
	assert_int_equal(input(f, 3, 0), TRPT_OK); /* committed */
	assert_int_equal(input(f, 4, 0), TRPT_OK);
	assert_int_equal(input(f, 5, 1), TRPT_OK);
	assert_int_equal(f->p.stats.stored, 4);
	/* As after a disk-full or I/O error: SQLite rolled it all back. */
	trpt_store_rollback(f->db);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "the last 2 inputs were not stored"));
	assert_int_equal(f->p.stats.stored, 3); /* as before the batch */
	assert_int_equal(f->p.stats.rejected, 0);
	assert_int_equal(seen(f, "reports"), 3);
	assert_int_equal(seen(f, "quarantine"), 0);
	/* A run again stores them. */
	assert_int_equal(input(f, 4, 0), TRPT_OK);
	assert_int_equal(input(f, 5, 1), TRPT_OK);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
	assert_int_equal(seen(f, "reports"), 4);
	assert_int_equal(seen(f, "quarantine"), 1);
}

static void
test_batch_off(void **state)
{
	struct fixture *f = *state;

	f->p.batch_max = 0;
	assert_int_equal(input(f, 1, 0), TRPT_OK);
	assert_false(trpt_db_in_transaction(f->db));
	assert_int_equal(seen(f, "reports"), 1);
	assert_int_equal(input(f, 2, 1), TRPT_OK);
	assert_int_equal(seen(f, "quarantine"), 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_batch_commits_every_n),
		T(test_batch_duplicate_inside),
		T(test_batch_lost),
		T(test_batch_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
