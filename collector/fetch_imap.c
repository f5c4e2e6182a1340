#include "collector/fetch_imap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/datetime.h"

static int
bad(const struct trpt_config *cfg, const struct trpt_config_section *sec,
    const char *key, const char *why, struct trpt_err *err)
{
	size_t i;
	int line = sec->line;

	for (i = 0; i < sec->nkeys; i++)
		if (strcmp(sec->keys[i], key) == 0)
			line = sec->lines[i];
	return trpt_err_set(err, TRPT_EINVAL,
	    "config %s: line %d: [imap \"%s\"] %s: %s", trpt_config_path(cfg),
	    line, sec->name, key, why);
}

void
trpt_fetch_imap_conf_clear(struct trpt_fetch_imap_owned *owned)
{
	if (owned->password != NULL) {
		explicit_bzero(owned->password, strlen(owned->password));
		free(owned->password);
	}
	free(owned->mailboxes);
	memset(owned, 0, sizeof(*owned));
}

int
trpt_fetch_imap_conf(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, struct trpt_imap_conf *conf,
    struct trpt_fetch_imap_owned *owned, struct trpt_err *err)
{
	struct trpt_conf_imap m;
	const char *v;
	size_t i;
	int rc;

	memset(conf, 0, sizeof(*conf));
	memset(owned, 0, sizeof(*owned));
	if ((rc = trpt_config_read(cfg, sec, "imap", &m, sizeof(m), err)) !=
	    TRPT_OK)
		goto out;
	conf->name = sec->name;
	conf->host = m.host;
	conf->security = (enum trpt_imap_security)m.security;
	conf->port = (uint16_t)(m.port != 0                       ? m.port
				: conf->security == TRPT_IMAP_TLS ? 993
								  : 143);
	conf->ca_file = m.ca_file;
	conf->username = m.username;
	if (m.password_file != NULL) {
		if ((rc = trpt_config_read_secret_file(
			 m.password_file, &owned->password, err)) != TRPT_OK) {
			trpt_err_prefix(
			    err, "[imap \"%s\"] password_file", sec->name);
			if (rc != TRPT_ENOMEM)
				rc = TRPT_EINVAL;
			goto out;
		}
	} else {
		v = getenv(m.password_env);
		if (v == NULL) {
			rc = bad(cfg, sec, "password_env",
			    "the environment variable is not set", err);
			goto out;
		}
		if ((owned->password = strdup(v)) == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
	}
	conf->password = owned->password;
	if (m.mailboxes.n > 0) {
		owned->mailboxes =
		    calloc(m.mailboxes.n, sizeof(*owned->mailboxes));
		if (owned->mailboxes == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < m.mailboxes.n; i++)
			owned->mailboxes[i] =
			    trpt_config_list_at(&m.mailboxes, i);
		conf->mailboxes = owned->mailboxes;
		conf->nmailboxes = m.mailboxes.n;
	}
	conf->read_only = m.read_only;
	conf->after = (enum trpt_imap_after)m.after_action;
	conf->after_folder = m.after_folder;
	conf->since = m.since_time;
	conf->connect_timeout = m.connect_timeout;
	conf->timeout = m.timeout;
	conf->batch = m.batch;
	conf->deadline = m.deadline;
	rc = trpt_imap_conf_check(conf, err);
out:
	if (rc != TRPT_OK)
		trpt_fetch_imap_conf_clear(owned);
	return rc;
}

struct progress {
	int tty;
	int shown;
	struct timespec last;
};

static void
on_progress(void *arg, const struct trpt_imap_progress *pr)
{
	struct progress *pg = arg;
	struct timespec now;
	int64_t ms;

	if (!pg->tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - pg->last.tv_sec) * 1000 +
	     (now.tv_nsec - pg->last.tv_nsec) / 1000000;
	if (pg->shown && ms < 200 && pr->done < pr->total)
		return;
	pg->last = now;
	pg->shown = 1;
	fprintf(stderr,
	    "\r\033[K%s/%s: %" PRIu64 " of %" PRIu64 " messages, %" PRIu64
	    " reports stored",
	    pr->source, pr->mailbox, pr->done, pr->total, pr->pipeline->stored);
	fflush(stderr);
}

int
trpt_fetch_imap_check(
    struct trpt_cli *cli, const struct trpt_config_section *sec)
{
	struct trpt_imap_conf conf;
	struct trpt_fetch_imap_owned owned;
	struct trpt_err err;

	if (trpt_fetch_imap_conf(cli->cfg, sec, &conf, &owned, &err) !=
	    TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return err.code == TRPT_ENOMEM ? TRPT_EXIT_FATAL
					       : TRPT_EXIT_USAGE;
	}
	trpt_fetch_imap_conf_clear(&owned);
	return TRPT_EXIT_OK;
}

int
trpt_fetch_imap_run(struct trpt_cli *cli, const struct trpt_config_section *sec,
    struct trpt_pipeline *p)
{
	struct trpt_imap_conf conf;
	struct trpt_fetch_imap_owned owned;
	struct trpt_imap_stats stats;
	struct trpt_imap_sync_hooks hooks;
	struct progress pg;
	struct trpt_err err;
	int rc;

	if (trpt_fetch_imap_conf(cli->cfg, sec, &conf, &owned, &err) !=
	    TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return err.code == TRPT_ENOMEM ? TRPT_EXIT_FATAL
					       : TRPT_EXIT_USAGE;
	}
	memset(&stats, 0, sizeof(stats));
	memset(&pg, 0, sizeof(pg));
	pg.tty = cli->verbose >= 0 && isatty(STDERR_FILENO);
	memset(&hooks, 0, sizeof(hooks));
	hooks.progress = on_progress;
	hooks.arg = &pg;
	rc = trpt_imap_sync_run(&conf, p, &hooks, &stats, &err);
	if (pg.shown)
		fputs("\r\033[K", stderr);
	trpt_fetch_imap_conf_clear(&owned);
	if (rc != TRPT_OK) {
		trpt_cli_warn("fetch %s", err.msg);
		return TRPT_EXIT_FATAL;
	}
	if (stats.busy) {
		char until[40];

		/* Not a failure: the other fetcher is doing the work. */
		trpt_datetime_format(stats.busy_until, until, sizeof(until));
		trpt_cli_warn("fetch %s: source is busy: another fetcher (%s) "
			      "holds it until %s; skipped",
		    conf.name, stats.busy_holder, until);
		return TRPT_EXIT_OK;
	}
	if (cli->verbose > 0)
		fprintf(stderr,
		    "%s: %" PRIu64 " messages, %" PRIu64
		    " older than since, %" PRIu64 " oversized, %" PRIu64
		    " acted on, %" PRIu64 " rescans\n",
		    conf.name, stats.messages, stats.too_old, stats.oversized,
		    stats.acted, stats.rescans);
	return TRPT_EXIT_OK;
}
