#include "collector/fetch_imap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/datetime.h"

const char *const trpt_fetch_imap_keys[] = { "host", "port", "security",
	"ca_file", "username", "password_file", "password_env", "mailbox",
	"read_only", "after", "since", "connect_timeout", "timeout", "batch",
	"deadline", "idle", "interval", NULL };

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

static int
get_timeout(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *key, unsigned *out,
    struct trpt_err *err)
{
	uint64_t v = *out;
	int rc;

	if ((rc = trpt_config_get_uint(cfg, sec, key, 3600, &v, err)) !=
	    TRPT_OK)
		return rc;
	if (v == 0)
		return bad(cfg, sec, key, "must be 1 to 3600 seconds", err);
	*out = (unsigned)v;
	return TRPT_OK;
}

void
trpt_fetch_imap_conf_clear(struct trpt_fetch_imap_owned *owned)
{
	if (owned->password != NULL) {
		explicit_bzero(owned->password, strlen(owned->password));
		free(owned->password);
	}
	free(owned->mailboxes);
	free(owned->after_folder);
	memset(owned, 0, sizeof(*owned));
}

int
trpt_fetch_imap_conf(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, struct trpt_imap_conf *conf,
    struct trpt_fetch_imap_owned *owned, struct trpt_err *err)
{
	const char *v, *pwfile, *pwenv;
	uint64_t port = 0, batch = 100, deadline;
	size_t n, i;
	int rc;

