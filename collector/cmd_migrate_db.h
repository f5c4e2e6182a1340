#pragma once
/*
 * migrate-db: copies a SQLite database into an empty PostgreSQL database
 * (schema/copy.c), for operators moving to a shared database.
 */

#include "collector/cli.h"

int trpt_cmd_migrate_db_run(struct trpt_cli *cli, int argc, char **argv);
