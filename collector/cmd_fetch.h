#pragma once
/* The fetch command: run the configured mail and HTTPS sources once. */

#include "collector/cli.h"

int trpt_cmd_fetch_run(struct trpt_cli *cli, int argc, char **argv);
