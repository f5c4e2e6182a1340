#include "report/svg.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "common/limits.h"

static const char *const colors[TRPT_SVG_NCOLORS] = { "#c0392b", "#e67e22",
	"#8e44ad", "#2980b9", "#16a085", "#d4ac0d", "#7f8c8d", "#e84393",
	"#2c3e50", "#27ae60", "#a0522d", "#5d6d7e" };

#define W      760
#define H      200
#define LEFT   56
#define RIGHT  40
#define TOP    10
#define BOTTOM 26

const char *
trpt_svg_color(size_t i)
{
	return colors[i % TRPT_SVG_NCOLORS];
}

/* The x of the middle of day i of n. */
static double
xpos(size_t i, size_t n)
{
	double w = (double)(W - LEFT - RIGHT);

	return LEFT + (n > 0 ? w * ((double)i + 0.5) / (double)n : 0);
}

/* Up to six day labels under the axis. */
static void
x_labels(struct trpt_html *h, size_t n, int64_t first_day)
{
	size_t step = n > 6 ? (n + 5) / 6 : 1, i;

	for (i = 0; i < n; i += step) {
		trpt_html_rawf(h,
		    "<text x=\"%.1f\" y=\"%d\" "
		    "text-anchor=\"middle\">",
		    xpos(i, n), H - 8);
		trpt_html_day(h, first_day + (int64_t)i);
		trpt_html_raw(h, "</text>");
	}
}

/* A round lower bound for the share axis, in percent. */
static double
axis_floor(double lowest)
{
	static const double steps[] = { 99, 98, 95, 90, 80, 50, 0 };
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (lowest >= steps[i] + 0.5 || steps[i] == 0)
			return steps[i];
	return 0;
}

void
trpt_svg_share(struct trpt_html *h, const double *rate, const int64_t *sessions,
    size_t n, int64_t first_day, const char *label)
{
	double lo = 100, y0, y, x, ph = H - TOP - BOTTOM;
	size_t i;
	int pen = 0, k;

	for (i = 0; i < n; i++)
		if (rate[i] >= 0 && rate[i] * 100 < lo)
			lo = rate[i] * 100;
	y0 = axis_floor(lo);
	trpt_html_rawf(h,
	    "<svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" "
	    "height=\"%d\" role=\"img\" aria-label=\"",
	    W, H, W, H);
	trpt_html_text(h, label);
	trpt_html_raw(h, "\">");
	for (k = 0; k <= 4; k++) {
		double v = y0 + (100 - y0) * k / 4.0;

		y = TOP + ph - ph * (v - y0) / (100 - y0);
		trpt_html_rawf(h,
		    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
		    "stroke=\"#e3e6ea\"/><text x=\"%d\" y=\"%.1f\" "
		    "text-anchor=\"end\">%g%%</text>",
		    LEFT, y, W - RIGHT, y, LEFT - 4, y + 4, v);
	}
	x_labels(h, n, first_day);
	trpt_html_raw(h, "<path fill=\"none\" stroke=\"#1f6fb5\" "
			 "stroke-width=\"2\" d=\"");
	for (i = 0; i < n; i++) {
		if (rate[i] < 0) {
			pen = 0;
			continue;
		}
		x = xpos(i, n);
		y = TOP + ph - ph * (rate[i] * 100 - y0) / (100 - y0);
		trpt_html_rawf(h, "%s%.1f %.1f", pen ? " L" : " M", x, y);
		pen = 1;
	}
	trpt_html_raw(h, "\"/>");
	for (i = 0; i < n; i++) {
		if (rate[i] < 0)
			continue;
		x = xpos(i, n);
		y = TOP + ph - ph * (rate[i] * 100 - y0) / (100 - y0);
		trpt_html_rawf(h,
		    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" "
		    "fill=\"%s\"><title>",
		    x, y, n > 90 ? 1 : 3,
		    rate[i] * 100 < lo + 0.0001 && lo < 99.995 ? "#c0392b"
							       : "#1f6fb5");
		trpt_html_day(h, first_day + (int64_t)i);
		trpt_html_raw(h, ": ");
		trpt_html_rate(h, rate[i]);
		if (sessions != NULL) {
			trpt_html_raw(h, " of ");
			trpt_html_count(h, sessions[i]);
			trpt_html_raw(h, " sessions");
		}
		trpt_html_raw(h, "</title></circle>");
	}
	trpt_html_raw(h, "</svg>");
}

