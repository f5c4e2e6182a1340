#pragma once
/*
 * Charts as inline SVG, written into a struct trpt_html: no script, no
 * style attribute (a strict Content-Security-Policy forbids inline
 * styles; presentation attributes are allowed), a <title> per point or
 * bar for the hover text.  Days are days since the epoch.
 */

#include <stddef.h>
#include <stdint.h>

#include "report/html.h"

/* The fill colour of series i (the same as CSS class "c<i % 12>"). */
const char *trpt_svg_color(size_t i);
#define TRPT_SVG_NCOLORS 12

/*
 * The share of successful sessions per day, rate[i] for day first_day + i
 * (rate < 0: no sessions that day, a gap).  The vertical axis runs from a
 * round value below the lowest share to 100%, so that a dip from 99.9%
 * to 93% shows.  label names the chart (for screen readers).
 */
void trpt_svg_share(struct trpt_html *h, const double *rate,
    const int64_t *sessions, size_t n, int64_t first_day, const char *label);

/*
 * Stacked bars: counts[s * n + i] is series s on day first_day + i; names
 * (untrusted, escaped) label the series.
 */
void trpt_svg_stacked(struct trpt_html *h, const int64_t *counts,
    const char *const *names, size_t nseries, size_t n, int64_t first_day,
    const char *label);

/* A small line of rate[0..n) (rate < 0: skipped), scaled to the series'
 * own range (at least one point wide). */
void trpt_svg_spark(struct trpt_html *h, const double *rate, size_t n);
