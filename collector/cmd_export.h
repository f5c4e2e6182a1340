#pragma once
/* The export command: CSV for analysts. */

#include "collector/cli.h"

int trpt_cmd_export_run(struct trpt_cli *cli, int argc, char **argv);
