/*
 * The pull fetcher against a real HTTPS server on loopback: Python's
 * http.server wrapped in TLS (tests/helpers/https_server.py) with a CA and
 * certificate made for this run.  Covers reports, JSON and text indexes,
 * ETag/Last-Modified (304), 404, 500 with retries, size caps, bearer
 * tokens, certificate verification and the http_state rows.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest/pull.h"
#include "schema/db.h"
#include "tests/helpers/testdb.h"
#include "tests/helpers/testutil.h"

extern char **environ;

static char *tmp;
static char certdir[512], rootdir[512], logpath[512], ca[600];
static pid_t server_pid;
static int server_stdin = -1;
static unsigned port;

struct fx {
	char *name; /* the database: a path, or a PostgreSQL URL */
	struct trpt_db *db;
	struct trpt_pipeline p;
	struct trpt_pull_source src;
	struct trpt_pull_stats st;
	char url[512];
};

static const char *
helper(const char *name)
{
	static char path[1024];
	const char *root = getenv("TRPT_SOURCE_ROOT");

	snprintf(path, sizeof(path), "%s/tests/helpers/%s",
	    root != NULL ? root : ".", name);
	return path;
}

static void
put(const char *rel, const void *data, size_t len)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", rootdir, rel);
	trpt_test_write(path, data, len);
}

static void
put_str(const char *rel, const char *s)
{
	put(rel, s, strlen(s));
}

static void
copy_example(const char *example, const char *rel)
{
	char path[1024];
	const char *root = getenv("TRPT_SOURCE_ROOT");
	size_t len;
	char *data;

	snprintf(path, sizeof(path), "%s/examples/reports/%s",
	    root != NULL ? root : ".", example);
	data = trpt_test_slurp(path, &len);
	put(rel, data, len);
	free(data);
}

static int
start_server(void **state)
{
	char cmd[2048], line[64];
	char *argv[10];
	int in[2], out[2];
	posix_spawn_file_actions_t fa;
	FILE *f;

	(void)state;
	tmp = trpt_test_tmpdir();
	snprintf(certdir, sizeof(certdir), "%s/certs", tmp);
	snprintf(rootdir, sizeof(rootdir), "%s/root", tmp);
	snprintf(logpath, sizeof(logpath), "%s/requests.log", tmp);
	snprintf(ca, sizeof(ca), "%s/ca.pem", certdir);
	if (mkdir(certdir, 0700) != 0 || mkdir(rootdir, 0700) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "python3 '%s' '%s'", helper("mkcerts.py"),
	    certdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "# cannot make certificates (openssl)\n");
		return -1;
	}

	copy_example("google.com!example.com!1795132800!1795219199!001.json.gz",
	    "google.json.gz");
	copy_example("microsoft.com!example.com!1795219200!1795305599!"
		     "134084736000000000.json",
	    "microsoft.json");
	put_str("bad.json", "{\"not\": \"a report\"}\n");
	put_str("login.html",
	    "<!DOCTYPE html>\n<html><body>Please log in</body></html>\n");
	put_str("index.json", "[\"google.json.gz\", \"/microsoft.json\"]\n");
	put_str(
	    "index-missing.json", "[\"google.json.gz\", \"missing.json\"]\n");
	put_str("index-bad.json", "[\"google.json.gz\", 42]\n");
	put_str("index-nested.json", "[\"index.json\"]\n");

	if (pipe(in) != 0 || pipe(out) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addclose(&fa, in[1]);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	argv[0] = "python3";
	argv[1] = (char *)helper("https_server.py");
	argv[2] = "--root";
	argv[3] = rootdir;
	argv[4] = "--certdir";
	argv[5] = certdir;
	argv[6] = "--log";
	argv[7] = logpath;
	argv[8] = NULL;
	if (posix_spawnp(&server_pid, "python3", &fa, NULL, argv, environ) != 0)
		return -1;
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	server_stdin = in[1];
	f = fdopen(out[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "port %u", &port) != 1) {
		fprintf(stderr, "# the HTTPS test server did not start\n");
		return -1;
	}
	fclose(f);

	/* A text index needs the port. */
	snprintf(cmd, sizeof(cmd),
	    "# reports\n"
	    "https://127.0.0.1:%u/google.json.gz\r\n"
	    "\n"
	    "https://127.0.0.1:%u/microsoft.json\n",
	    port, port);
	put_str("index.txt", cmd);
	snprintf(
	    cmd, sizeof(cmd), "[\"http://127.0.0.1:%u/google.json.gz\"]", port);
	put_str("index-http.json", cmd);
	return 0;
}

