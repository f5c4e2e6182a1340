#pragma once
/* The alerts command. */

#include "collector/cli.h"
#include "report/alert.h"

int trpt_cmd_alerts_run(struct trpt_cli *cli, int argc, char **argv);

/* Applies [alerts] to ac (which holds the defaults); prints the problem
 * and returns TRPT_EXIT_USAGE for a bad section. */
int trpt_cmd_alerts_config(
    const struct trpt_cli *cli, struct trpt_alert_config *ac);
