#pragma once
/*
 * [https "NAME"] sections: configuration to struct trpt_pull_source, and
 * one run of the source through the pipeline (for the fetch command).
 *
 *   url = https://reports.example.net/tlsrpt/index.json
 *   bearer_token_file = /etc/tlsrpt-collector/hosted.token
 *   ca_file = /etc/ssl/private-ca.pem
 *   connect_timeout = 10   (seconds)
 *   timeout = 60           (seconds for one transfer)
 *   retries = 3            (after network errors, 429 and 5xx)
 *   retry_delay = 1000     (milliseconds, doubled each retry)
 *   max_size = 25M         (one resource; default max_message)
 *   max_entries = 10000    (URLs in one index)
 */

#include "collector/cli.h"
#include "collector/config.h"
#include "ingest/pipeline.h"
#include "ingest/pull.h"

/*
 * Fills *src from sec; *token_take receives the bearer token read from
 * bearer_token_file (or NULL), which the caller wipes and frees.  Fails
 * with TRPT_EINVAL naming the file, line and key.
 */
int trpt_fetch_https_conf(const struct trpt_cli *cli,
    const struct trpt_config_section *sec, struct trpt_pull_source *src,
    char **token_take, struct trpt_err *err);

/* Checks the section without any network access; an enum trpt_exit. */
int trpt_fetch_https_check(
    struct trpt_cli *cli, const struct trpt_config_section *sec);

/*
 * Runs the source in sec once through p.  Prints one line per URL that
 * failed (with -v also each URL fetched or unchanged).  Returns an enum
 * trpt_exit: OK, USAGE for a configuration error, FATAL when a URL could
 * not be fetched or the database failed.
 */
int trpt_fetch_https_run(struct trpt_cli *cli,
    const struct trpt_config_section *sec, struct trpt_pipeline *p);
