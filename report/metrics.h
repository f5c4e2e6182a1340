#pragma once
/*
 * Per-domain series in the Prometheus text format, from the rollups, for
 * those who already run Grafana:
 *
 *   tlsrpt_sessions_total{policy_domain, organization, result}
 *       sessions reported, result "successful" or "failed", counted as
 *       trends counts them (a domain's sessions once per report)
 *   tlsrpt_failures_total{policy_domain, result_type, mx_host}
 *       failed sessions by failure detail (types may overlap, RFC 8460
 *       4.3; result_type "" for failures without details)
 *   tlsrpt_metrics_series_dropped{family}
 *       series left out past the cap
 *
 * Cardinality is bounded: at most max_series series per family, the
 * first in label order (so the same ones from one scrape to the next);
 * the others are counted in tlsrpt_metrics_series_dropped.  Label values
 * are escaped as the format requires (backslash, quote, newline) and
 * control characters become '?'.
 */

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "schema/db.h"

#define TRPT_METRICS_MAX_SERIES 10000

int trpt_metrics_write(struct trpt_db *db, size_t max_series,
    struct trpt_buf *out, struct trpt_err *err);
