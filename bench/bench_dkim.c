/*
 * The cost of DKIM verification per report e-mail (issue 12), in process:
 *
 *	bench_dkim DIR NAMESERVER [ROUNDS]
 *
 * DIR holds signed report e-mails (*.eml, made by bench/dkim-bench.py,
 * which also serves their keys with nsd at NAMESERVER).  Prints, each the
 * best of ROUNDS (default 5):
 *  - verification alone (trpt_dkim_verify), keys cached: e-mails/s and
 *    microseconds per e-mail; and the first pass, keys fetched;
 *  - the whole pipeline into a fresh database (batched as `ingest`):
 *    e-mails/s without verification and with it (keys cached);
 *  - the difference per e-mail.
 */

#include <sys/resource.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/limits.h"
#include "ingest/dkim.h"
#include "ingest/pipeline.h"
#include "schema/db.h"

struct mail {
	char *data;
	size_t len;
	char name[64];
};

static struct mail *mails;
static size_t nmails;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of this process so far: the VM is shared,
 * and wall time counts the neighbours' work too. */
static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int
load(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];
	FILE *f;
	long n;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		struct mail *nm;

		if (l < 5 || strcmp(de->d_name + l - 4, ".eml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((f = fopen(path, "rb")) == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		nm = realloc(mails, (nmails + 1) * sizeof(*nm));
		if (nm == NULL || n < 0)
			return -1;
		mails = nm;
		nm = &mails[nmails];
		nm->data = malloc((size_t)n + 1);
		if (nm->data == NULL ||
		    fread(nm->data, 1, (size_t)n, f) != (size_t)n)
			return -1;
		nm->len = (size_t)n;
		snprintf(nm->name, sizeof(nm->name), "%.60s", de->d_name);
		nmails++;
		fclose(f);
	}
	closedir(d);
	return nmails > 0 ? 0 : -1;
}

/* One pass of verification; returns seconds (*cpu: CPU seconds), counts
 * passes. */
static double
verify_all(struct trpt_dkim *dk, size_t *pass, double *cpu)
{
	struct trpt_dkim_verdict v;
	struct trpt_err err;
	double t0 = now_s(), c0 = cpu_s();
	size_t i;

	*pass = 0;
	for (i = 0; i < nmails; i++)
		if (trpt_dkim_verify(dk, mails[i].data, mails[i].len, 0, &v,
			&err) == TRPT_OK &&
		    v.nsigs > 0 && v.sigs[0].result == TRPT_DKIM_PASS)
			(*pass)++;
	*cpu = cpu_s() - c0;
	return now_s() - t0;
}

/* The pipeline over every mail into a fresh database; seconds. */
static double
pipeline_all(
    const char *dbpath, struct trpt_dkim *dk, uint64_t *stored, double *cpu)
{
	struct trpt_limits lim;
	struct trpt_pipeline p;
	struct trpt_origin o;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	double t0, t, c0;
	size_t i;
	char wal[4200];

	unlink(dbpath);
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", dbpath);
	unlink(wal);
	if (trpt_db_open(dbpath, &db, &err) != TRPT_OK) {
		fprintf(stderr, "bench_dkim: %s\n", err.msg);
		exit(1);
	}
	trpt_limits_default(&lim);
	trpt_pipeline_init(&p, db, &lim);
	p.dkim = dk;
	p.batch_max = 1000; /* as collector/cmd_ingest.c */
	p.batch_ms = 200;
	t0 = now_s();
	c0 = cpu_s();
	for (i = 0; i < nmails; i++) {
		memset(&o, 0, sizeof(o));
		o.kind = "file";
		o.source = mails[i].name;
		if (trpt_pipeline_input(&p, mails[i].data, mails[i].len, &o,
			NULL, &err) != TRPT_OK) {
			fprintf(stderr, "bench_dkim: %s\n", err.msg);
			exit(1);
		}
	}
	if (trpt_pipeline_flush(&p, &err) != TRPT_OK) {
		fprintf(stderr, "bench_dkim: %s\n", err.msg);
		exit(1);
	}
	t = now_s() - t0;
	*cpu = cpu_s() - c0;
	*stored = p.stats.stored;
	trpt_db_close(&db);
	return t;
}

