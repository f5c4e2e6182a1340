#pragma once
/* The serve command: the RFC 8460 HTTPS receiving endpoint. */

#include "collector/cli.h"

int trpt_cmd_serve_run(struct trpt_cli *cli, int argc, char **argv);
