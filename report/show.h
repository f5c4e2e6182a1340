#pragma once
/*
 * One stored report as a person looks at it (`report show ID`): what it
 * says, where it came from, and how it was authenticated (the DKIM verdict
 * of its mail, or the HTTPS client), read by schema/report_detail.h.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "schema/report_detail.h"

/*
 * Writes s as text, one "name  value" line each, then the policies and
 * warnings; control characters are escaped (\xNN).  TRPT_EIO when out
 * cannot be written.
 */
int trpt_show_print(
    const struct trpt_report_detail *s, FILE *out, struct trpt_err *err);
