#pragma once
/* The summary command: the weekly summary e-mail. */

#include "collector/cli.h"

int trpt_cmd_summary_run(struct trpt_cli *cli, int argc, char **argv);
