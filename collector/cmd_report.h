#pragma once
/*
 * The report command: "report html", the dashboard's views in one file;
 * "report show ID", one stored report, its origin and its DKIM verdict.
 */

#include "collector/cli.h"

int trpt_cmd_report_run(struct trpt_cli *cli, int argc, char **argv);
