/*
 * Batched ingest (trpt_pipeline batch_max/batch_ms): what another
 * connection sees while a batch is open and after it is committed,
 * duplicates inside one batch, rejections inside a batch, and a batch that
 * SQLite rolled back under the pipeline's feet.  Parse ahead (a store
 * thread, trpt_pipeline_async_start, and a parse thread too,
 * TRPT_ASYNC_PARSE): the same events, counts and rows as without, in the
 * same order, and a storage error returned once; a source's progress
 * (on_commit, IMAP's saved UID) committed with exactly the inputs it
 * covers; a batch committed when no input comes; the log copied into
 * the database beside the store thread.
 */

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest/pipeline.h"
#include "schema/db.h"
#include "schema/imap_state.h"
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
	uint64_t fail_tag; /* save_tag fails from this tag on (0: never) */
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

/* What the events said, in order, and on which thread. */
struct evlog {
	char text[8192];
	size_t len;
	int other_thread; /* an event came from another thread */
	pthread_t caller;
};

static void
log_event(void *arg, const struct trpt_event *ev)
{
	struct evlog *l = arg;
	int n;

	if (!pthread_equal(pthread_self(), l->caller))
		l->other_thread = 1;
	n = snprintf(l->text + l->len, sizeof(l->text) - l->len,
	    "%d %s %d %d %s %s\n", (int)ev->kind, ev->source, ev->message,
	    ev->part, ev->report_id != NULL ? ev->report_id : "-",
	    ev->reason != NULL ? ev->reason : "-");
	if (n > 0 && (size_t)n < sizeof(l->text) - l->len)
		l->len += (size_t)n;
}

static const char mail[] =
    "From: reporter@example.net\r\n"
    "Subject: Report Domain: example.com\r\n"
    "Content-Type: multipart/report; report-type=tlsrpt; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "hello\r\n"
    "--b\r\n"
    "Content-Type: application/tlsrpt+json\r\n"
    "\r\n"
    "{\"organization-name\":\"Batch\",\"report-id\":\"mail-1\","
    "\"date-range\":{\"start-datetime\":\"2026-01-01T00:00:00Z\","
    "\"end-datetime\":\"2026-01-01T23:59:59Z\"},\"policies\":[]}\r\n"
    "--b\r\n"
    "Content-Type: application/tlsrpt+json\r\n"
    "\r\n"
    "{\"organization-name\":\"Batch\"}\r\n"
    "--b--\r\n";

/* An mbox whose second message has a quoted ">From " line: the mbox
 * reader hands it over in a buffer of its own, freed after it. */
static const char mbox2[] =
    "From a@example.net Thu Jan  1 00:00:00 2026\n"
    "From: a@example.net\n"
    "Content-Type: application/tlsrpt+json\n"
    "\n"
    "{\"organization-name\":\"Batch\",\"report-id\":\"mbox-1\","
    "\"date-range\":{\"start-datetime\":\"2026-01-01T00:00:00Z\","
    "\"end-datetime\":\"2026-01-01T23:59:59Z\"},\"policies\":[]}\n"
    "\n"
    "From b@example.net Thu Jan  1 00:00:00 2026\n"
    "From: b@example.net\n"
    "Content-Type: application/tlsrpt+json\n"
    "\n"
    ">From here on, no JSON\n";

/* The same inputs through f's pipeline: reports, duplicates, rejections,
 * a mail with a good and a bad part, an mbox, a rejection without bytes,
 * and an mbox message streamed on its own. */
