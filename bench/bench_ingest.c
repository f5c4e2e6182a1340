/*
 * Ingest benchmark against the floor set by the libraries (zlib, jansson,
 * SQLite): see docs/PERFORMANCE.md.
 *
 *	bench_ingest [--small N] [--eml N] [--rows N] [--runs N] [WORKDIR]
 *
 * Generates a corpus in WORKDIR (default ./bench-ingest) with
 * bench/corpus.c, then prints
 *  - in process: inflate MB/s, parse+validate MB/s and reports/s, and the
 *    insert rate (trpt_store_report, batched as `ingest` does), for the
 *    small .json.gz reports, and their sum as the floor;
 *  - end to end: the real `tlsrpt-collector ingest` ($TRPT_BINARY) on
 *    the .json.gz files and on the e-mails, into a fresh database and into
 *    one already holding --rows policy rows (built once, kept in WORKDIR);
 *  - peak RSS (wait4) of `ingest` of one 5 MB report, and of runs over
 *    N/5 and N inputs;
 *  - the ratios that docs/PERFORMANCE.md sets as targets.
 * Each figure is the best of --runs rounds (default 5; the VM is noisy).
 */

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench/corpus.h"
#include "common/buf.h"
#include "common/limits.h"
#include "ingest/inflate.h"
#include "ingest/validate.h"
#include "schema/db.h"
#include "schema/store.h"

#define SEED         20261128u
#define FIRST_SMALL  0u
#define FIRST_EML    10000000u
#define FIRST_SMALL2 20000000u
#define FIRST_LARGE  30000000u
#define FIRST_BASE   1000000u /* earlier days than the others */
#define LARGE_BYTES  5000000u
#define BATCH_MAX    1000 /* as collector/cmd_ingest.c */
#define BATCH_MS     200

static const char *binary;
static double child_cpu; /* user + system seconds of the last child */

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "bench_ingest: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void
gen(const char *dir, uint64_t first, uint64_t n, enum corpus_shape shape,
    int email, struct corpus_counts *c)
{
	struct trpt_err err;

	memset(c, 0, sizeof(*c));
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die("cannot create %s", dir);
	if (corpus_write_dir(dir, SEED, first, n, shape, LARGE_BYTES, email, c,
		&err) != TRPT_OK)
		die("%s", err.msg);
}

/* Runs the binary; returns its wall time, *rss_kb its peak RSS. */
static double
run_ingest(const char *db, const char *dir, const char *dir2, long *rss_kb)
{
	struct rusage ru;
	double t0, t;
	pid_t pid;
	int status, fd;

	t0 = now_s();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		execl(binary, binary, "--db", db, "-q", "ingest", dir, dir2,
		    (char *)NULL);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) != pid)
		die("wait4: %s", strerror(errno));
	t = now_s() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("ingest of %s failed", dir);
	*rss_kb = ru.ru_maxrss;
	child_cpu =
	    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	return t;
}

static int64_t
count(const char *db, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t n = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("cannot open %s", db);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static void
rm_db(const char *db)
{
	char p[4200];

	unlink(db);
	snprintf(p, sizeof(p), "%s-wal", db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", db);
	unlink(p);
}

static void
copy_file(const char *from, const char *to)
{
	char buf[1 << 16];
	ssize_t n;
	int in, out;

	in = open(from, O_RDONLY);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0)
		die("cannot copy %s", from);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			die("cannot write %s", to);
	close(in);
	if (fsync(out) != 0 || close(out) != 0)
		die("cannot write %s", to);
}

/* One end-to-end figure: best of runs, checking the reports stored. */
static double best_cpu;

static double
e2e(const char *base, const char *db, const char *dir, const char *dir2,
    uint64_t expect, int runs, long *rss)
{
	double best = 1e30, t;
	char q[64];
	int i;

	for (i = 0; i < runs; i++) {
		rm_db(db);
		if (base != NULL)
			copy_file(base, db);
		sync();
		t = run_ingest(db, dir, dir2, rss);
		if (t < best)
			best = t;
		if (child_cpu < best_cpu)
			best_cpu = child_cpu;
	}
	snprintf(q, sizeof(q), "SELECT count(*) FROM reports");
	if (count(db, q) !=
	    (int64_t)expect + (base != NULL ? count(base, q) : 0))
		die("%s: not every report was stored", db);
	return best;
}

struct loaded {
	char **data;
	size_t *len;
	size_t n;
	size_t bytes;
};

static void
load_dir(const char *dir, struct loaded *l)
{
	struct dirent **names;
	struct trpt_err err;
	char path[4400];
	int n, i;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		die("cannot read %s", dir);
	l->data = calloc((size_t)n, sizeof(*l->data));
	l->len = calloc((size_t)n, sizeof(*l->len));
	l->n = 0;
	l->bytes = 0;
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(
			    path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (trpt_buf_read_file(path, 1u << 30, &l->data[l->n],
				&l->len[l->n], &err) != TRPT_OK)
				die("%s", err.msg);
			l->bytes += l->len[l->n];
			l->n++;
		}
		free(names[i]);
	}
	free(names);
}

