#include "collector/cmd_run.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef TRPT_HAVE_SD_NOTIFY
#include <systemd/sd-daemon.h>
#else
/* Without libsystemd: nothing to tell (Type=simple). */
static int
sd_notify(int unset, const char *state)
{
	(void)unset;
	(void)state;
	return 0;
}
#endif

#include "collector/cmd_serve.h"
#include "collector/dashboard.h"
#include "collector/fetch_https.h"
#include "collector/fetch_imap.h"
#include "collector/journal.h"
#include "collector/run_notify.h"
#include "common/datetime.h"
#include "ingest/imap_sync.h"
#include "ingest/pipeline.h"
#include "ingest/pull.h"
#include "ingest/receiver.h"
#include "schema/db.h"

#define BACKOFF_MIN 5
#define BACKOFF_MAX 900

struct daemon;

/* One [imap] or [https] section, run by a thread of its own. */
struct source {
	struct daemon *d;
	const struct trpt_config_section *sec; /* borrowed from d->cli->cfg */
	int imap;
	unsigned interval;
	int idle;
	pthread_t tid;
	int started;
};

struct daemon {
	struct trpt_cli *cli;
	struct trpt_db *db;
	/* Serialises every use of db: the sources take it (and the
	 * receiver's lock, when there is a receiver) around each write;
	 * the receiver's threads take only theirs. */
	pthread_mutex_t db_lock;
	struct trpt_receiver *recv;
	struct trpt_pipeline recv_p;
	char *cert, *key;
	unsigned drain;
	int stop[2]; /* readable once the sources must stop */
	struct trpt_run_notify *notify;
	/* The read-only dashboard of [dashboard], with its own connection. */
	struct trpt_dashboard_settings dash_set;
	struct trpt_dashboard *dash;
	struct source *src;
	size_t nsrc;
};

static void
on_event(void *arg, const struct trpt_event *ev)
{
	struct daemon *d = arg;

	switch (ev->kind) {
	case TRPT_EV_STORED:
		trpt_journal(TRPT_LOG_INFO, "%s: stored report %s from %s",
		    ev->source, ev->report_id, ev->org);
		/* New data: the alerts are evaluated again. */
		trpt_run_notify_poke(d->notify);
		break;
	case TRPT_EV_DUPLICATE:
		trpt_journal(TRPT_LOG_INFO, "%s: duplicate report %s from %s",
		    ev->source, ev->report_id, ev->org);
		break;
	case TRPT_EV_REJECTED:
		trpt_journal(TRPT_LOG_WARNING, "%s: rejected: %s", ev->source,
		    ev->reason);
		break;
	case TRPT_EV_SKIPPED:
	case TRPT_EV_WARNING:
		break;
	}
}

static void
daemon_lock(struct daemon *d)
{
	pthread_mutex_lock(&d->db_lock);
	if (d->recv != NULL)
		trpt_receiver_lock(d->recv);
}

static void
daemon_unlock(struct daemon *d)
{
	if (d->recv != NULL)
		trpt_receiver_unlock(d->recv);
	pthread_mutex_unlock(&d->db_lock);
}

static void
source_lock(void *arg)
{
	daemon_lock(((struct source *)arg)->d);
}

static void
source_unlock(void *arg)
{
	daemon_unlock(((struct source *)arg)->d);
}

/* 1 when the sources must stop, waiting at most ms for it (-1: ever). */
static int
stopping(struct daemon *d, int ms)
{
	struct pollfd pfd;
	int r;

	pfd.fd = d->stop[0];
	pfd.events = POLLIN;
	pfd.revents = 0;
	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* After each pass over a source's mailboxes: a debug line (journald
 * keeps or drops it by priority). */
