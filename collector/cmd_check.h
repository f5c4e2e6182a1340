#pragma once
/* The check command: the live check of a mail domain (check/). */

#include "check/check.h"
#include "collector/cli.h"

int trpt_cmd_check_run(struct trpt_cli *cli, int argc, char **argv);

/*
 * Fills c from the [check] section of the configuration (strings borrowed
 * from cli->cfg).  c holds the defaults on entry.
 */
int trpt_cmd_check_config(const struct trpt_cli *cli,
    struct trpt_check_config *c, struct trpt_err *err);

/* One line per finding as "type: detail" (or "problem: detail"). */
void trpt_cmd_check_summary(
    const struct trpt_check_mx *m, char *buf, size_t size);
