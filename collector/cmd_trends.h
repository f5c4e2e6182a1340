#pragma once
/* The trends command. */

#include "collector/cli.h"

int trpt_cmd_trends_run(struct trpt_cli *cli, int argc, char **argv);
