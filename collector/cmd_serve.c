#include "collector/cmd_serve.h"

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/cmd_ingest.h"
#include "collector/dashboard.h"
#include "common/buf.h"
#include "ingest/pipeline.h"
#include "ingest/receiver.h"
#include "report/metrics.h"
#include "report/trend.h"
#include "schema/checkpoint.h"

#define PEM_MAX (1024 * 1024)

/* The networks of [serve] allow, split out of their values. */
static char allow_nets[TRPT_RECEIVER_MAX_ALLOW][64];

/*
 * allow = CIDR... (repeatable; blanks or commas between networks): who
 * may POST.  Returns TRPT_EXIT_OK or TRPT_EXIT_USAGE.
 */
static int
load_allow(
    const struct trpt_config_list *allow, struct trpt_receiver_config *cfg)
{
	struct trpt_err err;
	const char *v, *p;
	size_t i, n;

	for (i = 0; (v = trpt_config_list_at(allow, i)) != NULL; i++) {
		for (p = v; *p != '\0'; p += n) {
			p += strspn(p, " \t,");
			n = strcspn(p, " \t,");
			if (n == 0)
				break;
			if (cfg->nallow == TRPT_RECEIVER_MAX_ALLOW) {
				trpt_cli_warn("serve: at most %d allow "
					      "networks",
				    TRPT_RECEIVER_MAX_ALLOW);
				return TRPT_EXIT_USAGE;
			}
			snprintf(allow_nets[cfg->nallow], sizeof(allow_nets[0]),
			    "%.*s", (int)n, p);
			if (trpt_receiver_allow_check(
				allow_nets[cfg->nallow], &err) != TRPT_OK) {
				trpt_cli_warn("%s", err.msg);
				return TRPT_EXIT_USAGE;
			}
			cfg->allow[cfg->nallow] = allow_nets[cfg->nallow];
			cfg->nallow++;
		}
	}
	return TRPT_EXIT_OK;
}

/*
 * WAL checkpoints from a thread of their own.  SQLite otherwise runs one
 * inside the commit that crosses wal_autocheckpoint, with its fsyncs, and
 * every POST waits behind it; a PASSIVE checkpoint on a second connection
 * runs beside the writer instead.
 */
/*
 * Past this many frames in the log (128 MB of 4 kB pages), a RESTART
 * (below).  Every POST waits while it runs, and what it waits for is an
 * fsync of what the writer logged during the pass before it, a time that
 * does not shrink with the threshold: at 16 connections the writer logs
 * ~21 kB a POST (the whole pages it changed), 100-260 MB/s, about what the
 * disk here takes (dd: 160-310 MB/s), so that fsync takes 50-500 ms loaded
 * (before_restart now runs most of it beside the writer).
 * Fewer RESTARTs is what shortens the time the writer stands still: 32,768
 * frames instead of 16,384 (20,000 POSTs at 16 connections, load 6.5-14,
 * 12 alternating rounds, with journal_size_limit 256 MB: 2 RESTARTs a run
 * instead of 3, the writer stood still 174 ms a run instead of 666,
 * medians; at load 3-4, where each RESTART is shorter, about as long:
 * 165 ms instead of 171).
 */
#define WAL_RESTART_FRAMES 32768

struct checkpointer {
	struct trpt_checkpoint *ck;
	struct trpt_db *writer;  /* the pipeline's connection */
	struct trpt_receiver *r; /* set once serving, under lock */
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop, running;
	int restart_rc, skip, backoff; /* a RESTART that could not finish */
	int restarted;                 /* the log's length at the last one */
	/* RESTARTs tried and the time the writer stood still for them
	 * (/metrics: every POST waits meanwhile). */
	atomic_ullong restarts, restart_us;
};