static int
stop_server(void **state)
{
	int status;

	(void)state;
	if (server_stdin >= 0)
		close(server_stdin);
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, &status, 0);
	}
	trpt_test_rmrf(tmp);
	free(tmp);
	return 0;
}

static int
setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct trpt_limits lim;
	struct trpt_err err;
	char path[1024];

	assert_non_null(x);
	snprintf(path, sizeof(path), "%s/db-XXXXXX", tmp);
	assert_int_equal(close(mkstemp(path)), 0);
	unlink(path);
	x->name = trpt_test_db_new(path);
	assert_int_equal(trpt_db_open(x->name, &x->db, &err), TRPT_OK);
	trpt_limits_default(&lim);
	trpt_pipeline_init(&x->p, x->db, &lim);
	trpt_pull_source_default(&x->src, &lim);
	x->src.name = "test";
	x->src.ca_file = ca;
	x->src.retry_delay_ms = 10;
	x->src.timeout = 20;
	fclose(fopen(logpath, "w"));
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *x = *state;
	char base[1024], path[1100];
	const char *suffix[] = { "", "-wal", "-shm" };
	size_t i;

	snprintf(base, sizeof(base), "%s", trpt_db_path(x->db));
	trpt_db_close(&x->db);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", base, suffix[i]);
		unlink(path);
	}
	trpt_test_db_drop(x->name);
	free(x->name);
	free(x);
	return 0;
}

static int
run(struct fx *x, const char *rel, struct trpt_err *err)
{
	snprintf(x->url, sizeof(x->url), "https://127.0.0.1:%u/%s", port, rel);
	x->src.url = x->url;
	memset(&x->st, 0, sizeof(x->st));
	return trpt_pull_run(&x->src, &x->p, NULL, NULL, &x->st, err);
}

/* Requests in the server's log whose line starts with "GET /path ". */
static int
requests(const char *path, const char *status)
{
	char want[512], line[1024];
	FILE *f = fopen(logpath, "r");
	int n = 0;

	if (f == NULL)
		return 0;
	snprintf(want, sizeof(want), "GET %s %s", path,
	    status != NULL ? status : "");
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, want, strlen(want)) == 0)
			n++;
	fclose(f);
	return n;
}

static long long
db_count(struct fx *x, const char *sql)
{
	return (long long)trpt_test_db_int(x->db, sql);
}

static void
test_pull_parse_index(void **state)
{
	struct trpt_strlist l = { NULL, 0 };
	struct trpt_err err;

	(void)state;
	assert_int_equal(trpt_pull_parse_index("[\"a\", \"/b\"]",
			     strlen("[\"a\", \"/b\"]"), 10, &l, &err),
	    TRPT_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1], "/b");
	trpt_strlist_clear(&l);
	assert_int_equal(trpt_pull_parse_index(
			     " https://x/a\n\nhttps://x/b", 25, 10, &l, &err),
	    TRPT_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0], "https://x/a");
	trpt_strlist_clear(&l);
	assert_int_equal(trpt_pull_parse_index(
			     "{\"a\":1}", strlen("{\"a\":1}"), 10, &l, &err),
	    TRPT_ENOTFOUND);
	assert_int_equal(trpt_pull_parse_index("\x1f\x8b\x08",
			     strlen("\x1f\x8b\x08"), 10, &l, &err),
	    TRPT_ENOTFOUND);
	assert_int_equal(trpt_pull_parse_index("hello world",
			     strlen("hello world"), 10, &l, &err),
	    TRPT_ENOTFOUND);
	assert_int_equal(
	    trpt_pull_parse_index("[1]", strlen("[1]"), 10, &l, &err),
	    TRPT_EPARSE);
	assert_non_null(strstr(err.msg, "entry 1"));
	assert_int_equal(
	    trpt_pull_parse_index("[\"a\",", strlen("[\"a\","), 10, &l, &err),
	    TRPT_EPARSE);
	assert_int_equal(trpt_pull_parse_index("[\"a\",\"b\",\"c\"]",
			     strlen("[\"a\",\"b\",\"c\"]"), 2, &l, &err),
	    TRPT_ELIMIT);
	assert_int_equal(trpt_pull_parse_index("https://a\nhttps://b\n"
					       "https://c\n",
			     strlen("https://a\nhttps://b\n"
				    "https://c\n"),
			     2, &l, &err),
	    TRPT_ELIMIT);
	assert_null(l.v);
}