struct phases {
	double inflate, validate, insert;
	double cpu; /* CPU seconds of the three phases together */
	size_t json_bytes;
};

/* The in-process phases over the loaded .json.gz files, best of runs. */
static void
phases(const struct loaded *l, const char *db, int runs, struct phases *best)
{
	struct trpt_limits lim;
	struct trpt_validate_ctx vctx = { NULL, NULL };
	struct trpt_report **reps;
	struct trpt_origin origin;
	struct trpt_raw raw;
	struct trpt_err err;
	struct trpt_db *h;
	char **json;
	size_t *jlen, i;
	double t0, t, batch_t0;
	int r, dup, inbatch;

	trpt_limits_default(&lim);
	json = calloc(l->n, sizeof(*json));
	jlen = calloc(l->n, sizeof(*jlen));
	reps = calloc(l->n, sizeof(*reps));
	for (r = 0; r < runs; r++) {
		double c0 = cpu_s();

		best->json_bytes = 0;
		t0 = now_s();
		for (i = 0; i < l->n; i++)
			if (trpt_inflate_gzip(l->data[i], l->len[i],
				lim.max_inflated, &json[i], &jlen[i],
				&err) != TRPT_OK)
				die("%s", err.msg);
		t = now_s() - t0;
		best->inflate = t < best->inflate ? t : best->inflate;
		t0 = now_s();
		for (i = 0; i < l->n; i++)
			if (trpt_validate_json(json[i], jlen[i], &lim, &vctx,
				&reps[i], &err) != TRPT_OK)
				die("%s", err.msg);
		t = now_s() - t0;
		best->validate = t < best->validate ? t : best->validate;
		for (i = 0; i < l->n; i++) {
			best->json_bytes += jlen[i];
			free(json[i]);
		}

		rm_db(db);
		if (trpt_db_open(db, &h, &err) != TRPT_OK)
			die("%s", err.msg);
		memset(&origin, 0, sizeof(origin));
		origin.kind = "file";
		origin.source = "bench";
		origin.received = (int64_t)time(NULL);
		inbatch = 0;
		batch_t0 = t0 = now_s();
		for (i = 0; i < l->n; i++) {
			if (inbatch == 0) {
				if (trpt_store_begin(h, &err) != TRPT_OK)
					die("%s", err.msg);
				batch_t0 = now_s();
			}
			raw.bytes = l->data[i];
			raw.len = l->len[i];
			raw.origin = &origin;
			raw.part = 0;
			if (trpt_store_report(
				h, reps[i], &raw, &dup, NULL, &err) != TRPT_OK)
				die("%s", err.msg);
			if (++inbatch >= BATCH_MAX ||
			    now_s() - batch_t0 >= BATCH_MS / 1000.0) {
				if (trpt_store_commit(h, &err) != TRPT_OK)
					die("%s", err.msg);
				inbatch = 0;
			}
		}
		if (inbatch > 0 && trpt_store_commit(h, &err) != TRPT_OK)
			die("%s", err.msg);
		trpt_db_close(&h); /* the checkpoint, as at the end of ingest */
		t = now_s() - t0;
		best->insert = t < best->insert ? t : best->insert;
		c0 = cpu_s() - c0;
		best->cpu = c0 < best->cpu ? c0 : best->cpu;
		for (i = 0; i < l->n; i++)
			trpt_report_free(&reps[i]);
	}
	free(json);
	free(jlen);
	free(reps);
}