static void
feed(struct fixture *f)
{
	static const char mbox[] =
	    "From x@example.net Thu Jan  1 00:00:00 "
	    "2026\nFrom: a@example.net\n\nnot a report\n";
	struct trpt_origin o;
	struct trpt_err err;
	int i;

	for (i = 1; i <= 8; i++)
		assert_int_equal(input(f, i, i == 5), TRPT_OK);
	assert_int_equal(input(f, 2, 0), TRPT_OK); /* a duplicate */
	memset(&o, 0, sizeof(o));
	o.kind = "file";
	o.source = "mail.eml";
	assert_int_equal(
	    trpt_pipeline_input(&f->p, mail, sizeof(mail) - 1, &o, NULL, &err),
	    TRPT_OK);
	o.source = "two.mbox";
	assert_int_equal(trpt_pipeline_input(
			     &f->p, mbox2, sizeof(mbox2) - 1, &o, NULL, &err),
	    TRPT_OK);
	o.source = "unreadable";
	assert_int_equal(
	    trpt_pipeline_reject(&f->p, NULL, 0, &o, "permission denied", &err),
	    TRPT_OK);
	o.source = "big.mbox";
	assert_int_equal(trpt_pipeline_mbox_message(&f->p, mbox,
			     sizeof(mbox) - 1, 1, 0, &o, NULL, &err),
	    TRPT_OK);
	o.source = "huge";
	assert_int_equal(
	    trpt_pipeline_skip(&f->p, &o, "too large to fetch", &err), TRPT_OK);
	for (i = 9; i <= 12; i++)
		assert_int_equal(input(f, i, 0), TRPT_OK);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
}

/* f's databases again, empty, as name (a file in f->dir under SQLite). */
static void
fresh_db(struct fixture *f, const char *name)
{
	struct trpt_err err;

	trpt_db_close(&f->db);
	trpt_db_close(&f->other);
	trpt_test_db_drop(f->name);
	free(f->name);
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
	f->name = trpt_test_db_new(f->path);
	if (trpt_db_open(f->name, &f->db, &err) != TRPT_OK ||
	    trpt_db_open(f->name, &f->other, &err) != TRPT_OK)
		fail_msg("%s", err.msg);
	f->p.db = f->db;
	memset(&f->p.stats, 0, sizeof(f->p.stats));
}

static void
test_batch_async_same_as_sync(void **state)
{
	struct fixture *f = *state;
	struct trpt_pipeline_stats sync_stats;
	struct evlog sync_log, async_log, parse_log;
	struct trpt_err err;
	int64_t reports, quarantined;

	memset(&sync_log, 0, sizeof(sync_log));
	memset(&async_log, 0, sizeof(async_log));
	memset(&parse_log, 0, sizeof(parse_log));
	sync_log.caller = async_log.caller = parse_log.caller = pthread_self();
	f->p.on_event = log_event;
	f->p.arg = &sync_log;
	feed(f);
	sync_stats = f->p.stats;
	reports = seen(f, "reports");
	quarantined = seen(f, "quarantine");
	assert_int_equal(reports, 13);
	assert_int_equal(sync_stats.skipped, 2);
	assert_false(sync_log.other_thread);

	/* Again into an empty database, parsing ahead. */
	fresh_db(f, "batch2.db");
	assert_int_equal(trpt_pipeline_async_start(&f->p, &err), TRPT_OK);
	f->p.arg = &async_log;
	feed(f);
	trpt_pipeline_async_stop(&f->p);
	assert_true(async_log.other_thread); /* stored by the store thread */
	assert_string_equal(async_log.text, sync_log.text);
	assert_memory_equal(&f->p.stats, &sync_stats, sizeof(sync_stats));
	assert_int_equal(seen(f, "reports"), reports);
	assert_int_equal(seen(f, "quarantine"), quarantined);
	assert_false(trpt_db_in_transaction(f->db));

	/* And with a parse thread: the caller only hands inputs over. */
	fresh_db(f, "batch3.db");
	assert_int_equal(
	    trpt_pipeline_async_start_with(&f->p, TRPT_ASYNC_PARSE, &err),
	    TRPT_OK);
	f->p.arg = &parse_log;
	feed(f);
	trpt_pipeline_async_stop(&f->p);
	assert_true(parse_log.other_thread);
	assert_string_equal(parse_log.text, sync_log.text);
	assert_memory_equal(&f->p.stats, &sync_stats, sizeof(sync_stats));
	assert_int_equal(seen(f, "reports"), reports);
	assert_int_equal(seen(f, "quarantine"), quarantined);
	assert_false(trpt_db_in_transaction(f->db));
}

/* on_commit: the tag as a saved UID (what IMAP does), in the batch's
 * transaction. */
