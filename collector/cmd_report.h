#pragma once
/* The report command: "report html", the dashboard's views in one file. */

#include "collector/cli.h"

int trpt_cmd_report_run(struct trpt_cli *cli, int argc, char **argv);
