#pragma once
/*
 * The run command: one long-running process doing what the configuration
 * asks, for systemd (or any supervisor): the HTTPS receiver of [serve],
 * every [imap] source (IMAP IDLE where the server offers it, else polling
 * every interval seconds) and every [https] pull source at its interval,
 * all writing through one database connection.
 */

#include "collector/cli.h"

int trpt_cmd_run_run(struct trpt_cli *cli, int argc, char **argv);