static void
test_pull_report_then_304(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	assert_int_equal(run(x, "google.json.gz", &err), TRPT_OK);
	assert_int_equal(x->st.fetched, 1);
	assert_int_equal(x->p.stats.stored, 1);
	assert_int_equal(db_count(x, "SELECT count(*) FROM reports"), 1);
	assert_int_equal(
	    db_count(x, "SELECT count(*) FROM http_state WHERE etag IS "
			"NOT NULL AND last_modified IS NOT NULL AND "
			"last_status = 200"),
	    1);

	assert_int_equal(run(x, "google.json.gz", &err), TRPT_OK);
	assert_int_equal(x->st.fetched, 0);
	assert_int_equal(x->st.not_modified, 1);
	assert_int_equal(x->p.stats.stored, 1);
	assert_int_equal(x->p.stats.duplicates, 0);
	assert_int_equal(requests("/google.json.gz", "200"), 1);
	assert_int_equal(requests("/google.json.gz", "304"), 1);
	assert_int_equal(db_count(x, "SELECT count(*) FROM http_state WHERE "
				     "last_status = 304 AND etag IS NOT NULL"),
	    1);
}

static void
test_pull_last_modified_only(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	/* Without an ETag the Last-Modified date alone gives the 304. */
	assert_int_equal(run(x, "microsoft.json", &err), TRPT_OK);
	trpt_test_db_exec(x->db, "UPDATE http_state SET etag = NULL");
	assert_int_equal(run(x, "microsoft.json", &err), TRPT_OK);
	assert_int_equal(x->st.not_modified, 1);
	assert_int_equal(requests("/microsoft.json", "304 inm=- ims="), 1);
}

static void
test_pull_no_validators_refetches(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	assert_int_equal(run(x, "noetag/microsoft.json", &err), TRPT_OK);
	assert_int_equal(run(x, "noetag/microsoft.json", &err), TRPT_OK);
	assert_int_equal(x->st.fetched, 1);
	assert_int_equal(x->p.stats.stored, 1);
	assert_int_equal(x->p.stats.duplicates, 1);
	assert_int_equal(db_count(x, "SELECT count(*) FROM reports"), 1);
}

static void
test_pull_json_index(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	assert_int_equal(run(x, "index.json", &err), TRPT_OK);
	assert_int_equal(x->st.indexes, 1);
	assert_int_equal(x->st.fetched, 2);
	assert_int_equal(db_count(x, "SELECT count(*) FROM reports"), 2);
	assert_int_equal(db_count(x, "SELECT count(*) FROM raw_inputs WHERE "
				     "source_kind = 'https-pull'"),
	    2);
	assert_int_equal(db_count(x, "SELECT count(*) FROM http_state"), 3);

	/* Unchanged index: one request, one 304. */
	assert_int_equal(run(x, "index.json", &err), TRPT_OK);
	assert_int_equal(x->st.not_modified, 1);
	assert_int_equal(x->st.fetched, 0);
	assert_int_equal(requests("/index.json", "304"), 1);
	assert_int_equal(requests("/google.json.gz", NULL), 1);
}

