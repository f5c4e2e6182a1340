#pragma once
/*
 * Operations commands: quarantine list|show|export|drop, warnings, prune
 * and backup, so an operator can see what was refused or needed leniency
 * and keep the database small and safe without SQL.
 */

#include "collector/cli.h"

int trpt_cmd_quarantine_run(struct trpt_cli *cli, int argc, char **argv);
int trpt_cmd_warnings_run(struct trpt_cli *cli, int argc, char **argv);
int trpt_cmd_prune_run(struct trpt_cli *cli, int argc, char **argv);
int trpt_cmd_backup_run(struct trpt_cli *cli, int argc, char **argv);