static void
synced(void *arg, const struct trpt_imap_stats *st)
{
	const struct source *s = arg;
	char until[40];

	if (st->busy) {
		trpt_datetime_format(st->busy_until, until, sizeof(until));
		trpt_journal(TRPT_LOG_INFO,
		    "source %s: busy: another fetcher (%s) holds it until %s; "
		    "skipped",
		    s->sec->name, st->busy_holder, until);
		return;
	}
	trpt_journal(TRPT_LOG_DEBUG, "source %s: synced, %llu new messages",
	    s->sec->name, (unsigned long long)st->messages);
}

/*
 * An IMAP source writes through a database connection of its own (p->db,
 * opened by source_main), not the daemon's: it takes no lock, so the sync
 * loop parses ahead as `fetch` does (the socket thread hands messages
 * over, a parse thread and a store thread follow, transactions of up to
 * 1,000 messages or 200 ms, each with its saved UID), and the receiver's
 * POSTs never wait for an IMAP answer to be read.  Writers of the two
 * connections take turns through the database's own write lock (busy
 * timeout, as two processes would).
 */
static int
run_imap(struct source *s, struct trpt_pipeline *p, struct trpt_err *err)
{
	struct trpt_imap_conf conf;
	struct trpt_fetch_imap_owned owned;
	struct trpt_imap_sync_hooks hooks;
	int rc;

	if ((rc = trpt_fetch_imap_conf(
		 s->d->cli->cfg, s->sec, &conf, &owned, err)) != TRPT_OK)
		return rc;
	memset(&hooks, 0, sizeof(hooks));
	if (p->db == s->d->db) {
		hooks.lock = source_lock;
		hooks.unlock = source_unlock;
	}
	hooks.synced = synced;
	hooks.arg = s;
	rc = trpt_imap_sync_watch(
	    &conf, p, &hooks, s->idle, s->interval, s->d->stop[0], err);
	trpt_fetch_imap_conf_clear(&owned);
	return rc;
}

/*
 * One pull, under the database lock as a whole: the pull module has no
 * hooks to let go of it around its network I/O, so POSTs wait for it
 * (bounded by the source's timeouts and max_size).
 */
static int
run_https(struct source *s, struct trpt_pipeline *p, struct trpt_err *err)
{
	struct trpt_pull_source src;
	struct trpt_pull_stats stats;
	char *token = NULL;
	int rc;

	if ((rc = trpt_fetch_https_conf(
		 s->d->cli, s->sec, &src, &token, err)) != TRPT_OK)
		return rc;
	memset(&stats, 0, sizeof(stats));
	daemon_lock(s->d);
	rc = trpt_pull_run(&src, p, NULL, NULL, &stats, err);
	daemon_unlock(s->d);
	if (token != NULL) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (rc == TRPT_OK && stopping(s->d, (int)(s->interval * 1000u)))
		return TRPT_OK;
	return rc;
}

static void *
source_main(void *arg)
{
	struct source *s = arg;
	struct trpt_pipeline p;
	struct trpt_db *own = NULL;
	struct trpt_err err;
	unsigned backoff = BACKOFF_MIN;
	int rc;

	trpt_pipeline_init(&p, s->d->db, &s->d->cli->limits);
	p.flags |= TRPT_PIPE_SKIP_NON_REPORTS;
	p.on_event = on_event;
	p.arg = s->d;
	while (!stopping(s->d, 0)) {
		err.msg[0] = '\0';
		/* run_imap: the IMAP source's own connection. */
		if (s->imap && own == NULL &&
		    (rc = trpt_db_open(s->d->cli->db_path, &own, &err)) !=
			TRPT_OK)
			trpt_err_prefix(&err, "%s: database", s->sec->name);
		else {
			if (own != NULL)
				p.db = own;
			rc = s->imap ? run_imap(s, &p, &err)
				     : run_https(s, &p, &err);
		}
		if (rc == TRPT_OK) {
			backoff = BACKOFF_MIN;
			continue;
		}
		/* err names the source ("NAME: cause"). */
		trpt_journal(TRPT_LOG_ERR, "source %s; retrying in %u s",
		    err.msg, backoff);
		if (stopping(s->d, (int)(backoff * 1000u)))
			break;
		backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
	}
	trpt_db_close(&own);
	return NULL;
}

