/* common/lib: libraries loaded on first use, and what happens when one
 * cannot be loaded. */

#include <sys/wait.h>

#include <errno.h>
#include <libpq-fe.h>
#include <opendkim/dkim.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <gnutls/dane.h>
#include <microhttpd.h>
#ifdef TRPT_HAVE_SD_NOTIFY
#include <systemd/sd-daemon.h>
#endif

#include "common/err.h"
#include "common/lib.h"
#include "schema/db.h"
#include "tests/helpers/testutil.h"

static size_t
write_nothing(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static enum MHD_Result
answer_nothing(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **con_cls)
{
	(void)cls;
	(void)c;
	(void)url;
	(void)method;
	(void)version;
	(void)data;
	(void)size;
	(void)con_cls;
	return MHD_NO;
}

/* Each library loads, and its functions are the library's own:
 * including the variadic ones forwarded by hand. */
static void
test_lib_loads(void **state)
{
	struct trpt_err err;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *di;
	PQconninfoOption *opts;
	CURL *c;
	long code = -1;
	char *msg = NULL;
	curl_off_t max = 1000;

	(void)state;
	assert_int_equal(trpt_lib_need(&trpt_lib_pq, &err), TRPT_OK);
	opts = PQconninfoParse("dbname=trpt connect_timeout=3", &msg);
	assert_non_null(opts);
	assert_null(msg);
	PQconninfoFree(opts);

	assert_int_equal(trpt_lib_need(&trpt_lib_curl, &err), TRPT_OK);
	assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");
	c = curl_easy_init();
	assert_non_null(c);
	/* One option of each argument type: long, pointer, function,
	 * curl_off_t; a wrong type would be read as garbage. */
	assert_int_equal(curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
	assert_int_equal(
	    curl_easy_setopt(c, CURLOPT_URL, "http://127.0.0.1:9/"), CURLE_OK);
	assert_int_equal(
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_nothing),
	    CURLE_OK);
	assert_int_equal(
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, max), CURLE_OK);
	/* An unknown option is refused by libcurl itself. */
	assert_int_equal(
	    curl_easy_setopt(c, (CURLoption)9999, 1L), CURLE_UNKNOWN_OPTION);
	assert_int_equal(
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code), CURLE_OK);
	assert_int_equal(code, 0);
	curl_easy_cleanup(c);

	assert_int_equal(trpt_lib_need(&trpt_lib_mhd, &err), TRPT_OK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
	    answer_nothing, NULL, MHD_OPTION_CONNECTION_LIMIT, 2u,
	    MHD_OPTION_END);
	assert_non_null(d);
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(di);
	assert_true(di->port > 0);
	MHD_stop_daemon(d);

	assert_int_equal(trpt_lib_need(&trpt_lib_dane, &err), TRPT_OK);
	assert_string_equal(dane_strerror(DANE_E_SUCCESS), "Success.");
	assert_int_equal(trpt_lib_need(&trpt_lib_dkim, &err), TRPT_OK);
	assert_string_equal(dkim_getresultstr(DKIM_STAT_OK), "Success");
	assert_int_equal(trpt_lib_need(&trpt_lib_unbound, &err), TRPT_OK);
	assert_string_equal(ub_strerror(UB_NOMEM), "out of memory");
#ifdef TRPT_HAVE_SD_NOTIFY
	assert_int_equal(trpt_lib_need(&trpt_lib_systemd, &err), TRPT_OK);
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sd_notify(0, "READY=1"), 0);
#endif
}

/* What the report function was told (child process only). */
static char told[8][TRPT_ERR_MSG_LEN];
static size_t ntold;

static void
tell(const char *msg)
{
	if (ntold < sizeof(told) / sizeof(told[0]))
		snprintf(told[ntold], sizeof(told[0]), "%s", msg);
	ntold++;
}

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(out, "line %d: %s\n", __LINE__, #cond);        \
			goto done;                                             \
		}                                                              \
	} while (0)

static int
told_about(const char *what)
{
	size_t i;

	for (i = 0; i < ntold && i < sizeof(told) / sizeof(told[0]); i++)
		if (strstr(told[i], "cannot load libtrpt-missing.so.0 (for ") ==
			told[i] &&
		    strstr(told[i], what) != NULL &&
		    strstr(told[i], "No such file") != NULL)
			return 1;
	return 0;
}

/*
 * In a child process (a library is loaded at most once a process): every
 * library's soname names a file that does not exist.  Each entry point
 * fails as the library's own would on failure, cleanup calls stay
 * harmless, each library is reported once with its name and use, and a
 * PostgreSQL URI gets a clear error instead of a connection.
 */
