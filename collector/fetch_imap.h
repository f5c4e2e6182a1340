#pragma once
/*
 * [imap "NAME"] sections: configuration to struct trpt_imap_conf, and one
 * run of the source through the pipeline (for the fetch command).
 */

#include "collector/cli.h"
#include "collector/config.h"
#include "ingest/imap.h"
#include "ingest/imap_sync.h"
#include "ingest/pipeline.h"

/*
 * Fills *conf from sec.  Strings in conf point into sec or into *owned,
 * an array the caller frees with trpt_fetch_imap_conf_clear (it holds the
 * password, which is wiped).  Fails with TRPT_EINVAL naming the file,
 * line and key, or the source.
 */
struct trpt_fetch_imap_owned {
	char *password;
	const char **mailboxes;
};
int trpt_fetch_imap_conf(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, struct trpt_imap_conf *conf,
    struct trpt_fetch_imap_owned *owned, struct trpt_err *err);
void trpt_fetch_imap_conf_clear(struct trpt_fetch_imap_owned *owned);

/*
 * Checks the section (keys, values, the password source) without any
 * network access.  Returns TRPT_EXIT_OK or prints a line and returns
 * TRPT_EXIT_USAGE (TRPT_EXIT_FATAL when out of memory).
 */
int trpt_fetch_imap_check(
    struct trpt_cli *cli, const struct trpt_config_section *sec);

/*
 * Runs the source in sec once through p, printing a progress line on a
 * terminal and one line on failure.  Returns an enum trpt_exit: OK, USAGE
 * for a configuration error, FATAL for anything that stopped the run.
 */
int trpt_fetch_imap_run(struct trpt_cli *cli,
    const struct trpt_config_section *sec, struct trpt_pipeline *p);
