#pragma once
/* The summary command: the weekly summary e-mail. */

#include <stddef.h>
#include <stdint.h>

#include "collector/cli.h"
#include "common/err.h"
#include "schema/db.h"

int trpt_cmd_summary_run(struct trpt_cli *cli, int argc, char **argv);

/*
 * For run.  Sends a plain-text alert mail to `to` through the relay of
 * [summary] (smtp_url, from, username, password_file, starttls,
 * ca_file).
 */
int trpt_cmd_summary_mail_text(const struct trpt_cli *cli,
    const char *const *to, size_t nto, const char *subject, const char *text,
    struct trpt_err *err);

/* The summary of the ISO week starting on day monday (caller frees). */
int trpt_cmd_summary_build_week(const struct trpt_cli *cli, struct trpt_db *db,
    int64_t monday, char **msg, size_t *len, struct trpt_err *err);

/* Sends a built summary to the recipients of [summary]. */
int trpt_cmd_summary_send_built(const struct trpt_cli *cli, const char *msg,
    size_t len, struct trpt_err *err);