	memset(conf, 0, sizeof(*conf));
	memset(owned, 0, sizeof(*owned));
	conf->name = sec->name;
	conf->read_only = 1;
	conf->connect_timeout = 30;
	conf->timeout = 60;
	if ((rc = trpt_config_check_keys(
		 cfg, sec, trpt_fetch_imap_keys, err)) != TRPT_OK)
		goto out;
	/* Only mailbox may repeat: a second host or after is a mistake. */
	for (i = 0; trpt_fetch_imap_keys[i] != NULL; i++)
		if (strcmp(trpt_fetch_imap_keys[i], "mailbox") != 0 &&
		    trpt_config_get(sec, trpt_fetch_imap_keys[i], 1) != NULL) {
			rc = bad(cfg, sec, trpt_fetch_imap_keys[i],
			    "given more than once", err);
			goto out;
		}
	if (sec->name[0] == '\0') {
		rc = trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: [imap] needs a name: [imap \"NAME\"]",
		    trpt_config_path(cfg), sec->line);
		goto out;
	}
	conf->host = trpt_config_get(sec, "host", 0);
	if (conf->host == NULL || conf->host[0] == '\0') {
		rc = bad(cfg, sec, "host", "missing", err);
		goto out;
	}
	v = trpt_config_get(sec, "security", 0);
	if (v == NULL || strcmp(v, "tls") == 0)
		conf->security = TRPT_IMAP_TLS;
	else if (strcmp(v, "starttls") == 0)
		conf->security = TRPT_IMAP_STARTTLS;
	else if (strcmp(v, "none") == 0)
		conf->security = TRPT_IMAP_NONE;
	else {
		rc = bad(cfg, sec, "security", "expected tls, starttls or none",
		    err);
		goto out;
	}
	if ((rc = trpt_config_get_uint(cfg, sec, "port", 65535, &port, err)) !=
	    TRPT_OK)
		goto out;
	if (trpt_config_get(sec, "port", 0) != NULL && port == 0) {
		rc = bad(cfg, sec, "port", "must be 1 to 65535", err);
		goto out;
	}
	if (port == 0)
		port = conf->security == TRPT_IMAP_TLS ? 993 : 143;
	conf->port = (uint16_t)port;
	conf->ca_file = trpt_config_get(sec, "ca_file", 0);
	conf->username = trpt_config_get(sec, "username", 0);
	if (conf->username == NULL || conf->username[0] == '\0') {
		rc = bad(cfg, sec, "username", "missing", err);
		goto out;
	}
	pwfile = trpt_config_get(sec, "password_file", 0);
	pwenv = trpt_config_get(sec, "password_env", 0);
	if ((pwfile == NULL) == (pwenv == NULL)) {
		rc = bad(cfg, sec, "password_file",
		    "give exactly one of password_file and password_env", err);
		goto out;
	}
	if (pwfile != NULL) {
		if ((rc = trpt_config_read_secret_file(
			 pwfile, &owned->password, err)) != TRPT_OK) {
			trpt_err_prefix(
			    err, "[imap \"%s\"] password_file", sec->name);
			if (rc != TRPT_ENOMEM)
				rc = TRPT_EINVAL;
			goto out;
		}
	} else {
		v = getenv(pwenv);
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
	for (n = 0; trpt_config_get(sec, "mailbox", n) != NULL; n++)
		;
	if (n > 0) {
		owned->mailboxes = calloc(n, sizeof(*owned->mailboxes));
		if (owned->mailboxes == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < n; i++) {
			owned->mailboxes[i] =
			    trpt_config_get(sec, "mailbox", i);
			if (owned->mailboxes[i][0] == '\0') {
				rc =
				    bad(cfg, sec, "mailbox", "empty name", err);
				goto out;
			}
		}
		conf->mailboxes = owned->mailboxes;
		conf->nmailboxes = n;
	}
	if ((rc = trpt_config_get_bool(
		 cfg, sec, "read_only", &conf->read_only, err)) != TRPT_OK)
		goto out;
	v = trpt_config_get(sec, "after", 0);
	if (v == NULL || strcmp(v, "keep") == 0)
		conf->after = TRPT_IMAP_KEEP;
	else if (strcmp(v, "seen") == 0)
		conf->after = TRPT_IMAP_SEEN;
	else if (strcmp(v, "delete") == 0)
		conf->after = TRPT_IMAP_DELETE;
	else if (strncmp(v, "move:", 5) == 0 && v[5] != '\0') {
		conf->after = TRPT_IMAP_MOVE;
		if ((owned->after_folder = strdup(v + 5)) == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
		conf->after_folder = owned->after_folder;
	} else {
		rc = bad(cfg, sec, "after",
		    "expected keep, seen, move:FOLDER or delete", err);
		goto out;
	}
	if (conf->after != TRPT_IMAP_KEEP && conf->read_only) {
		rc = bad(cfg, sec, "after",
		    "seen, move and delete change the mailbox: set "
		    "read_only = false",
		    err);
		goto out;
	}
	v = trpt_config_get(sec, "since", 0);
	if (v != NULL) {
		struct trpt_err e2;

		if (trpt_datetime_parse_user(
			v, (int64_t)time(NULL), &conf->since, &e2) != TRPT_OK) {
			rc = bad(cfg, sec, "since", e2.msg, err);
			goto out;
		}
	}
	if ((rc = get_timeout(cfg, sec, "connect_timeout",
		 &conf->connect_timeout, err)) != TRPT_OK ||
	    (rc = get_timeout(cfg, sec, "timeout", &conf->timeout, err)) !=
		TRPT_OK)
		goto out;
	if ((rc = trpt_config_get_uint(
		 cfg, sec, "batch", 10000, &batch, err)) != TRPT_OK)
		goto out;
	if (batch == 0) {
		rc = bad(cfg, sec, "batch", "must be 1 to 10000", err);
		goto out;
	}
	conf->batch = (unsigned)batch;
	deadline = TRPT_IMAP_DEADLINE;
	if ((rc = trpt_config_get_uint(
		 cfg, sec, "deadline", 86400, &deadline, err)) != TRPT_OK)
		goto out;
	if (deadline < 10) {
		rc = bad(
		    cfg, sec, "deadline", "must be 10 to 86400 seconds", err);
		goto out;
	}
	conf->deadline = (unsigned)deadline;
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
	if (cli->verbose > 0)
		fprintf(stderr,
		    "%s: %" PRIu64 " messages, %" PRIu64
		    " older than since, %" PRIu64 " oversized, %" PRIu64
		    " acted on, %" PRIu64 " rescans\n",
		    conf.name, stats.messages, stats.too_old, stats.oversized,
		    stats.acted, stats.rescans);
	return TRPT_EXIT_OK;
}