static struct trpt_dkim *
verifier(const char *ns)
{
	struct trpt_dkim_config cfg;
	struct trpt_dkim *dk = NULL;
	struct trpt_err err;

	trpt_dkim_config_default(&cfg);
	cfg.nameserver = ns;
	cfg.require = TRPT_DKIM_REQUIRE_WARN;
	if (trpt_dkim_new(&cfg, &dk, &err) != TRPT_OK) {
		fprintf(stderr, "bench_dkim: %s\n", err.msg);
		exit(1);
	}
	return dk;
}

int
main(int argc, char **argv)
{
	struct trpt_dkim *dk;
	struct trpt_dkim_stats st;
	double t, c, cold, ccold, best_v = 1e9, cpu_v = 1e9, best_off = 1e9,
				  cpu_off = 1e9, best_on = 1e9, cpu_on = 1e9;
	uint64_t stored_off = 0, stored_on = 0;
	size_t pass = 0, bytes = 0, i;
	char dbpath[4096];
	int r, rounds = argc > 3 ? atoi(argv[3]) : 5;
	double n;

	if (argc < 3 || load(argv[1]) != 0 || rounds < 1) {
		fprintf(stderr, "usage: bench_dkim DIR NAMESERVER [ROUNDS]\n");
		return 2;
	}
	n = (double)nmails;
	for (i = 0; i < nmails; i++)
		bytes += mails[i].len;
	snprintf(dbpath, sizeof(dbpath), "%s/bench-dkim.db", argv[1]);
	printf("%zu e-mails, %.1f kB each on average, best of %d rounds; "
	       "wall-clock rate, and CPU time per e-mail\n",
	    nmails, (double)bytes / n / 1024.0, rounds);

	dk = verifier(argv[2]);
	cold = verify_all(dk, &pass, &ccold);
	trpt_dkim_stats(dk, &st);
	printf("verify, first pass (keys fetched): %7.0f e-mails/s %7.1f us "
	       "CPU; %zu pass, %" PRIu64 " DNS queries for %" PRIu64
	       " lookups\n",
	    n / cold, ccold / n * 1e6, pass, st.dns_queries, st.lookups);
	for (r = 0; r < rounds; r++) {
		t = verify_all(dk, &pass, &c);
		best_v = t < best_v ? t : best_v;
		cpu_v = c < cpu_v ? c : cpu_v;
	}
	trpt_dkim_stats(dk, &st);
	printf("verify, keys cached:               %7.0f e-mails/s %7.1f us "
	       "CPU; %zu pass, %" PRIu64 " DNS queries in all\n",
	    n / best_v, cpu_v / n * 1e6, pass, st.dns_queries);
	for (r = 0; r < rounds; r++) {
		t = pipeline_all(dbpath, NULL, &stored_off, &c);
		best_off = t < best_off ? t : best_off;
		cpu_off = c < cpu_off ? c : cpu_off;
		t = pipeline_all(dbpath, dk, &stored_on, &c);
		best_on = t < best_on ? t : best_on;
		cpu_on = c < cpu_on ? c : cpu_on;
	}
	printf("pipeline without DKIM:             %7.0f e-mails/s %7.1f us "
	       "CPU; %" PRIu64 " reports stored\n",
	    n / best_off, cpu_off / n * 1e6, stored_off);
	printf("pipeline with DKIM, keys cached:   %7.0f e-mails/s %7.1f us "
	       "CPU; %" PRIu64 " reports stored\n",
	    n / best_on, cpu_on / n * 1e6, stored_on);
	printf("cost of verification per e-mail in the pipeline: %.1f us CPU "
	       "(%.1f us wall), %.0f%% of the CPU time\n",
	    (cpu_on - cpu_off) / n * 1e6, (best_on - best_off) / n * 1e6,
	    100.0 * (cpu_on - cpu_off) / cpu_on);
	trpt_dkim_free(&dk);
	unlink(dbpath);
	for (i = 0; i < nmails; i++)
		free(mails[i].data);
	free(mails);
	return 0;
}
