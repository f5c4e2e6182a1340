#pragma once
/* The serve command: the RFC 8460 HTTPS receiving endpoint. */

#include "collector/cli.h"
#include "ingest/receiver.h"

int trpt_cmd_serve_run(struct trpt_cli *cli, int argc, char **argv);

/*
 * Reads [serve] into cfg (defaults first; strings borrowed from cli->cfg),
 * the PEM contents of tls_cert and tls_key into *cert and *key (the
 * caller frees them, wiping the key), drain_timeout into *drain and
 * busy_timeout into *busy.  Prints one line and returns TRPT_EXIT_USAGE
 * on a bad setting.  For serve and run.
 */
int trpt_cmd_serve_settings(struct trpt_cli *cli,
    struct trpt_receiver_config *cfg, unsigned *drain, unsigned *busy,
    char **cert, char **key);