static void
test_pull_text_index(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	assert_int_equal(run(x, "index.txt", &err), TRPT_OK);
	assert_int_equal(x->st.indexes, 1);
	assert_int_equal(x->st.fetched, 2);
	assert_int_equal(db_count(x, "SELECT count(*) FROM reports"), 2);
}

static void
test_pull_index_with_missing_entry(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	assert_int_equal(run(x, "index-missing.json", &err), TRPT_ENOTFOUND);
	assert_non_null(strstr(err.msg, "missing.json: HTTP status 404"));
	assert_int_equal(x->st.fetched, 1);
	assert_int_equal(x->st.failed, 1);
	assert_int_equal(db_count(x, "SELECT count(*) FROM reports"), 1);
	/* The index's validators are not kept: next run reads it again,
	 * while the entry already stored costs a 304. */
	assert_int_equal(run(x, "index-missing.json", &err), TRPT_ENOTFOUND);
	assert_int_equal(requests("/index-missing.json", "200"), 2);
	assert_int_equal(requests("/google.json.gz", "304"), 1);
}

static void
test_pull_bad_index_and_nested(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	assert_int_equal(run(x, "index-bad.json", &err), TRPT_EPARSE);
	assert_non_null(strstr(err.msg, "entry 2"));
	assert_int_equal(db_count(x, "SELECT count(*) FROM reports"), 0);
	assert_int_equal(run(x, "index-nested.json", &err), TRPT_EPARSE);
	assert_non_null(strstr(err.msg, "itself an index"));
}

static void
test_pull_404(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	assert_int_equal(run(x, "status/404", &err), TRPT_ENOTFOUND);
	assert_non_null(strstr(err.msg, "404"));
	assert_int_equal(x->st.failed, 1);
	/* Not retried. */
	assert_int_equal(requests("/status/404", NULL), 1);
	assert_int_equal(db_count(x, "SELECT count(*) FROM http_state WHERE "
				     "last_status = 404 AND etag IS NULL"),
	    1);
}

static void
test_pull_500_retried(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	x->src.retries = 2;
	assert_int_equal(run(x, "status/500", &err), TRPT_ETEMP);
	assert_non_null(strstr(err.msg, "HTTP status 500"));
	assert_int_equal(requests("/status/500", NULL), 3);
}

static void
test_pull_flaky_recovers(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	x->src.retries = 3;
	assert_int_equal(run(x, "flaky/2/microsoft.json", &err), TRPT_OK);
	assert_int_equal(requests("/flaky/2/microsoft.json", "500"), 2);
	assert_int_equal(requests("/flaky/2/microsoft.json", "200"), 1);
	assert_int_equal(x->p.stats.stored, 1);
}

static void
test_pull_size_cap(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	x->src.max_body = 100;
	assert_int_equal(run(x, "microsoft.json", &err), TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "limit of 100 bytes"));
	assert_int_equal(db_count(x, "SELECT count(*) FROM reports"), 0);
	/* Without a Content-Length the write callback stops it too. */
	x->src.max_body = 200;
	assert_int_equal(run(x, "index.json", &err), TRPT_ELIMIT);
}

static void
test_pull_rejected_report_quarantined(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	assert_int_equal(run(x, "bad.json", &err), TRPT_OK);
	assert_int_equal(x->p.stats.rejected, 1);
	assert_int_equal(db_count(x, "SELECT count(*) FROM quarantine WHERE "
				     "source_kind = 'https-pull'"),
	    1);
	assert_int_equal(db_count(x, "SELECT count(*) FROM reports"), 0);
}

/*
 * Issue 9 item 14: an HTML page where a report was expected was skipped
 * (fetch skips non-reports for the sake of IMAP) and its ETag saved, so
 * it was never fetched again.  It is quarantined, and fetched again.
 */
