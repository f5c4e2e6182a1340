#pragma once
/* The alerts command. */

#include "collector/cli.h"

int trpt_cmd_alerts_run(struct trpt_cli *cli, int argc, char **argv);
