#include "collector/run_notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "collector/cmd_alerts.h"
#include "collector/cmd_check.h"
#include "collector/cmd_summary.h"
#include "collector/journal.h"
#include "collector/recheck.h"
#include "report/alert.h"
#include "report/notify.h"
#include "report/trend.h"
#include "schema/notify_state.h"

#define RETRY_SECONDS 60
#define DEBOUNCE_MS   1000
#define HISTORY_DAYS  90 /* closed alerts looked at, to send closes */
#define MAX_MAIL_TO   32
#define CHANNEL_LEN   160

struct hook {
	char channel[CHANNEL_LEN]; /* "webhook:NAME" */
	struct trpt_webhook w;
	enum trpt_webhook_format fmt;
};

struct trpt_run_notify {
	struct trpt_cli *cli;
	struct trpt_db *db;
	struct trpt_run_notify_lock lk;
	struct trpt_alert_config ac;
	char *mail_to[MAX_MAIL_TO];
	size_t nmail_to;
	struct hook *hooks;
	size_t nhooks;
	unsigned interval;
	int recheck; /* live check of an alert's domains when it opens */
	struct trpt_check_config cc;
	int summary_at; /* minutes into the ISO week (Monday 00:00 UTC), or
			   -1: no scheduled summary */
	pthread_t tid;
	pthread_mutex_t m;
	pthread_cond_t c;
	int dirty, stop, started;
};

/* ---- configuration -------------------------------------------------- */

static int
bad(const struct trpt_cli *cli, const struct trpt_config_section *sec,
    const char *key, const char *why)
{
	trpt_cli_warn("config %s: [%s%s%s%s] %s: %s",
	    trpt_config_path(cli->cfg), sec->type, sec->name[0] ? " \"" : "",
	    sec->name, sec->name[0] ? "\"" : "", key, why);
	return TRPT_EXIT_USAGE;
}

/* "Mon 07:00" (UTC) to minutes into the ISO week. */
static int
parse_send_at(const char *v, int *out)
{
	static const char *const days[] = { "mon", "tue", "wed", "thu", "fri",
		"sat", "sun" };
	int d, h, m;

	for (d = 0; d < 7; d++)
		if (strncasecmp(v, days[d], 3) == 0)
			break;
	if (d == 7 || v[3] != ' ' || v[4] < '0' || v[4] > '2' || v[5] < '0' ||
	    v[5] > '9' || v[6] != ':' || v[7] < '0' || v[7] > '5' ||
	    v[8] < '0' || v[8] > '9' || v[9] != '\0')
		return -1;
	h = (v[4] - '0') * 10 + (v[5] - '0');
	m = (v[7] - '0') * 10 + (v[8] - '0');
	if (h > 23)
		return -1;
	*out = d * 1440 + h * 60 + m;
	return 0;
}

static int
add_mail_to(struct trpt_run_notify *n, const struct trpt_cli *cli,
    const struct trpt_config_section *sec, const char *v)
{
	int rc = trpt_cli_split_list(v, n->mail_to, MAX_MAIL_TO, &n->nmail_to);

	if (rc == TRPT_ELIMIT)
		return bad(cli, sec, "mail_to", "at most 32 recipients");
	if (rc != TRPT_OK) {
		trpt_cli_warn("out of memory");
		return TRPT_EXIT_FATAL;
	}
	return TRPT_EXIT_OK;
}

static void
conf_clear(struct trpt_run_notify *n)
{
	size_t i;

	for (i = 0; i < n->nmail_to; i++)
		free(n->mail_to[i]);
	n->nmail_to = 0;
	free(n->hooks);
	n->hooks = NULL;
	n->nhooks = 0;
}

