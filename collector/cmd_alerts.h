#pragma once
/* The alerts command. */

#include "collector/cli.h"
#include "report/alert.h"

/* Days without any report before a collection alert ([alerts]
 * collection_days; 0 turns it off). */
#define TRPT_CMD_ALERTS_COLLECTION_DAYS 3

int trpt_cmd_alerts_run(struct trpt_cli *cli, int argc, char **argv);

/*
 * The alert settings: the defaults, then [alerts].  Prints one line and
 * returns TRPT_EXIT_USAGE on a bad key or value.  For alerts and run.
 */
int trpt_cmd_alerts_config(
    const struct trpt_cli *cli, struct trpt_alert_config *ac);