/* A database holding at least `rows` policy rows, built once. */
static void
base_db(const char *path, uint64_t rows)
{
	struct trpt_buf json, gz;
	struct trpt_limits lim;
	struct trpt_validate_ctx vctx = { NULL, NULL };
	struct trpt_report *rep;
	struct trpt_origin origin;
	struct trpt_raw raw;
	struct trpt_err err;
	struct trpt_db *h;
	struct corpus_counts c;
	uint64_t n;
	char tmp[4200];
	double t0 = now_s();
	int dup;

	if (exists(path) &&
	    count(path, "SELECT count(*) FROM policies") >= (int64_t)rows)
		return;
	fprintf(stderr, "building %s with %" PRIu64 " policy rows...\n", path,
	    rows);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	rm_db(tmp);
	trpt_limits_default(&lim);
	if (trpt_db_open(tmp, &h, &err) != TRPT_OK)
		die("%s", err.msg);
	trpt_buf_init(&json, 1u << 26);
	trpt_buf_init(&gz, 1u << 26);
	memset(&c, 0, sizeof(c));
	memset(&origin, 0, sizeof(origin));
	origin.kind = "file";
	origin.source = "bench-base";
	origin.received = (int64_t)time(NULL);
	for (n = FIRST_BASE; c.policies < rows; n++) {
		if ((n - FIRST_BASE) % 5000 == 0) {
			if (n > FIRST_BASE &&
			    trpt_store_commit(h, &err) != TRPT_OK)
				die("%s", err.msg);
			if (trpt_store_begin(h, &err) != TRPT_OK)
				die("%s", err.msg);
		}
		trpt_buf_reset(&json);
		trpt_buf_reset(&gz);
		if (corpus_report_json(
			SEED, n, CORPUS_SMALL, 0, &json, &c, &err) != TRPT_OK ||
		    corpus_gzip(json.data, json.len, &gz, &err) != TRPT_OK ||
		    trpt_validate_json(json.data, json.len, &lim, &vctx, &rep,
			&err) != TRPT_OK)
			die("%s", err.msg);
		raw.bytes = gz.data;
		raw.len = gz.len;
		raw.origin = &origin;
		raw.part = 0;
		if (trpt_store_report(h, rep, &raw, &dup, NULL, &err) !=
		    TRPT_OK)
			die("%s", err.msg);
		trpt_report_free(&rep);
	}
	if (trpt_store_commit(h, &err) != TRPT_OK)
		die("%s", err.msg);
	trpt_db_close(&h);
	trpt_buf_free(&json);
	trpt_buf_free(&gz);
	if (rename(tmp, path) != 0)
		die("cannot rename %s", tmp);
	fprintf(stderr,
	    "built: %" PRIu64 " reports, %" PRIu64 " policies in %.0f s\n",
	    c.reports, c.policies, now_s() - t0);
}