static void
restart(void *arg)
{
	struct checkpointer *c = arg;
	struct trpt_err err;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	c->restart_rc = trpt_checkpoint_restart(c->writer, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	atomic_fetch_add(&c->restarts, 1);
	atomic_fetch_add(&c->restart_us,
	    (unsigned long long)((t1.tv_sec - t0.tv_sec) * 1000000 +
				 (t1.tv_nsec - t0.tv_nsec) / 1000));
	if (c->restart_rc != TRPT_OK && c->backoff == 0)
		trpt_cli_warn("serve: %s; trying again", err.msg);
}

/*
 * What a RESTART waits for (the writer and every POST waiting with it) is
 * mostly fsyncs: of the log the writer wrote since the last pass synced
 * it, and of every page the passes copied into the database file since
 * the last RESTART (a pass that does not catch up with the writer never
 * syncs the database file).  So, beside the writer first: sync both from
 * the checkpointer's connection, run a pass (its own sync of the log now
 * finds little), and again while a pass found much new in the log, then
 * sync both once more: the RESTART then syncs and copies only what came
 * in meanwhile.  The same syncs as before, and some more, none fewer.
 * At most RESTART_PASSES passes, and none more once the log is past
 * RESTART_CAP_FRAMES: the log grows on meanwhile, and past 256 MB the
 * commit after the RESTART truncates it with every POST waiting
 * (schema/checkpoint.c).  100,000 POSTs at 16 connections, alternating
 * rounds against main 44538b7 (docs/PERFORMANCE.md, stop 28): the writer
 * stood still ~40 ms a run for 6 RESTARTs instead of ~430 ms, max latency
 * ~30 ms instead of ~95.
 */
#define RESTART_PASSES       3
#define RESTART_SMALL_FRAMES 2048  /* 8 MB: a pass or two's copy */
#define RESTART_CAP_FRAMES   57344 /* 224 MB */

static void
before_restart(struct checkpointer *c, int *nlog)
{
	int i, prev = *nlog;

	for (i = 0; i < RESTART_PASSES; i++) {
		trpt_checkpoint_sync(c->ck, NULL);
		trpt_checkpoint_passive(c->ck, nlog, NULL);
		if (*nlog - prev < RESTART_SMALL_FRAMES ||
		    *nlog > RESTART_CAP_FRAMES)
			break;
		prev = *nlog;
	}
	trpt_checkpoint_sync(c->ck, NULL);
}

static void *
checkpoint_loop(void *arg)
{
	struct checkpointer *c = arg;
	struct timespec until;
	int nlog;

#ifdef __linux__
	prctl(PR_SET_NAME, "trpt-checkpoint", 0, 0, 0); /* as in receiver.c */
#endif
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cond, &c->lock, &until);
		pthread_mutex_unlock(&c->lock);
		/* Copy the log beside the writer.  Under a steady load the
		 * writer never finds it all copied, so the log would only
		 * grow: past WAL_RESTART_FRAMES, a RESTART on the writer's
		 * own connection, between two requests, copies the little
		 * that came in since and the next commit starts the log
		 * over.  Requests wait for it on the pipeline lock rather
		 * than fail on a busy database. */
		nlog = 0;
		trpt_checkpoint_passive(c->ck, &nlog, NULL);
		pthread_mutex_lock(&c->lock);
		/* Not again while the writer has not started the log over
		 * since the last one (it does so at its next commit). */
		if (nlog > WAL_RESTART_FRAMES && nlog != c->restarted &&
		    c->r != NULL && !c->stop &&
		    (c->skip == 0 || --c->skip == 0)) {
			pthread_mutex_unlock(&c->lock);
			before_restart(c, &nlog);
			pthread_mutex_lock(&c->lock);
		}
		if (nlog > WAL_RESTART_FRAMES && nlog != c->restarted &&
		    c->r != NULL && !c->stop && c->skip == 0) {
			/* One that could not finish (a reader held the log)
			 * is tried again after 1, 2, 4 ... up to 128 rounds
			 * (32 s), not at once: the writer waited for it. */
			trpt_receiver_locked(c->r, restart, c);
			if (c->restart_rc == TRPT_OK) {
				c->backoff = 0;
				c->restarted = nlog;
			} else if (c->backoff < 120)
				c->backoff =
				    c->backoff == 0 ? 1 : 2 * c->backoff;
			c->skip = c->backoff;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void
checkpointer_start(struct checkpointer *c, struct trpt_db *db)
{
	memset(c, 0, sizeof(*c));
	atomic_init(&c->restarts, 0);
	atomic_init(&c->restart_us, 0);
	c->writer = db;
	/* Nothing to do on PostgreSQL; on failure the writer keeps
	 * checkpointing itself. */
	if (trpt_checkpoint_new(db, &c->ck, NULL) != TRPT_OK || c->ck == NULL)
		return;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (pthread_create(&c->tid, NULL, checkpoint_loop, c) != 0) {
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
		trpt_checkpoint_free(&c->ck);
		return;
	}
	c->running = 1;
}

static void
checkpointer_stop(struct checkpointer *c, struct trpt_db *db)
{
	if (!c->running)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->tid, NULL);
	trpt_checkpoint_free(&c->ck);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	c->running = 0;
	trpt_checkpoint_writer(db, NULL);
}

/*
 * Ends the receiver (its committer stores what is still queued) before the
 * checkpointer lets go of the writer: checkpointer_stop runs statements on
 * the writer's connection, which only one thread may use at a time
 * (schema/sql_sqlite.c, OPEN_MUTEX).  The checkpointer thread asks no more
 * RESTART of a receiver that is going away.
 */
static void
receiver_stop(struct checkpointer *c, struct trpt_receiver **r)
{
	if (c->running) {
		pthread_mutex_lock(&c->lock);
		c->r = NULL;
		pthread_mutex_unlock(&c->lock);
	}
	trpt_receiver_free(r);
}

/*
 * The per-domain series of /metrics (report/metrics.h) on a connection
 * of their own, one scrape at a time, read from the rollups that the store
 * writes with the reports (a writer holding the lock past 250 ms makes the
 * scrape say so).
 */
struct domain_metrics {
	pthread_mutex_t lock;
	struct trpt_db *db;
	struct checkpointer *ck;
};

static void
domain_metrics(void *arg, struct trpt_buf *out)
{
	struct domain_metrics *m = arg;
	struct trpt_err err;
	int rc;

	if (m->ck->running)
		trpt_buf_appendf(out, NULL,
		    "# HELP tlsrpt_wal_restarts_total Times the SQLite log was "
		    "copied to its end to be started over (POSTs wait "
		    "meanwhile).\n"
		    "# TYPE tlsrpt_wal_restarts_total counter\n"
		    "tlsrpt_wal_restarts_total %llu\n"
		    "# HELP tlsrpt_wal_restart_seconds_total Time the writer "
		    "stood still for them.\n"
		    "# TYPE tlsrpt_wal_restart_seconds_total counter\n"
		    "tlsrpt_wal_restart_seconds_total %.6f\n",
		    (unsigned long long)atomic_load(&m->ck->restarts),
		    (double)atomic_load(&m->ck->restart_us) / 1e6);
	pthread_mutex_lock(&m->lock);
	rc = trpt_metrics_write(m->db, 0, out, &err);
	if (rc != TRPT_OK)
		trpt_buf_appendf(out, NULL,
		    "# per-domain series unavailable: database busy or "
		    "failing\n");
	pthread_mutex_unlock(&m->lock);
}

static void
serve_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector serve [--listen ADDR:PORT] "
	    "[--dashboard ADDR:PORT]\n"
	    "\n"
	    "Receives reports POSTed by senders (RFC 8460 section 5.4) and\n"
	    "stores them.  Bodies are application/tlsrpt+gzip or\n"
	    "application/tlsrpt+json (also application/gzip and\n"
	    "application/json; the bytes decide).  Answers 200 once a report\n"
	    "is committed (also for a duplicate), 400 with the reason for a\n"
	    "rejected one (kept in quarantine), 413 past the size limit, 415\n"
	    "for other media types, 405 for other methods, 429 past the rate\n"
	    "limit and 503 when the database cannot take the write.\n"
	    "GET /healthz (503 while stores fail) and GET /metrics\n"
	    "(Prometheus) are served too.  Each cause of failing stores is\n"
	    "logged once; a database it cannot write is refused at start.\n"
	    "\n"
	    "  --listen ADDR:PORT  address (default 127.0.0.1:8460, or\n"
	    "                      listen in [serve]); port 0 picks one\n"
	    "  --dashboard ADDR:PORT  also serve the read-only web "
	    "dashboard there\n"
	    "                      (or listen in [dashboard]; default\n"
	    "                      127.0.0.1:8461 when the section exists)\n"
	    "\n"
	    "[dashboard] takes listen, password_file (lines made by\n"
	    "\"tlsrpt-collector dashboard-password\"; required to listen\n"
	    "beyond loopback: HTTP basic authentication), tls_cert and\n"
	    "tls_key.\n"
	    "\n"
	    "The [serve] section of the configuration sets listen, path\n"
	    "(repeatable; default / and /v1/tlsrpt), tls_cert and tls_key\n"
	    "(PEM files: native TLS; without them plain HTTP for a reverse\n"
	    "proxy), threads, max_connections, max_connections_per_client,\n"
	    "idle_timeout, header_timeout, request_timeout, drain_timeout\n"
	    "(seconds),\n"
	    "busy_timeout (milliseconds to wait for a locked database, 5000),\n"
	    "rate_limit (POSTs a minute per client, 0: none), rate_burst and\n"
	    "trust_proxy (take the client from X-Forwarded-For on loopback)\n"
	    "and allow (networks that may POST, e.g. \"allow = 192.0.2.0/24\n"
	    "2001:db8::/32\"; others get 403; default: everyone).  A POST\n"
	    "carries no DKIM: its client (address, TLS) is stored with it.\n"
	    "The body limit is max_message in [limits].\n"
	    "\n"
	    "Prints \"listening on URL\" once ready; SIGTERM or SIGINT lets "
	    "the\n"
	    "requests in flight finish, then exits 0.\n");
}

