#pragma once
/* The ingest and reprocess commands. */

#include "collector/cli.h"

int trpt_cmd_ingest_run(struct trpt_cli *cli, int argc, char **argv);
int trpt_cmd_ingest_reprocess(struct trpt_cli *cli, int argc, char **argv);

/*
 * The event printer every source command shares: one stderr line per
 * rejected input, "SOURCE[: message N][: part N]: rejected: REASON"; with
 * -v also stored, duplicate and skipped inputs.  arg is the trpt_cli.
 */
struct trpt_event;
void trpt_cmd_ingest_print_event(void *arg, const struct trpt_event *ev);