static void
test_pull_html_quarantined_refetched(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	x->p.flags |= TRPT_PIPE_SKIP_NON_REPORTS; /* as fetch sets it */
	assert_int_equal(run(x, "login.html", &err), TRPT_OK);
	assert_int_equal(x->p.stats.rejected, 1);
	assert_int_equal(x->p.stats.skipped, 0);
	assert_int_equal(db_count(x, "SELECT count(*) FROM quarantine WHERE "
				     "source_kind = 'https-pull'"),
	    1);
	assert_int_equal(db_count(x, "SELECT count(*) FROM http_state WHERE "
				     "etag IS NULL AND last_modified IS NULL"),
	    1);
	assert_int_equal(run(x, "login.html", &err), TRPT_OK);
	assert_int_equal(requests("/login.html", "200"), 2);
	assert_int_equal(requests("/login.html", "304"), 0);
	assert_int_equal(db_count(x, "SELECT seen_count FROM quarantine"), 2);
	/* The flag is the caller's again. */
	assert_true(x->p.flags & TRPT_PIPE_SKIP_NON_REPORTS);
}

static void
test_pull_bearer_token(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	assert_int_equal(run(x, "auth/microsoft.json", &err), TRPT_EIO);
	assert_non_null(strstr(err.msg, "401"));
	x->src.bearer_token = "secret-token";
	assert_int_equal(run(x, "auth/microsoft.json", &err), TRPT_OK);
	assert_int_equal(x->p.stats.stored, 1);
}

static void
test_pull_tls_verified(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	/* The test CA is not in the system store: refused. */
	x->src.ca_file = NULL;
	x->src.retries = 0;
	assert_int_not_equal(run(x, "microsoft.json", &err), TRPT_OK);
	assert_int_equal(requests("/microsoft.json", NULL), 0);
	assert_int_equal(db_count(x, "SELECT count(*) FROM reports"), 0);
}

static void
test_pull_https_only(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/microsoft.json", port);
	x->src.url = url;
	assert_int_equal(
	    trpt_pull_run(&x->src, &x->p, NULL, NULL, &x->st, &err),
	    TRPT_EINVAL);
	/* Nor may an index lead to plain http. */
	assert_int_not_equal(run(x, "index-http.json", &err), TRPT_OK);
	assert_int_equal(x->st.failed, 1);
	assert_int_equal(db_count(x, "SELECT count(*) FROM reports"), 0);
}

static void
test_pull_redirects(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;

	assert_int_equal(run(x, "redirect/microsoft.json", &err), TRPT_OK);
	assert_int_equal(x->p.stats.stored, 1);
	assert_int_equal(requests("/redirect/microsoft.json", "302"), 1);
	/* A redirect to plain http is not followed. */
	assert_int_not_equal(
	    run(x, "redirect-http/google.json.gz", &err), TRPT_OK);
	assert_int_equal(x->st.failed, 1);
	assert_int_equal(x->p.stats.stored, 1);
}

static void
test_pull_connection_refused(void **state)
{
	struct fx *x = *state;
	struct trpt_err err;
	int rc;

	x->src.url = "https://127.0.0.1:1/report.json";
	x->src.retries = 1;
	rc = trpt_pull_run(&x->src, &x->p, NULL, NULL, &x->st, &err);
	if (rc != TRPT_ETEMP)
		fail_msg("rc %d, want TRPT_ETEMP: %s", rc, err.msg);
	assert_non_null(strstr(err.msg, "127.0.0.1:1/report.json"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pull_parse_index),
		T(test_pull_report_then_304),
		T(test_pull_last_modified_only),
		T(test_pull_no_validators_refetches),
		T(test_pull_json_index),
		T(test_pull_text_index),
		T(test_pull_index_with_missing_entry),
		T(test_pull_bad_index_and_nested),
		T(test_pull_404),
		T(test_pull_500_retried),
		T(test_pull_flaky_recovers),
		T(test_pull_size_cap),
		T(test_pull_rejected_report_quarantined),
		T(test_pull_html_quarantined_refetched),
		T(test_pull_bearer_token),
		T(test_pull_tls_verified),
		T(test_pull_https_only),
		T(test_pull_redirects),
		T(test_pull_connection_refused),
	};

	return cmocka_run_group_tests_name(
	    "pull", tests, start_server, stop_server);
}