static int
read_pem(const char *path, char **out)
{
	struct trpt_err err;
	size_t len;

	if (trpt_buf_read_file(path, PEM_MAX, out, &len, &err) != TRPT_OK) {
		trpt_cli_warn("serve: %s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	return TRPT_EXIT_OK;
}

int
trpt_cmd_serve_settings(struct trpt_cli *cli, struct trpt_receiver_config *cfg,
    unsigned *drain, unsigned *busy, char **cert, char **key)
{
	struct trpt_conf_serve s;
	struct trpt_err err;
	size_t i;
	int rc;

	if (trpt_config_read(cli->cfg, NULL, "serve", &s, sizeof(s), &err) !=
	    TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	*cfg = s.rx;
	cfg->max_body = cli->limits.max_message;
	if (s.paths.n > 0) {
		cfg->npaths = s.paths.n;
		for (i = 0; i < s.paths.n; i++)
			cfg->paths[i] = trpt_config_list_at(&s.paths, i);
	}
	*drain = s.drain_timeout;
	*busy = s.busy_timeout;
	if ((rc = load_allow(&s.allow, cfg)) != TRPT_EXIT_OK)
		return rc;
	if (s.tls_cert != NULL) {
		if ((rc = read_pem(s.tls_cert, cert)) != 0 ||
		    (rc = read_pem(s.tls_key, key)) != 0)
			return rc;
		cfg->tls_cert_pem = *cert;
		cfg->tls_key_pem = *key;
	}
	return TRPT_EXIT_OK;
}

/*
 * The pipeline's events, called by the committer for every stored POST:
 * the ones that print nothing at this verbosity return before
 * trpt_cmd_ingest_print_event escapes their fields.
 */
static void
serve_event(void *arg, const struct trpt_event *ev)
{
	const struct trpt_cli *cli = arg;

	if (((ev->kind == TRPT_EV_STORED || ev->kind == TRPT_EV_DUPLICATE) &&
		!ev->conflict && cli->verbose <= 0) ||
	    (ev->kind == TRPT_EV_SKIPPED && cli->verbose <= 0) ||
	    (ev->kind == TRPT_EV_WARNING && cli->verbose <= 1))
		return;
	trpt_cmd_ingest_print_event(arg, ev);
}

/* The receiver's lines about failing stores, one per cause. */
static void
serve_log(void *arg, const char *msg)
{
	(void)arg;
	trpt_cli_warn("%s", msg);
}

/* "listening on http://ADDR:PORT", the port being the one bound. */
static void
announce(const struct trpt_receiver_config *cfg, unsigned port)
{
	const char *colon = strrchr(cfg->listen, ':');
	int hlen = colon != NULL ? (int)(colon - cfg->listen) : 0;

	printf("listening on %s://%.*s:%u\n",
	    cfg->tls_cert_pem != NULL ? "https" : "http", hlen,
	    hlen > 0 ? cfg->listen : "0.0.0.0", port);
	fflush(stdout);
}

int
trpt_cmd_serve_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "dashboard", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_receiver_config cfg;
	struct trpt_receiver *r = NULL;
	struct trpt_receiver_stats st;
	struct trpt_pipeline p;
	struct checkpointer ckpt;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	const char *listen = NULL, *dash_listen = NULL;
	struct trpt_dashboard_settings dash_set;
	struct trpt_dashboard *dash = NULL;
	struct domain_metrics dm;
	char *cert = NULL, *key = NULL;
	unsigned drain = 30, busy = TRPT_DB_BUSY_TIMEOUT_MS, left;
	sigset_t sigs, old;
	int c, sig, rc;

	while ((c = getopt_long(argc, argv, "l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'D':
			dash_listen = optarg;
			break;
		case 'h':
			serve_usage(stdout);
			return TRPT_EXIT_OK;
		default:
			serve_usage(stderr);
			return TRPT_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		serve_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	memset(&dash_set, 0, sizeof(dash_set));
	memset(&dm, 0, sizeof(dm));
	pthread_mutex_init(&dm.lock, NULL);
	if ((rc = trpt_cmd_serve_settings(
		 cli, &cfg, &drain, &busy, &cert, &key)) != 0 ||
	    (rc = trpt_dashboard_settings_load(cli, dash_listen, &dash_set)) !=
		0)
		goto out;
	if (listen != NULL)
		cfg.listen = listen;
	if ((rc = trpt_cli_open_db(cli, &db)) != TRPT_EXIT_OK)
		goto out;
	/* A database that cannot take a write would answer 503 to every
	 * sender: refuse to start instead.  A lock held by another writer
	 * is only a wait. */
	if ((c = trpt_db_check_writable(db, &err)) != TRPT_OK &&
	    c != TRPT_ETEMP) {
		trpt_cli_warn(
		    "serve: cannot write to the database: %s", err.msg);
		rc = TRPT_EXIT_FATAL;
		goto out;
	}
	cfg.log = serve_log;
	cfg.log_arg = cli;
	if (trpt_db_open(cli->db_path, &dm.db, &err) == TRPT_OK) {
		trpt_db_set_busy_timeout(dm.db, 250);
		cfg.metrics_extra = domain_metrics;
		cfg.metrics_arg = &dm;
		dm.ck = &ckpt;
	}
	/* Every POST waits behind the one holding the pipeline: give up on
	 * a locked database soon (503, the sender retries). */
	trpt_db_set_busy_timeout(db, (int)busy);
	trpt_pipeline_init(&p, db, &cli->limits);
	p.on_event = serve_event;
	p.arg = cli;

	/* The server's threads inherit this mask: only sigwait below sees
	 * these signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	checkpointer_start(&ckpt, db);
	if (trpt_receiver_new(&cfg, &p, &r, &err) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		rc =
		    err.code == TRPT_EINVAL ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
		checkpointer_stop(&ckpt, db);
		goto out_mask;
	}
	if (ckpt.running) {
		pthread_mutex_lock(&ckpt.lock);
		ckpt.r = r;
		pthread_mutex_unlock(&ckpt.lock);
	}
	if (dash_set.enabled) {
		if (trpt_dashboard_start(&dash_set.cfg, &dash, &err) !=
		    TRPT_OK) {
			trpt_cli_warn("%s", err.msg);
			rc = err.code == TRPT_EINVAL ? TRPT_EXIT_USAGE
						     : TRPT_EXIT_FATAL;
			receiver_stop(&ckpt, &r);
			checkpointer_stop(&ckpt, db);
			goto out_mask;
		}
		printf("dashboard on %s\n", trpt_dashboard_url(dash));
	}
	announce(&cfg, trpt_receiver_port(r));
	do {
		if (sigwait(&sigs, &sig) != 0)
			sig = SIGTERM;
	} while (sig == SIGHUP);
	if (cli->verbose >= 0)
		fprintf(stderr, "tlsrpt-collector: signal %d: draining\n", sig);
	trpt_dashboard_stop(&dash);
	left = trpt_receiver_drain(r, drain * 1000);
	if (left > 0)
		trpt_cli_warn("serve: %u requests still in flight after %u s",
		    left, drain);
	trpt_receiver_stats(r, &st);
	receiver_stop(&ckpt, &r);
	checkpointer_stop(&ckpt, db);
	if (cli->verbose >= 0)
		printf("served: stored %" PRIu64 ", duplicates %" PRIu64
		       ", rejected %" PRIu64 "\n",
		    st.stored, st.duplicates, st.rejected);
	rc = TRPT_EXIT_OK;
out_mask:
	/* A second SIGTERM while draining stays pending, never delivered:
	 * the mask is restored only on the paths that did not wait. */
	if (rc != TRPT_EXIT_OK)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
	trpt_db_close(&dm.db);
	pthread_mutex_destroy(&dm.lock);
	trpt_dashboard_settings_free(&dash_set);
	trpt_db_close(&db);
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	return rc;
}