static uint64_t
number(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s || *end != '\0')
		die("bad number %s", s);
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "small", required_argument, NULL, 'n' },
		{ "eml", required_argument, NULL, 'e' },
		{ "rows", required_argument, NULL, 'r' },
		{ "runs", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct corpus_counts cs, ce, c2, cl, cf;
	struct phases ph;
	struct loaded l;
	char dsmall[4096], deml[4096], dsmall2[4096], dlarge[4096],
	    dfifth[4096];
	char db[4096], base[4096], pdb[4096];
	const char *work = "bench-ingest";
	uint64_t nsmall = 5000, neml = 2000, rows = 1000000;
	double t_small, t_eml, t_big, t_big_eml, floor_s, per_in, rate_small,
	    rate_big;
	long rss_large, rss_fifth, rss_n, rss_all, rss;
	int runs = 5, c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			nsmall = number(optarg);
			break;
		case 'e':
			neml = number(optarg);
			break;
		case 'r':
			rows = number(optarg);
			break;
		case 'R':
			runs = (int)number(optarg);
			break;
		default:
			return 2;
		}
	}
	if (optind < argc)
		work = argv[optind];
	binary = getenv("TRPT_BINARY");
	if (binary == NULL)
		binary = "build/collector/tlsrpt-collector";
	if (!exists(binary))
		die("no binary at %s (set TRPT_BINARY)", binary);
	if (nsmall < 5 || runs < 1)
		die("%s", "--small must be at least 5, --runs at least 1");
	if (mkdir(work, 0755) != 0 && errno != EEXIST)
		die("cannot create %s", work);

	snprintf(dsmall, sizeof(dsmall), "%s/small", work);
	snprintf(dfifth, sizeof(dfifth), "%s/small-fifth", work);
	snprintf(deml, sizeof(deml), "%s/eml", work);
	snprintf(dsmall2, sizeof(dsmall2), "%s/small2", work);
	snprintf(dlarge, sizeof(dlarge), "%s/large", work);
	snprintf(db, sizeof(db), "%s/run.db", work);
	snprintf(pdb, sizeof(pdb), "%s/phases.db", work);
	snprintf(base, sizeof(base), "%s/base-%" PRIu64 ".db", work, rows);
	fprintf(stderr, "generating the corpus in %s...\n", work);
	gen(dsmall, FIRST_SMALL, nsmall, CORPUS_SMALL, 0, &cs);
	gen(dfifth, FIRST_SMALL, nsmall / 5, CORPUS_SMALL, 0, &cf);
	gen(deml, FIRST_EML, neml, CORPUS_SMALL, 1, &ce);
	gen(dsmall2, FIRST_SMALL2, nsmall, CORPUS_SMALL, 0, &c2);
	gen(dlarge, FIRST_LARGE, 1, CORPUS_LARGE, 0, &cl);

	/*
	 * The peak RSS that wait4 reports for a child includes what it held
	 * between fork and exec, the size of this process: so the runs that
	 * measure memory come first, while this process is small.
	 */
	e2e(NULL, db, dlarge, NULL, 1, 1, &rss_large);
	e2e(NULL, db, dfifth, NULL, cf.reports, 1, &rss_fifth);
	e2e(NULL, db, dsmall, NULL, cs.reports, 1, &rss_n);
	e2e(NULL, db, dsmall, dsmall2, cs.reports + c2.reports, 1, &rss_all);
	t_eml = e2e(NULL, db, deml, NULL, ce.reports, runs, &rss);
	base_db(base, rows);
	t_big = e2e(base, db, dsmall2, NULL, c2.reports, runs, &rss);
	t_big_eml = e2e(base, db, deml, NULL, ce.reports, runs, &rss);
	rm_db(db);

	/*
	 * In-process phases and end-to-end ingest of the same files, in
	 * alternate rounds, so that the noise of this VM (other guests, the
	 * disk) falls on both alike.
	 */
	load_dir(dsmall, &l);
	ph.inflate = ph.validate = ph.insert = ph.cpu = 1e30;
	t_small = 1e30;
	best_cpu = 1e30;
	for (c = 0; c < runs; c++) {
		double t = e2e(NULL, db, dsmall, NULL, cs.reports, 1, &rss);

		t_small = t < t_small ? t : t_small;
		phases(&l, pdb, 1, &ph);
	}
	rm_db(pdb);
	rm_db(db);
	floor_s = ph.inflate + ph.validate + ph.insert;

	rate_small = (double)cs.reports / t_small;
	rate_big = (double)c2.reports / t_big;
	per_in = (double)cs.reports / floor_s;
	printf("corpus: %" PRIu64 " small .json.gz reports (%.1f MB gz, "
	       "%.1f MB JSON, %" PRIu64 " policies, %" PRIu64
	       " failure details), %" PRIu64 " e-mails, 1 large report "
	       "(%.2f MB JSON, %" PRIu64 " details); best of %d runs\n",
	    cs.reports, (double)cs.file_bytes / 1e6,
	    (double)cs.json_bytes / 1e6, cs.policies, cs.failures, ce.reports,
	    (double)cl.json_bytes / 1e6, cl.failures, runs);
	printf("in-process inflate          %8.1f MB/s of JSON out "
	       "(%.1f MB/s gz in), %8.0f reports/s\n",
	    (double)ph.json_bytes / 1e6 / ph.inflate,
	    (double)l.bytes / 1e6 / ph.inflate,
	    (double)cs.reports / ph.inflate);
	printf("in-process parse+validate   %8.1f MB/s, %8.0f reports/s\n",
	    (double)ph.json_bytes / 1e6 / ph.validate,
	    (double)cs.reports / ph.validate);
	printf("in-process insert (batched) %8.0f reports/s\n",
	    (double)cs.reports / ph.insert);
	printf("in-process sum of phases    %8.0f reports/s\n", per_in);
	printf("ingest .json.gz, fresh db   %8.0f reports/s (%.2f s)\n",
	    rate_small, t_small);
	printf("ingest .eml, fresh db       %8.0f reports/s (%.2f s)\n",
	    (double)ce.reports / t_eml, t_eml);
	printf("ingest .json.gz, db with %" PRId64
	       " policy rows %8.0f reports/s (%.2f s)\n",
	    count(base, "SELECT count(*) FROM policies"), rate_big, t_big);
	printf("ingest .eml, db with %" PRId64
	       " policy rows     %8.0f reports/s (%.2f s)\n",
	    count(base, "SELECT count(*) FROM policies"),
	    (double)ce.reports / t_big_eml, t_big_eml);
	printf("peak RSS, one %.1f MB report  %8.1f MiB\n",
	    (double)cl.json_bytes / 1e6, (double)rss_large / 1024);
	printf(
	    "peak RSS, %" PRIu64 " / %" PRIu64 " / %" PRIu64
	    " inputs  %.1f / %.1f / %.1f MiB (page cache capped at 16 MiB)\n",
	    cf.reports, cs.reports, cs.reports + c2.reports,
	    (double)rss_fifth / 1024, (double)rss_n / 1024,
	    (double)rss_all / 1024);
	printf("ratio end-to-end / in-process sum    %5.2f (target >= 0.80); "
	       "CPU time: %.2f s in process, %.2f s end to end, ratio %.2f\n",
	    rate_small / per_in, ph.cpu, best_cpu, ph.cpu / best_cpu);
	printf("ratio million-row db / fresh db      %5.2f (target >= 0.50)\n",
	    rate_big / rate_small);
	printf(
	    "peak RSS for the large report        %5.1f MiB (target <= 48)\n",
	    (double)rss_large / 1024);
	return 0;
}