void
trpt_svg_stacked(struct trpt_html *h, const int64_t *counts,
    const char *const *names, size_t nseries, size_t n, int64_t first_day,
    const char *label)
{
	double ph = H - TOP - BOTTOM, bw, x, y, top;
	int64_t max = 0, tot, v, step, quarter;
	size_t i, s;
	int k;

	for (i = 0; i < n; i++) {
		tot = 0;
		for (s = 0; s < nseries; s++)
			tot = trpt_count_add(tot, counts[s * n + i]);
		if (tot > max)
			max = tot;
	}
	trpt_html_rawf(h,
	    "<svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" "
	    "height=\"%d\" role=\"img\" aria-label=\"",
	    W, H, W, H);
	trpt_html_text(h, label);
	trpt_html_raw(h, "\">");
	/* Four whole steps of 1, 2 or 5 times a power of ten, compared
	 * with a quarter of max (rounded up) so that nothing overflows: a
	 * rollup of hostile counts may reach INT64_MAX, where the steps stop
	 * at that quarter and the top of the axis is max itself. */
	quarter = max / 4 + (max % 4 != 0);
	step = 1;
	while (step < quarter) {
		if (step * 2 >= quarter) {
			step *= 2;
			break;
		}
		if (step * 5 >= quarter) {
			step *= 5;
			break;
		}
		if (step > INT64_MAX / 40) {
			step = quarter;
			break;
		}
		step *= 10;
	}
	if (step > INT64_MAX / 4)
		step = quarter;
	if (max > 0 && step <= INT64_MAX / 4)
		max = step * 4;
	for (k = 0; k <= 4 && max > 0; k++) {
		y = TOP + ph - ph * k / 4.0;
		trpt_html_rawf(h,
		    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
		    "stroke=\"#e3e6ea\"/><text x=\"%d\" y=\"%.1f\" "
		    "text-anchor=\"end\">%" PRId64 "</text>",
		    LEFT, y, W - RIGHT, y, LEFT - 4, y + 4,
		    k == 4 ? max : step * k);
	}
	x_labels(h, n, first_day);
	bw = (double)(W - LEFT - RIGHT) / (double)(n > 0 ? n : 1);
	if (bw > 40)
		bw = 40;
	for (i = 0; i < n && max > 0; i++) {
		top = TOP + ph;
		x = xpos(i, n) - bw * 0.4;
		for (s = 0; s < nseries; s++) {
			v = counts[s * n + i];
			if (v <= 0)
				continue;
			y = ph * (double)v / (double)max;
			top -= y;
			trpt_html_rawf(h,
			    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\" fill=\"%s\"><title>",
			    x, top, bw * 0.8 > 1 ? bw * 0.8 : 1, y,
			    trpt_svg_color(s));
			trpt_html_day(h, first_day + (int64_t)i);
			trpt_html_raw(h, ": ");
			trpt_html_text(
			    h, names[s][0] != '\0' ? names[s] : "(no details)");
			trpt_html_raw(h, " ");
			trpt_html_count(h, v);
			trpt_html_raw(h, "</title></rect>");
		}
	}
	if (max == 0)
		trpt_html_rawf(h,
		    "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no failed "
		    "sessions</text>",
		    W / 2, H / 2);
	trpt_html_raw(h, "</svg>");
}

void
trpt_svg_spark(struct trpt_html *h, const double *rate, size_t n)
{
	double lo = 2, hi = -1, x, y;
	size_t i;
	int pen = 0;

	for (i = 0; i < n; i++) {
		if (rate[i] < 0)
			continue;
		if (rate[i] < lo)
			lo = rate[i];
		if (rate[i] > hi)
			hi = rate[i];
	}
	if (hi - lo < 0.01) /* at least one point */
		lo = hi - 0.01;
	trpt_html_raw(h, "<svg class=\"spark\" viewBox=\"0 0 120 24\" "
			 "width=\"120\" height=\"24\" aria-hidden=\"true\">"
			 "<path fill=\"none\" stroke=\"#1f6fb5\" "
			 "stroke-width=\"1.5\" d=\"");
	for (i = 0; i < n; i++) {
		if (rate[i] < 0) {
			pen = 0;
			continue;
		}
		x = n > 1 ? 2 + 116.0 * (double)i / (double)(n - 1) : 60;
		y = 21 - 18 * (rate[i] - lo) / (hi - lo);
		trpt_html_rawf(h, "%s%.1f %.1f", pen ? " L" : " M", x, y);
		pen = 1;
	}
	trpt_html_raw(h, "\"/>");
	/* A day alone between gaps draws no line: a dot. */
	for (i = 0; i < n; i++) {
		if (rate[i] < 0 || (i > 0 && rate[i - 1] >= 0) ||
		    (i + 1 < n && rate[i + 1] >= 0))
			continue;
		x = n > 1 ? 2 + 116.0 * (double)i / (double)(n - 1) : 60;
		y = 21 - 18 * (rate[i] - lo) / (hi - lo);
		trpt_html_rawf(h,
		    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" "
		    "fill=\"#1f6fb5\"/>",
		    x, y);
	}
	trpt_html_raw(h, "</svg>");
}
