#pragma once
/*
 * The weekly sessions per policy domain and reporting organisation
 * (rollup_weeks, migration 0024) in blocks of 32 weeks: one row per
 * (domain, org, block), its weeks packed into one value, so that a year of
 * trends by organisation and domain reads 10,000 rows instead of 530,000
 * (bench_analysis: SQLite's cost is per row it returns, about 0.2 us, not
 * per byte).
 *
 * A block is week >> 5 (week = (day + 3) / 7, common/calendar.h), a
 * week's place in it week & 31.  The value (SQLite BLOB, PostgreSQL
 * bytea) is a list of cells in ascending place, each TRPT_WEEKS_CELL
 * bytes: the place (one byte, 0-31), successful and failed (each a
 * two's-complement int64, big-endian: what PostgreSQL's int8send
 * writes).  A week has a cell exactly where the rows-per-week table this
 * replaced had a row (a cell may hold 0 and 0).  Nothing else is in the
 * value, so equal contents are equal bytes.
 *
 * The same SQL functions exist in both dialects (SQLite: registered on
 * each connection by trpt__weeks_register; PostgreSQL: created by
 * migration 0024 in PL/pgSQL), with the same results:
 *   trpt_weeks_cell(place, s, f)   a value of one cell
 *   trpt_weeks_add(a, b)           cell by cell sum, a cell of only one
 *                                  side copied; each sum stops at
 *                                  TRPT_MAX_ROLLUP_COUNT as the upserts'
 *                                  ADD of schema/rollup.c does
 *   trpt_weeks_agg(v)              aggregate: trpt_weeks_add of all v
 *   trpt_weeks_drop(a, mask)       a without the cells whose bit
 *                                  (1 << place) is set in mask
 *   trpt_weeks_sum(a, mask, which) the sum of the cells in mask of
 *                                  successful (which 0) or failed (1)
 * A malformed value is an error, never read past its end.
 */

#include <stddef.h>
#include <stdint.h>

#define TRPT_WEEKS_SHIFT 5
#define TRPT_WEEKS_BLOCK 32 /* weeks a block: 1 << TRPT_WEEKS_SHIFT */
#define TRPT_WEEKS_CELL  17 /* bytes a cell */
#define TRPT_WEEKS_MAX   (TRPT_WEEKS_BLOCK * TRPT_WEEKS_CELL)

struct trpt_weeks_cell {
	int place; /* 0-31 */
	int64_t successful, failed;
};

/* Writes one cell into buf (TRPT_WEEKS_CELL bytes). */
void trpt_weeks_put(
    unsigned char *buf, int place, int64_t successful, int64_t failed);

/*
 * The cells of value p (len bytes) into out (room for TRPT_WEEKS_BLOCK);
 * the number of cells, or -1 when the value is malformed (a length that
 * is not whole cells, a place past 31, places not ascending).
 */
int trpt_weeks_read(const void *p, size_t len, struct trpt_weeks_cell *out);

/* SQLite: registers the functions above on connection h (a sqlite3 *);
 * 0 on success, an SQLite result code otherwise. */
int trpt__weeks_register(void *h);
