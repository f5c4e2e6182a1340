#include "collector/fetch_https.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/text.h"

static int
bad(const struct trpt_config *cfg, const struct trpt_config_section *sec,
    const char *key, const char *why, struct trpt_err *err)
{
	return trpt_err_set(err, TRPT_EINVAL,
	    "config %s: line %d: [https \"%s\"] %s: %s", trpt_config_path(cfg),
	    sec->line, sec->name, key, why);
}

int
trpt_fetch_https_conf(const struct trpt_cli *cli,
    const struct trpt_config_section *sec, struct trpt_pull_source *src,
    char **token_take, struct trpt_err *err)
{
	const struct trpt_config *cfg = cli->cfg;
	struct trpt_conf_https h;
	char *token = NULL;
	int rc;

	if ((rc = trpt_config_read(cfg, sec, "https", &h, sizeof(h), err)) !=
	    TRPT_OK)
		return rc;
	trpt_pull_source_default(src, &cli->limits);
	src->name = sec->name;
	src->url = h.url;
	src->ca_file = h.ca_file;
	src->connect_timeout = h.connect_timeout;
	src->timeout = h.timeout;
	src->retries = h.retries;
	src->retry_delay_ms = h.retry_delay;
	if (h.max_size > 0)
		src->max_body = h.max_size;
	src->max_entries = h.max_entries;
	if (h.bearer_token_file != NULL) {
		rc = trpt_config_read_secret_file(
		    h.bearer_token_file, &token, err);
		if (rc != TRPT_OK) {
			trpt_err_prefix(
			    err, "[https \"%s\"] bearer_token_file", sec->name);
			return rc;
		}
		if (token[0] == '\0') {
			free(token);
			return bad(
			    cfg, sec, "bearer_token_file", "empty file", err);
		}
	}
	src->bearer_token = token;
	*token_take = token;
	return TRPT_OK;
}

static void
wipe(char **token)
{
	if (*token != NULL) {
		explicit_bzero(*token, strlen(*token));
		free(*token);
		*token = NULL;
	}
}

int
trpt_fetch_https_check(
    struct trpt_cli *cli, const struct trpt_config_section *sec)
{
	struct trpt_pull_source src;
	struct trpt_err err;
	char *token = NULL;

	if (trpt_fetch_https_conf(cli, sec, &src, &token, &err) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return err.code == TRPT_ENOMEM ? TRPT_EXIT_FATAL
					       : TRPT_EXIT_USAGE;
	}
	wipe(&token);
	return TRPT_EXIT_OK;
}

struct printer {
	const struct trpt_cli *cli;
	char first[TRPT_ERR_MSG_LEN]; /* the first failure printed */
};

static void
on_fetch(void *arg, const struct trpt_pull_event *ev)
{
	struct printer *pr = arg;
	const struct trpt_cli *cli = pr->cli;
	char url[1024];

	/* An index names the URLs: escaped, credentials hidden. */
	trpt_text_message(ev->url, url, sizeof(url));

	switch (ev->result) {
	case TRPT_PULL_FAILED:
		trpt_cli_warn("fetch %s: %s", ev->source, ev->reason);
		if (pr->first[0] == '\0')
			snprintf(
			    pr->first, sizeof(pr->first), "%s", ev->reason);
		break;
	case TRPT_PULL_INDEX:
		if (cli->verbose > 0)
			fprintf(stderr, "%s: %s: index of %zu entries\n",
			    ev->source, url, ev->entries);
		break;
	case TRPT_PULL_FETCHED:
		if (cli->verbose > 0)
			fprintf(stderr, "%s: %s: fetched\n", ev->source, url);
		break;
	case TRPT_PULL_NOT_MODIFIED:
		if (cli->verbose > 0)
			fprintf(
			    stderr, "%s: %s: not modified\n", ev->source, url);
		break;
	}
}

int
trpt_fetch_https_run(struct trpt_cli *cli,
    const struct trpt_config_section *sec, struct trpt_pipeline *p)
{
	struct trpt_pull_source src;
	struct trpt_pull_stats stats;
	struct printer pr;
	struct trpt_err err;
	char *token = NULL;
	int rc;

	if (trpt_fetch_https_conf(cli, sec, &src, &token, &err) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return err.code == TRPT_ENOMEM ? TRPT_EXIT_FATAL
					       : TRPT_EXIT_USAGE;
	}
	memset(&stats, 0, sizeof(stats));
	pr.cli = cli;
	pr.first[0] = '\0';
	rc = trpt_pull_run(&src, p, on_fetch, &pr, &stats, &err);
	wipe(&token);
	if (cli->verbose > 0)
		fprintf(stderr,
		    "%s: %" PRIu64 " fetched, %" PRIu64
		    " not modified, %" PRIu64 " indexes, %" PRIu64 " failed\n",
		    sec->name, stats.fetched, stats.not_modified, stats.indexes,
		    stats.failed);
	if (rc == TRPT_OK)
		return TRPT_EXIT_OK;
	/* Per-URL failures were printed as they happened. */
	if (strcmp(err.msg, pr.first) != 0)
		trpt_cli_warn("fetch %s: %s", sec->name, err.msg);
	return rc == TRPT_EINVAL ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
}