static int
save_tag(void *arg, uint64_t tag, struct trpt_err *err)
{
	struct fixture *f = arg;

	if (f->fail_tag != 0 && tag >= f->fail_tag)
		return trpt_err_set(
		    err, TRPT_ETEMP, "lease lost at %u", (unsigned)tag);
	if (tag == 0)
		return TRPT_OK;
	return trpt_imap_state_put(
	    f->db, "tags", "INBOX", 1, (uint32_t)tag, err);
}

static int64_t
saved_tag(struct fixture *f)
{
	return trpt_test_db_int(f->other,
	    "SELECT coalesce(max(last_uid), 0) FROM imap_state WHERE "
	    "source = 'tags'");
}

/* Inputs from..to, input i with tag i. */
static void
tagged(struct fixture *f, int from, int to)
{
	int i;

	for (i = from; i <= to; i++) {
		f->p.input_tag = (uint64_t)i;
		assert_int_equal(input(f, i, 0), TRPT_OK);
	}
}

/*
 * A source's progress committed with its inputs (IMAP's saved UID,
 * parsing ahead on two threads): each commit writes the largest tag of
 * the inputs it stored, in its transaction, so the tag saved always
 * equals the reports committed (input i holds report i); an input that
 * failed to store never has its tag written, nor the inputs lost with
 * its batch; when on_commit fails, its batch is committed without it and
 * the error returned.
 */
static void
test_batch_commit_tags(void **state)
{
	struct fixture *f = *state;
	struct trpt_err err;

	f->p.on_commit = save_tag;
	f->p.commit_arg = f;
	assert_int_equal(
	    trpt_pipeline_async_start_with(&f->p, TRPT_ASYNC_PARSE, &err),
	    TRPT_OK);
	tagged(f, 1, 7);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
	assert_int_equal(seen(f, "reports"), 7);
	assert_int_equal(saved_tag(f), 7);

	/* Report r9 cannot be stored: its batch (7..9, batches of 3) is
	 * rolled back, 10 and 11 are not stored. */
	if (trpt_test_db_pg())
		trpt_test_db_exec(f->db,
		    "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql "
		    "AS $$ BEGIN IF NEW.report_id = 'r9' THEN RAISE "
		    "EXCEPTION 'boom'; END IF; RETURN NEW; END $$; CREATE "
		    "TRIGGER boom BEFORE INSERT ON reports FOR EACH ROW "
		    "EXECUTE FUNCTION boom()");
	else
		trpt_test_db_exec(f->db,
		    "CREATE TEMP TRIGGER boom BEFORE INSERT ON reports WHEN "
		    "NEW.report_id = 'r9' BEGIN SELECT RAISE(ABORT, 'boom'); "
		    "END");
	tagged(f, 8, 9);
	f->p.input_tag = 10;
	(void)input(f, 10, 0); /* refused, once the error is known */
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_EDB);
	assert_non_null(strstr(err.msg, "boom"));
	assert_int_equal(seen(f, "reports"), 7);
	assert_int_equal(saved_tag(f), 7);
	trpt_pipeline_async_stop(&f->p);
	trpt_test_db_exec(f->db, trpt_test_db_pg()
				     ? "DROP TRIGGER boom ON reports"
				     : "DROP TRIGGER temp.boom");

	/* A run again; on_commit fails from tag 14 on: the batch 14..16 is
	 * committed without it, the error returned, nothing more stored. */
	f->fail_tag = 14;
	assert_int_equal(
	    trpt_pipeline_async_start_with(&f->p, TRPT_ASYNC_PARSE, &err),
	    TRPT_OK);
	tagged(f, 8, 16);
	f->p.input_tag = 17;
	(void)input(f, 17, 0);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_ETEMP);
	assert_string_equal(err.msg, "lease lost at 16");
	trpt_pipeline_async_stop(&f->p);
	assert_int_equal(seen(f, "reports"), 16);
	assert_int_equal(saved_tag(f), 13);
	assert_false(trpt_db_in_transaction(f->db));
}

/*
 * Parse ahead: a batch whose next input does not come is committed
 * batch_ms after it began, with its tag (a stalled IMAP server must not
 * hold the database's write lock).  Waits for it without a time limit
 * of its own: without the commit the meson timeout ends the test.
 */