/* interval (both) and idle ([imap]) of a source section, by the tables. */
static int
source_timing(struct trpt_cli *cli, const struct trpt_config_section *sec,
    int imap, unsigned *interval, int *idle)
{
	struct trpt_conf_imap mi;
	struct trpt_conf_https hi;
	struct trpt_err err;
	int rc;

	if (imap)
		rc = trpt_config_read(
		    cli->cfg, sec, "imap", &mi, sizeof(mi), &err);
	else
		rc = trpt_config_read(
		    cli->cfg, sec, "https", &hi, sizeof(hi), &err);
	if (rc != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	*interval = imap ? mi.interval : hi.interval;
	*idle = imap ? mi.idle : 0;
	return TRPT_EXIT_OK;
}

/* The sources of the configuration, checked before anything starts. */
static int
plan_sources(struct daemon *d)
{
	const struct trpt_config_section *sec;
	struct trpt_cli *cli = d->cli;
	size_t i, n = 0;
	int rc, imap, https;

	d->src = calloc(trpt_config_count(cli->cfg) + 1, sizeof(*d->src));
	if (d->src == NULL) {
		trpt_cli_warn("out of memory");
		return TRPT_EXIT_FATAL;
	}
	for (i = 0; i < trpt_config_count(cli->cfg); i++) {
		sec = trpt_config_at(cli->cfg, i);
		imap = strcmp(sec->type, "imap") == 0;
		https = strcmp(sec->type, "https") == 0;
		if (!imap && !https)
			continue;
		rc = imap ? trpt_fetch_imap_check(cli, sec)
			  : trpt_fetch_https_check(cli, sec);
		if (rc != TRPT_EXIT_OK)
			return rc;
		d->src[n].d = d;
		d->src[n].sec = sec;
		d->src[n].imap = imap;
		if ((rc = source_timing(cli, sec, imap, &d->src[n].interval,
			 &d->src[n].idle)) != TRPT_EXIT_OK)
			return rc;
		n++;
	}
	d->nsrc = n;
	return TRPT_EXIT_OK;
}

static void
stop_sources(struct daemon *d)
{
	size_t i;

	if (d->stop[1] >= 0 && write(d->stop[1], "x", 1) < 0)
		trpt_journal(TRPT_LOG_ERR, "cannot signal the sources: %s",
		    strerror(errno));
	for (i = 0; i < d->nsrc; i++)
		if (d->src[i].started) {
			pthread_join(d->src[i].tid, NULL);
			d->src[i].started = 0;
		}
	free(d->src);
	d->src = NULL;
	d->nsrc = 0;
	if (d->stop[0] >= 0)
		close(d->stop[0]);
	if (d->stop[1] >= 0)
		close(d->stop[1]);
	d->stop[0] = d->stop[1] = -1;
}

static void
stop_receiver(struct daemon *d)
{
	struct trpt_receiver *r = d->recv;
	unsigned left;

	trpt_dashboard_stop(&d->dash);
	trpt_dashboard_settings_free(&d->dash_set);

	if (r == NULL)
		return;
	left = trpt_receiver_drain(r, d->drain * 1000);
	if (left > 0)
		trpt_journal(TRPT_LOG_WARNING,
		    "receiver: %u requests still in flight after "
		    "%u s",
		    left, d->drain);
	/* The sources take the receiver's lock through d->recv: it goes
	 * away under db_lock.  Its committer stores what is still queued
	 * on d->db meanwhile, so the lock is held until it has ended: the
	 * notification scheduler, which takes db_lock alone from now on,
	 * waits for it (a connection is used by one thread at a time:
	 * schema/sql_sqlite.c, OPEN_MUTEX).  The committer's events take
	 * only the scheduler's own mutex. */
	pthread_mutex_lock(&d->db_lock);
	d->recv = NULL;
	trpt_receiver_free(&r);
	pthread_mutex_unlock(&d->db_lock);
	if (d->key != NULL) {
		explicit_bzero(d->key, strlen(d->key));
		free(d->key);
	}
	free(d->cert);
	d->cert = d->key = NULL;
}

/* The receiver, when the configuration has a [serve] section. */
static int
start_receiver(struct daemon *d)
{
	struct trpt_receiver_config cfg;
	struct trpt_receiver *r = NULL;
	struct trpt_err err;
	unsigned busy = TRPT_DB_BUSY_TIMEOUT_MS;
	const char *colon;
	int rc, hlen;

	/* The dashboard ([dashboard]) reads through its own connection. */
	memset(&d->dash_set, 0, sizeof(d->dash_set));
	if ((rc = trpt_dashboard_settings_load(d->cli, NULL, &d->dash_set)) !=
	    TRPT_EXIT_OK)
		return rc;
	if (d->dash_set.enabled) {
		if (trpt_dashboard_start(&d->dash_set.cfg, &d->dash, &err) !=
		    TRPT_OK) {
			trpt_journal(TRPT_LOG_ERR, "dashboard: %s", err.msg);
			return err.code == TRPT_EINVAL ? TRPT_EXIT_USAGE
						       : TRPT_EXIT_FATAL;
		}
		trpt_journal(TRPT_LOG_NOTICE, "dashboard on %s",
		    trpt_dashboard_url(d->dash));
	}
	if (trpt_config_find(d->cli->cfg, "serve", "") == NULL)
		return TRPT_EXIT_OK;
	d->drain = 30;
	if ((rc = trpt_cmd_serve_settings(d->cli, &cfg, &d->drain, &busy,
		 &d->cert, &d->key)) != TRPT_EXIT_OK)
		return rc;
	trpt_pipeline_init(&d->recv_p, d->db, &d->cli->limits);
	d->recv_p.on_event = on_event;
	d->recv_p.arg = d;
	pthread_mutex_lock(&d->db_lock);
	rc = trpt_receiver_new(&cfg, &d->recv_p, &r, &err);
	if (rc == TRPT_OK)
		d->recv = r;
	pthread_mutex_unlock(&d->db_lock);
	if (rc != TRPT_OK) {
		trpt_journal(TRPT_LOG_ERR, "receiver: %s", err.msg);
		return rc == TRPT_EINVAL ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
	}
	colon = strrchr(cfg.listen, ':');
	hlen = colon != NULL ? (int)(colon - cfg.listen) : 0;
	trpt_journal(TRPT_LOG_NOTICE, "receiver listening on %s://%.*s:%u",
	    cfg.tls_cert_pem != NULL ? "https" : "http", hlen,
	    hlen > 0 ? cfg.listen : "0.0.0.0", trpt_receiver_port(r));
	return TRPT_EXIT_OK;
}

static int
start_sources(struct daemon *d)
{
	size_t i;
	int rc;

	if (pipe(d->stop) != 0) {
		trpt_cli_warn("pipe: %s", strerror(errno));
		return TRPT_EXIT_FATAL;
	}
	fcntl(d->stop[0], F_SETFD, FD_CLOEXEC);
	fcntl(d->stop[1], F_SETFD, FD_CLOEXEC);
	if ((rc = plan_sources(d)) != TRPT_EXIT_OK)
		return rc;
	for (i = 0; i < d->nsrc; i++) {
		if (pthread_create(
			&d->src[i].tid, NULL, source_main, &d->src[i]) != 0) {
			trpt_journal(TRPT_LOG_ERR,
			    "source %s: cannot start a thread",
			    d->src[i].sec->name);
			return TRPT_EXIT_FATAL;
		}
		d->src[i].started = 1;
		trpt_journal(TRPT_LOG_NOTICE,
		    "source %s: started (%s, every %u s%s)",
		    d->src[i].sec->name, d->src[i].imap ? "imap" : "https",
		    d->src[i].interval,
		    d->src[i].imap && d->src[i].idle ? " or on IDLE" : "");
	}
	return TRPT_EXIT_OK;
}

static void
notify_lock(void *arg)
{
	daemon_lock(arg);
}

static void
notify_unlock(void *arg)
{
	daemon_unlock(arg);
}

/* The scheduler first: the receiver and the sources poke it. */
static int
start_all(struct daemon *d)
{
	struct trpt_run_notify_lock lk;
	int rc;

	lk.lock = notify_lock;
	lk.unlock = notify_unlock;
	lk.arg = d;
	if ((rc = trpt_run_notify_new(d->cli, d->db, &lk, &d->notify)) !=
	    TRPT_EXIT_OK)
		return rc;
	if ((rc = start_receiver(d)) != TRPT_EXIT_OK)
		return rc;
	return start_sources(d);
}

static void
stop_all(struct daemon *d)
{
	stop_sources(d);
	stop_receiver(d);
	trpt_run_notify_free(&d->notify);
}

/*
 * Whether the configuration in cli would start: every source section and
 * [serve] (with its certificate and key files) are read and checked.
 */
static int
config_ok(struct trpt_cli *cli)
{
	const struct trpt_config_section *sec;
	struct trpt_receiver_config rc_cfg;
	char *cert = NULL, *key = NULL;
	unsigned drain = 30, busy = TRPT_DB_BUSY_TIMEOUT_MS, iv = 0;
	size_t i;
	int rc = TRPT_EXIT_OK, idle = 1, imap;

	for (i = 0; i < trpt_config_count(cli->cfg) && rc == 0; i++) {
		sec = trpt_config_at(cli->cfg, i);
		imap = strcmp(sec->type, "imap") == 0;
		if (imap)
			rc = trpt_fetch_imap_check(cli, sec);
		else if (strcmp(sec->type, "https") == 0)
			rc = trpt_fetch_https_check(cli, sec);
		else
			continue;
		if (rc == 0)
			rc = source_timing(cli, sec, imap, &iv, &idle);
	}
	if (rc == 0)
		rc = trpt_run_notify_check(cli);
	if (rc == 0) {
		struct trpt_dashboard_settings ds;

		memset(&ds, 0, sizeof(ds));
		rc = trpt_dashboard_settings_load(cli, NULL, &ds);
		trpt_dashboard_settings_free(&ds);
	}
	if (rc == 0 && trpt_config_find(cli->cfg, "serve", "") != NULL)
		rc = trpt_cmd_serve_settings(
		    cli, &rc_cfg, &drain, &busy, &cert, &key);
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	return rc;
}

/*
 * Reads the configuration file again and checks it whole; on any failure
 * the running configuration stays (and keeps running).
 */
static int
reload_config(struct daemon *d)
{
	struct trpt_config *cfg = NULL;
	struct trpt_limits lim;
	struct trpt_cli probe;
	struct trpt_err err;

	if (trpt_config_load(trpt_config_path(d->cli->cfg), &cfg, &err) !=
	    TRPT_OK) {
		trpt_journal(TRPT_LOG_ERR,
		    "reload: %s; keeping the running configuration", err.msg);
		return -1;
	}
	trpt_limits_default(&lim);
	if (trpt_config_limits(cfg, &lim, &err) != TRPT_OK) {
		trpt_journal(TRPT_LOG_ERR,
		    "reload: %s; keeping the running configuration", err.msg);
		trpt_config_free(&cfg);
		return -1;
	}
	probe = *d->cli;
	probe.cfg = cfg;
	probe.limits = lim;
	if (config_ok(&probe) != TRPT_EXIT_OK) {
		trpt_journal(TRPT_LOG_ERR,
		    "reload: %s does not start (see above); keeping "
		    "the running configuration",
		    trpt_config_path(cfg));
		trpt_config_free(&cfg);
		return -1;
	}
	trpt_config_free(&d->cli->cfg);
	d->cli->cfg = cfg;
	d->cli->limits = lim;
	return 0;
}

static void
run_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector [--db PATH] [--config FILE] run\n"
	    "\n"
	    "Runs as a service, in the foreground, everything the "
	    "configuration\n"
	    "asks for: the HTTPS receiver of [serve] (when the section is "
	    "there),\n"
	    "every [imap \"NAME\"] source (IMAP IDLE when the server offers "
	    "it and\n"
	    "idle = true, so a report is stored seconds after it arrives; "
	    "else a\n"
	    "run every interval seconds, 300 by default) and every [https "
	    "\"NAME\"]\n"
	    "pull source every interval seconds.  All write through one "
	    "database\n"
	    "connection.  A failing source is logged and retried after 5 s, "
	    "then\n"
	    "twice as long each time up to 15 minutes; the others go on.\n"
	    "\n"
	    "Logs one line per event on standard error with a syslog "
	    "priority\n"
	    "prefix (<3> error ... <6> information) that journald reads.\n"
	    "SIGHUP reads the configuration and the TLS certificate and key "
	    "again\n"
	    "and restarts the receiver and the sources with them; SIGTERM or "
	    "SIGINT\n"
	    "stops the sources, lets the requests in flight finish and exits "
	    "0.\n"
	    "\n"
	    "Exit status: 0 after SIGTERM, 2 configuration error, 3 the "
	    "database\n"
	    "or the receiver's address failed.\n");
}

