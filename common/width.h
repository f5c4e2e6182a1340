#pragma once
/*
 * Columns of text on a terminal: how many cells a UTF-8 string takes
 * (East Asian wide and fullwidth characters and most emoji two, combining
 * marks and zero-width characters none), and padding or cutting to a
 * width at a character boundary.  Bytes that are not UTF-8 count one
 * cell each.  (The C library's wcwidth needs a UTF-8 locale, which the
 * program does not set: LC_CTYPE stays "C" so that nothing else changes
 * with the user's locale.)
 */

#include <stddef.h>
#include <stdio.h>

/* The cells s takes. */
size_t trpt_width(const char *s);

/* Writes s cut to at most cols cells (whole characters) and padded with
 * spaces to cols.  Returns 0, or EOF on a write error. */
int trpt_width_fput(FILE *f, const char *s, size_t cols);
