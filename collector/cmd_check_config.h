#pragma once
/*
 * The check-config command: the whole configuration file against the
 * tables, then what each section names (password and token files, TLS
 * key pairs), without any network access or database.
 */

#include "collector/cli.h"

int trpt_cmd_check_config_run(struct trpt_cli *cli, int argc, char **argv);