int
trpt_cmd_run_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d;
	sigset_t sigs, old;
	int c, sig, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			run_usage(stdout);
			return TRPT_EXIT_OK;
		}
		run_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if (optind != argc) {
		run_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	trpt_cli_warn_journal(1);
	memset(&d, 0, sizeof(d));
	d.cli = cli;
	d.stop[0] = d.stop[1] = -1;
	pthread_mutex_init(&d.db_lock, NULL);
	if ((rc = trpt_cli_open_db(cli, &d.db)) != TRPT_EXIT_OK)
		goto out;
	/* The threads inherit this mask: only sigwait below sees these. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	if ((rc = start_all(&d)) != TRPT_EXIT_OK) {
		stop_all(&d);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		goto out;
	}
	sd_notify(0, "READY=1");
	trpt_journal(TRPT_LOG_NOTICE, "running: %zu source%s%s", d.nsrc,
	    d.nsrc == 1 ? "" : "s", d.recv != NULL ? " and the receiver" : "");
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			sig = SIGTERM;
		if (sig != SIGHUP)
			break;
		trpt_journal(TRPT_LOG_NOTICE, "SIGHUP: reloading %s",
		    trpt_config_path(cli->cfg));
		sd_notify(0, "RELOADING=1");
		if (reload_config(&d) != 0) {
			sd_notify(0, "READY=1");
			continue;
		}
		stop_all(&d);
		trpt_journal(
		    TRPT_LOG_NOTICE, "reload: configuration read again");
		if ((rc = start_all(&d)) != TRPT_EXIT_OK) {
			trpt_journal(TRPT_LOG_ERR,
			    "reload: cannot start again; exiting");
			stop_all(&d);
			goto out;
		}
		sd_notify(0, "READY=1");
	}
	sd_notify(0, "STOPPING=1");
	trpt_journal(TRPT_LOG_NOTICE, "signal %d: stopping", sig);
	stop_all(&d);
	trpt_journal(TRPT_LOG_NOTICE, "stopped");
	rc = TRPT_EXIT_OK;
out:
	trpt_db_close(&d.db);
	pthread_mutex_destroy(&d.db_lock);
	return rc;
}