static void
test_batch_async_commits_when_idle(void **state)
{
	struct fixture *f = *state;
	struct trpt_err err;

	f->p.on_commit = save_tag;
	f->p.commit_arg = f;
	f->p.batch_max = 1000;
	f->p.batch_ms = 50;
	assert_int_equal(
	    trpt_pipeline_async_start_with(&f->p, TRPT_ASYNC_PARSE, &err),
	    TRPT_OK);
	tagged(f, 1, 2);
	while (seen(f, "reports") < 2)
		usleep(10000);
	assert_int_equal(saved_tag(f), 2);
	tagged(f, 3, 3);
	while (saved_tag(f) < 3)
		usleep(10000);
	assert_int_equal(seen(f, "reports"), 3);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
	trpt_pipeline_async_stop(&f->p);
	assert_false(trpt_db_in_transaction(f->db));
}

static void
test_batch_async_store_error(void **state)
{
	struct fixture *f = *state;
	struct trpt_err err;

	assert_int_equal(trpt_pipeline_async_start(&f->p, &err), TRPT_OK);
	assert_int_equal(input(f, 1, 0), TRPT_OK);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
	assert_int_equal(seen(f, "reports"), 1);
	/* Another connection takes the policies table away: storing the
	 * next report fails. */
	trpt_test_db_exec(
	    f->other, "ALTER TABLE policies RENAME TO policies_gone");
	assert_int_equal(input(f, 2, 0), TRPT_OK); /* queued */
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_EDB);
	/* The cause is in the message, whatever the database's name. */
	if (strstr(err.msg, "no such table: policies") == NULL &&
	    strstr(err.msg, "relation \"policies\" does not exist") == NULL)
		fail_msg("no cause in: %s", err.msg);
	assert_non_null(strstr(err.msg, "report r2 from Batch"));
	/* Returned once; after it, nothing more is taken. */
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
	assert_int_equal(input(f, 3, 0), TRPT_EDB);
	trpt_pipeline_async_stop(&f->p);
	assert_int_equal(f->p.stats.stored, 1);
	assert_int_equal(seen(f, "reports"), 1);
}

/*
 * Parse ahead copies the log into the database file on a connection and
 * thread of its own, one pass after each commit: the store thread does not
 * wait for a checkpoint's writes and fsyncs (issue 15, the million-row
 * database).  A batch of a few reports is far below the writer's own
 * checkpoint (4,000 pages), so without that thread the database file
 * stays as it was until the writer closes.
 */
static void
test_batch_async_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct trpt_err err;
	char *before, *after;
	size_t nbefore, nafter;
	int i;

	before = trpt_test_slurp(f->path, &nbefore);
	assert_int_equal(
	    trpt_pipeline_async_start_with(&f->p, TRPT_ASYNC_CHECKPOINT, &err),
	    TRPT_OK);
	for (i = 1; i <= 7; i++)
		assert_int_equal(input(f, i, 0), TRPT_OK);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
	trpt_pipeline_async_stop(&f->p);
	assert_int_equal(seen(f, "reports"), 7);
	after = trpt_test_slurp(f->path, &nafter);
	assert_true(nafter != nbefore || memcmp(before, after, nafter) != 0);
	free(before);
	free(after);
	/* The writer checkpoints inside its commits again. */
	assert_int_equal(
	    trpt_test_db_int(f->db, "PRAGMA wal_autocheckpoint"), 4000);
	assert_int_equal(input(f, 8, 0), TRPT_OK);
	assert_int_equal(trpt_pipeline_flush(&f->p, &err), TRPT_OK);
	assert_int_equal(seen(f, "reports"), 8);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	struct CMUnitTest tests[] = {
		T(test_batch_commits_every_n),
		T(test_batch_duplicate_inside),
		T(test_batch_lost),
		T(test_batch_off),
		T(test_batch_async_same_as_sync),
		T(test_batch_async_store_error),
		T(test_batch_commit_tags),
		T(test_batch_async_commits_when_idle),
		T(test_batch_async_checkpoints),
	};

	trpt_test_db_sqlite_only(tests, sizeof(tests) / sizeof(tests[0]),
	    "test_batch_async_checkpoints", "the server checkpoints by itself");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