static void
missing_child(FILE *out)
{
	struct trpt_err err;
	struct trpt_db *db = NULL;
	dane_state_t ds;

	trpt_lib_pq.soname = "libtrpt-missing.so.0";
	trpt_lib_curl.soname = "libtrpt-missing.so.0";
	trpt_lib_mhd.soname = "libtrpt-missing.so.0";
	trpt_lib_dane.soname = "libtrpt-missing.so.0";
	trpt_lib_dkim.soname = "libtrpt-missing.so.0";
	trpt_lib_unbound.soname = "libtrpt-missing.so.0";
#ifdef TRPT_HAVE_SD_NOTIFY
	trpt_lib_systemd.soname = "libtrpt-missing.so.0";
#endif
	trpt_lib_set_report(tell);

	CHECK(trpt_db_open("postgresql://127.0.0.1:9/trpt", &db, &err) ==
	      TRPT_EIO);
	CHECK(db == NULL);
	CHECK(strstr(err.msg, "cannot load libtrpt-missing.so.0 (for "
			      "PostgreSQL databases): ") == err.msg);
	CHECK(PQconnectdb("dbname=trpt") == NULL);
	CHECK(PQstatus(NULL) == CONNECTION_BAD);
	CHECK(strstr(PQerrorMessage(NULL), "cannot load") != NULL);
	PQclear(NULL);
	PQfinish(NULL);

	CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_FAILED_INIT);
	CHECK(curl_easy_init() == NULL);
	CHECK(curl_url() == NULL);
	CHECK(
	    curl_easy_setopt(NULL, CURLOPT_NOSIGNAL, 1L) == CURLE_FAILED_INIT);
	CHECK(strstr(curl_easy_strerror(CURLE_OK), "cannot load") != NULL);
	curl_slist_free_all(NULL);
	curl_easy_cleanup(NULL);
	curl_free(NULL);

	CHECK(MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
		  answer_nothing, NULL, MHD_OPTION_END) == NULL);
	CHECK(MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_NO);
	MHD_stop_daemon(NULL);

	CHECK(dane_state_init(&ds, 0) == DANE_E_INITIALIZATION_ERROR);
	CHECK(dkim_init(NULL, NULL) == NULL);
	CHECK(ub_ctx_create() == NULL);
	CHECK(strstr(ub_strerror(UB_NOMEM), "cannot load") != NULL);
#ifdef TRPT_HAVE_SD_NOTIFY
	CHECK(sd_notify(0, "READY=1") == -ENOSYS);
#endif

	CHECK(told_about("PostgreSQL"));
	CHECK(told_about("HTTPS"));
	CHECK(told_about("HTTP receiver"));
	CHECK(told_about("DANE"));
	CHECK(told_about("DKIM"));
	CHECK(told_about("DNS"));
#ifdef TRPT_HAVE_SD_NOTIFY
	CHECK(told_about("systemd"));
	CHECK(ntold == 7); /* once each, however often used */
#else
	CHECK(ntold == 6);
#endif
	CHECK(trpt_lib_need(&trpt_lib_curl, &err) == TRPT_EIO);
	CHECK(strcmp(err.msg, trpt_lib_curl.why) == 0);
	fprintf(out, "ok\n");
done:
	fflush(out);
}

static void
test_lib_missing(void **state)
{
	int fd[2], status;
	char buf[512];
	ssize_t n;
	size_t len = 0;
	pid_t pid;
	FILE *out;

	(void)state;
	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		out = fdopen(fd[1], "w");
		if (out != NULL)
			missing_child(out);
		_exit(0);
	}
	close(fd[1]);
	while (len < sizeof(buf) - 1 &&
	       (n = read(fd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_string_equal(buf, "ok\n");
}

/* A library without one of the functions is not used at all. */
static struct trpt_lib lacking;
static const char *const lacking_names[] = { "zlibVersion",
	"trpt_no_such_function" };

static void
lacking_fill(void *const *syms)
{
	(void)syms;
	fail_msg("filled although a function is missing");
}

static void
lacking_load(void)
{
	trpt__lib_load(&lacking);
}

static void
test_lib_lacking_function(void **state)
{
	struct trpt_err err;

	(void)state;
	lacking.soname = "libz.so.1";
	lacking.what = "a test";
	lacking.names = lacking_names;
	lacking.n = 2;
	lacking.fill = lacking_fill;
	lacking.load = lacking_load;
	lacking.once = PTHREAD_ONCE_INIT;
	assert_int_equal(trpt_lib_need(&lacking, &err), TRPT_EIO);
	assert_string_equal(err.msg, "cannot load libz.so.1 (for a test): it "
				     "has no trpt_no_such_function");
	assert_int_equal(trpt_lib_ready(&lacking), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lib_missing),
		cmocka_unit_test(test_lib_loads),
		cmocka_unit_test(test_lib_lacking_function),
	};

	return cmocka_run_group_tests_name("lib", tests, NULL, NULL);
}