/* Reads the settings into n (strings of webhooks borrowed from cfg). */
static int
read_conf(struct trpt_cli *cli, struct trpt_run_notify *n)
{
	const struct trpt_config_section *sec;
	struct trpt_conf_notify nc;
	struct trpt_conf_summary sc;
	struct trpt_conf_webhook wc;
	struct trpt_err err;
	size_t i, k;
	int rc;

	n->summary_at = -1;
	if ((rc = trpt_cmd_alerts_config(cli, &n->ac)) != TRPT_EXIT_OK)
		return rc;
	trpt_check_config_init(&n->cc);
	if (trpt_cmd_check_config(cli, &n->cc, &err) != TRPT_OK ||
	    trpt_config_read(cli->cfg, NULL, "notify", &nc, sizeof(nc), &err) !=
		TRPT_OK ||
	    trpt_config_read(
		cli->cfg, NULL, "summary", &sc, sizeof(sc), &err) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	n->interval = nc.interval;
	n->recheck = nc.recheck;
	sec = trpt_config_find(cli->cfg, "notify", "");
	for (i = 0; i < nc.mail_to.n; i++)
		if ((rc = add_mail_to(n, cli, sec,
			 trpt_config_list_at(&nc.mail_to, i))) != TRPT_EXIT_OK)
			return rc;
	if (n->nmail_to > 0 && (sc.smtp_url == NULL || sc.from == NULL))
		return bad(cli, sec, "mail_to",
		    "mail goes through the relay of [summary]: set smtp_url "
		    "and from there");
	if (sc.send_at != NULL) {
		sec = trpt_config_find(cli->cfg, "summary", "");
		if (parse_send_at(sc.send_at, &n->summary_at) != 0)
			return bad(cli, sec, "send_at",
			    "expected a weekday and a UTC time, e.g. Mon "
			    "07:00");
		if (sc.smtp_url == NULL || sc.to.n == 0 || sc.from == NULL)
			return bad(
			    cli, sec, "send_at", "needs smtp_url, from and to");
	}
	for (i = k = 0; i < trpt_config_count(cli->cfg); i++)
		k += strcmp(trpt_config_at(cli->cfg, i)->type, "webhook") == 0;
	if (k > 0 && (n->hooks = calloc(k, sizeof(*n->hooks))) == NULL) {
		trpt_cli_warn("out of memory");
		return TRPT_EXIT_FATAL;
	}
	for (i = 0; i < trpt_config_count(cli->cfg); i++) {
		struct hook *h;

		sec = trpt_config_at(cli->cfg, i);
		if (strcmp(sec->type, "webhook") != 0)
			continue;
		if (trpt_config_read(cli->cfg, sec, "webhook", &wc, sizeof(wc),
			&err) != TRPT_OK) {
			trpt_cli_warn("%s", err.msg);
			return TRPT_EXIT_USAGE;
		}
		if (strncmp(wc.url, "https://", 8) != 0)
			return bad(
			    cli, sec, "url", "an https:// URL is needed");
		h = &n->hooks[n->nhooks++];
		snprintf(
		    h->channel, sizeof(h->channel), "webhook:%s", sec->name);
		h->w.url = wc.url;
		h->w.ca_file = wc.ca_file;
		h->w.timeout = (long)wc.timeout;
		h->fmt = (enum trpt_webhook_format)wc.format;
	}
	return TRPT_EXIT_OK;
}

int
trpt_run_notify_check(struct trpt_cli *cli)
{
	struct trpt_run_notify n;
	int rc;

	memset(&n, 0, sizeof(n));
	rc = read_conf(cli, &n);
	conf_clear(&n);
	return rc;
}

/* ---- evaluation ----------------------------------------------------- */

struct job {
	char key[TRPT_INCIDENT_KEY];
	const char *event;   /* "open", "close" */
	const char *channel; /* "log", "mail", "webhook:NAME" */
	const struct hook *hook;
	const struct trpt_incident *inc; /* NULL: no longer detected */
	char *gone_summary;              /* the open's, when inc is NULL */
};

struct jobs {
	struct job *v;
	size_t n, cap;
};

static int
push(struct jobs *j, const char *key, const char *event, const char *channel,
    const struct hook *hook, const struct trpt_incident *inc,
    const char *gone_summary)
{
	struct job *nv;

	if (j->n == j->cap) {
		size_t ncap = j->cap ? j->cap * 2 : 16;

		if ((nv = realloc(j->v, ncap * sizeof(*nv))) == NULL)
			return TRPT_ENOMEM;
		j->v = nv;
		j->cap = ncap;
	}
	memset(&j->v[j->n], 0, sizeof(j->v[j->n]));
	snprintf(j->v[j->n].key, sizeof(j->v[j->n].key), "%s", key);
	j->v[j->n].event = event;
	j->v[j->n].channel = channel;
	j->v[j->n].hook = hook;
	j->v[j->n].inc = inc;
	if (gone_summary != NULL &&
	    (j->v[j->n].gone_summary = strdup(gone_summary)) == NULL)
		return TRPT_ENOMEM;
	j->n++;
	return TRPT_OK;
}

static void
jobs_free(struct jobs *j)
{
	size_t i;

	for (i = 0; i < j->n; i++)
		free(j->v[i].gone_summary);
	free(j->v);
	memset(j, 0, sizeof(*j));
}

struct gone_ctx {
	struct jobs *jobs;
	const struct trpt_incident *inc;
	size_t ninc;
	const char *channel;
	const struct hook *hook;
};

static int
gone(void *arg, const char *key, const char *summary)
{
	struct gone_ctx *g = arg;
	size_t i;

	for (i = 0; i < g->ninc; i++)
		if (strcmp(g->inc[i].key, key) == 0)
			return TRPT_OK; /* still detected: handled above */
	return push(g->jobs, key, "close", g->channel, g->hook, NULL, summary);
}

/* The jobs of one channel (under the database lock). */
static int
plan_channel(struct trpt_run_notify *n, const struct trpt_incident *inc,
    size_t ninc, const char *channel, const struct hook *hook,
    struct jobs *jobs, struct trpt_err *err)
{
	struct gone_ctx g;
	size_t i;
	int rc, opened, closed;

	for (i = 0; i < ninc; i++) {
		if ((rc = trpt_notify_state_sent(n->db, inc[i].key, "open",
			 channel, &opened, err)) != TRPT_OK)
			return rc;
		if (inc[i].open && !opened)
			rc = push(jobs, inc[i].key, "open", channel, hook,
			    &inc[i], NULL);
		else if (!inc[i].open && opened) {
			if ((rc = trpt_notify_state_sent(n->db, inc[i].key,
				 "close", channel, &closed, err)) != TRPT_OK)
				return rc;
			if (!closed)
				rc = push(jobs, inc[i].key, "close", channel,
				    hook, &inc[i], NULL);
		}
		if (rc != TRPT_OK)
			return trpt_err_set(err, rc, "out of memory");
	}
	g.jobs = jobs;
	g.inc = inc;
	g.ninc = ninc;
	g.channel = channel;
	g.hook = hook;
	return trpt_notify_state_unclosed(n->db, channel, gone, &g, err);
}

/* Sends one job; TRPT_OK once the channel accepted it. */
static int
send_job(struct trpt_run_notify *n, const struct job *jb, const char *summary,
    const char *text, struct trpt_err *err)
{
	char *json = NULL;
	int rc;

	if (strcmp(jb->channel, "log") == 0) {
		trpt_journal(strcmp(jb->event, "open") == 0 ? TRPT_LOG_WARNING
							    : TRPT_LOG_NOTICE,
		    "alert %s", summary);
		return TRPT_OK;
	}
	if (strcmp(jb->channel, "mail") == 0)
		return trpt_cmd_summary_mail_text(n->cli,
		    (const char *const *)n->mail_to, n->nmail_to, summary, text,
		    err);
	if ((rc = trpt_notify_webhook_body(jb->hook->fmt, jb->event, jb->key,
		 summary, text, jb->inc, &json, err)) != TRPT_OK)
		return rc;
	rc = trpt_notify_webhook_post(&jb->hook->w, json, err);
	free(json);
	return rc;
}

/* The live check of an opened incident's domains, stored as evidence. */
static void
recheck(struct trpt_run_notify *n, const struct trpt_incident *inc)
{
	struct trpt_recheck_lock lk;
	struct trpt_err err;
	size_t checked = 0;
	int rc;

	lk.lock = n->lk.lock;
	lk.unlock = n->lk.unlock;
	lk.arg = n->lk.arg;
	/* The main view names the domain (its sender-wide views would check
	 * the same one again). */
	rc = trpt_recheck_alert(n->db, &lk, &n->cc, inc->alert, &checked, &err);
	if (rc != TRPT_OK)
		trpt_journal(TRPT_LOG_WARNING, "alert %s: live check: %s",
		    inc->key, err.msg);
	else if (checked > 0)
		trpt_journal(TRPT_LOG_INFO,
		    "alert %s: live check of %zu domain%s stored", inc->key,
		    checked, checked == 1 ? "" : "s");
}

/*
 * One evaluation: detect (under the lock), send (without it), record
 * (under it).  Returns 1 when something failed and should be retried.
 */
static int
evaluate(struct trpt_run_notify *n)
{
	struct trpt_alerts *alerts = NULL;
	struct trpt_incident *inc = NULL;
	struct jobs jobs;
	struct trpt_err err;
	int64_t today = (int64_t)time(NULL) / 86400;
	size_t ninc = 0, i, nsent = 0, nopen = 0;
	char *summary = NULL, *text = NULL;
	int rc, retry = 0;

	memset(&jobs, 0, sizeof(jobs));
	n->lk.lock(n->lk.arg);
	rc = trpt_alert_detect(
	    n->db, &n->ac, today - HISTORY_DAYS, today, &alerts, &err);
	if (rc == TRPT_OK)
		rc = trpt_notify_incidents(alerts, &inc, &ninc, &err);
	if (rc == TRPT_OK)
		rc = plan_channel(n, inc, ninc, "log", NULL, &jobs, &err);
	if (rc == TRPT_OK && n->nmail_to > 0)
		rc = plan_channel(n, inc, ninc, "mail", NULL, &jobs, &err);
	for (i = 0; rc == TRPT_OK && i < n->nhooks; i++)
		rc = plan_channel(n, inc, ninc, n->hooks[i].channel,
		    &n->hooks[i], &jobs, &err);
	n->lk.unlock(n->lk.arg);
	if (rc != TRPT_OK) {
		trpt_journal(TRPT_LOG_ERR, "alerts: %s; trying again in %d s",
		    err.msg, RETRY_SECONDS);
		retry = 1;
		goto out;
	}
	for (i = 0; i < jobs.n; i++) {
		const struct job *jb = &jobs.v[i];

		if (jb->inc != NULL)
			rc = trpt_notify_render(
			    jb->inc, jb->event, &summary, &text, &err);
		else
			rc = trpt_notify_render_gone(
			    jb->gone_summary, &summary, &text, &err);
		if (rc == TRPT_OK)
			rc = send_job(n, jb, summary, text, &err);
		if (rc == TRPT_OK) {
			n->lk.lock(n->lk.arg);
			rc = trpt_notify_state_record(n->db, jb->key, jb->event,
			    jb->channel,
			    jb->inc != NULL ? summary : jb->gone_summary, &err);
			n->lk.unlock(n->lk.arg);
		}
		if (rc == TRPT_OK && strcmp(jb->channel, "log") != 0)
			trpt_journal(TRPT_LOG_INFO, "alert %s: sent to %s",
			    summary, jb->channel);
		else if (rc != TRPT_OK) {
			trpt_journal(TRPT_LOG_ERR,
			    "alert %s: %s: %s; trying again in %d s", jb->key,
			    jb->channel, err.msg, RETRY_SECONDS);
			retry = 1;
		}
		free(summary);
		free(text);
		summary = text = NULL;
		if (rc == TRPT_OK)
			nsent++;
	}
	/* Then the live check of what the new incidents name, as their
	 * evidence (the network without the lock; writes under it). */
	for (i = 0; n->recheck && i < jobs.n; i++)
		if (jobs.v[i].inc != NULL &&
		    strcmp(jobs.v[i].channel, "log") == 0 &&
		    strcmp(jobs.v[i].event, "open") == 0)
			recheck(n, jobs.v[i].inc);
	for (i = 0; i < ninc; i++)
		nopen += inc[i].open != 0;
	trpt_journal(TRPT_LOG_DEBUG,
	    "alerts: evaluated, %zu incidents (%zu open), %zu notifications "
	    "sent",
	    ninc, nopen, nsent);
out:
	jobs_free(&jobs);
	free(inc);
	trpt_alert_free(&alerts);
	return retry;
}

/* The weekly summary, once per slot.  Returns 1 to retry. */
static int
summary_due(struct trpt_run_notify *n, time_t now, time_t *next)
{
	int64_t today = (int64_t)now / 86400, monday, slot, last_monday;
	char key[64], *msg = NULL;
	struct trpt_err err;
	size_t len = 0;
	int sent = 0, rc;

	if (n->summary_at < 0)
		return 0;
	monday = trpt_trend_period_start(
	    TRPT_PERIOD_WEEK, trpt_trend_period_of(TRPT_PERIOD_WEEK, today));
	slot = monday * 86400 + (int64_t)n->summary_at * 60;
	if ((int64_t)now < slot) {
		/* Not yet this week: wake at the slot. */
		if (slot < (int64_t)*next)
			*next = (time_t)slot;
		slot -= 7 * 86400;
		monday -= 7;
	} else if (slot + 7 * 86400 < (int64_t)*next)
		*next = (time_t)(slot + 7 * 86400);
	/* The week the slot reports on: the one before the slot's week. */
	last_monday = monday - 7;
	memcpy(key, "summary/", 8);
	trpt_trend_period_label(TRPT_PERIOD_WEEK,
	    trpt_trend_period_of(TRPT_PERIOD_WEEK, last_monday), key + 8,
	    sizeof(key) - 8);
	n->lk.lock(n->lk.arg);
	rc = trpt_notify_state_sent(n->db, key, "sent", "mail", &sent, &err);
	if (rc == TRPT_OK && !sent)
		rc = trpt_cmd_summary_build_week(
		    n->cli, n->db, last_monday, &msg, &len, &err);
	n->lk.unlock(n->lk.arg);
	if (rc == TRPT_OK && !sent) {
		rc = trpt_cmd_summary_send_built(n->cli, msg, len, &err);
		if (rc == TRPT_OK) {
			n->lk.lock(n->lk.arg);
			rc = trpt_notify_state_record(
			    n->db, key, "sent", "mail", key, &err);
			n->lk.unlock(n->lk.arg);
		}
		if (rc == TRPT_OK)
			trpt_journal(
			    TRPT_LOG_INFO, "weekly summary %s sent", key + 8);
	}
	free(msg);
	if (rc != TRPT_OK) {
		trpt_journal(TRPT_LOG_ERR,
		    "weekly summary: %s; trying again in "
		    "%d s",
		    err.msg, RETRY_SECONDS);
		return 1;
	}
	return 0;
}

static void *
scheduler(void *arg)
{
	struct trpt_run_notify *n = arg;
	struct timespec until;
	time_t now, next;
	int retry;

	pthread_mutex_lock(&n->m);
	while (!n->stop) {
		if (n->dirty) {
			/* Let a burst of reports settle first. */
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += DEBOUNCE_MS * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			while (!n->stop && pthread_cond_timedwait(&n->c, &n->m,
					       &until) != ETIMEDOUT)
				;
			if (n->stop)
				break;
		}
		n->dirty = 0;
		pthread_mutex_unlock(&n->m);
		now = time(NULL);
		next = now + (time_t)n->interval;
		retry = evaluate(n);
		retry |= summary_due(n, now, &next);
		if (retry && next > now + RETRY_SECONDS)
			next = now + RETRY_SECONDS;
		pthread_mutex_lock(&n->m);
		until.tv_sec = next;
		until.tv_nsec = 0;
		while (
		    !n->stop && !n->dirty &&
		    pthread_cond_timedwait(&n->c, &n->m, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&n->m);
	return NULL;
}

int
trpt_run_notify_new(struct trpt_cli *cli, struct trpt_db *db,
    const struct trpt_run_notify_lock *lk, struct trpt_run_notify **out)
{
	struct trpt_run_notify *n;
	int rc;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		trpt_cli_warn("out of memory");
		return TRPT_EXIT_FATAL;
	}
	n->cli = cli;
	n->db = db;
	n->lk = *lk;
	if ((rc = read_conf(cli, n)) != TRPT_EXIT_OK) {
		conf_clear(n);
		free(n);
		return rc;
	}
	pthread_mutex_init(&n->m, NULL);
	pthread_cond_init(&n->c, NULL);
	n->dirty = 0;
	if (pthread_create(&n->tid, NULL, scheduler, n) != 0) {
		trpt_cli_warn("cannot start the scheduler thread");
		pthread_mutex_destroy(&n->m);
		pthread_cond_destroy(&n->c);
		conf_clear(n);
		free(n);
		return TRPT_EXIT_FATAL;
	}
	n->started = 1;
	trpt_journal(TRPT_LOG_NOTICE,
	    "alerts: evaluated after new data and every %u s; %zu mail "
	    "recipient%s, %zu webhook%s%s",
	    n->interval, n->nmail_to, n->nmail_to == 1 ? "" : "s", n->nhooks,
	    n->nhooks == 1 ? "" : "s",
	    n->summary_at >= 0 ? "; weekly summary scheduled" : "");
	*out = n;
	return TRPT_EXIT_OK;
}

void
trpt_run_notify_poke(struct trpt_run_notify *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->m);
	n->dirty = 1;
	pthread_cond_signal(&n->c);
	pthread_mutex_unlock(&n->m);
}

void
trpt_run_notify_free(struct trpt_run_notify **np)
{
	struct trpt_run_notify *n;

	if (np == NULL || *np == NULL)
		return;
	n = *np;
	if (n->started) {
		pthread_mutex_lock(&n->m);
		n->stop = 1;
		pthread_cond_signal(&n->c);
		pthread_mutex_unlock(&n->m);
		pthread_join(n->tid, NULL);
		pthread_mutex_destroy(&n->m);
		pthread_cond_destroy(&n->c);
	}
	conf_clear(n);
	free(n);
	*np = NULL;
}
