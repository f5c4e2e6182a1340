#pragma once
/* The stats command: what the database holds, per sender and domain. */

#include "collector/cli.h"

int trpt_cmd_stats_run(struct trpt_cli *cli, int argc, char **argv);
