#pragma once
/*
 * Caps on every size the collector accepts.  Anyone can mail or POST to a
 * published rua address, so each input is bounded before it is read.
 * The defaults are safe for the largest real reports (a few MB) and can be
 * changed in the [limits] section of the configuration file.
 */

#include <stddef.h>
#include <stdint.h>

#define TRPT_MAX_MESSAGE_DEFAULT  (25u * 1024 * 1024) /* one mail or file */
#define TRPT_MAX_INFLATED_DEFAULT (50u * 1024 * 1024) /* gunzip output */
/* gunzip output of all the parts of one input together */
#define TRPT_MAX_INFLATED_INPUT_DEFAULT (100u * 1024 * 1024)
#define TRPT_MAX_JSON_DEFAULT           (50u * 1024 * 1024) /* one JSON document */
#define TRPT_MAX_DEPTH_DEFAULT          32u                 /* JSON nesting */
#define TRPT_MAX_PARTS_DEFAULT          64u      /* MIME parts / message */
#define TRPT_MAX_POLICIES_DEFAULT       100000u  /* policies / report */
#define TRPT_MAX_FAILURES_DEFAULT       1000000u /* details / report */
#define TRPT_MAX_DIR_DEPTH              16u /* recursion into directories */

/* The largest count RFC 8460 data can carry exactly (I-JSON, 2^53). */
#define TRPT_MAX_COUNT 9007199254740992LL

/*
 * The most sessions one rollup cell counts (2^40, a million times what a
 * large sender reports for a domain in a day): a key that collects more,
 * from hostile reports, stops there (schema/rollup.c), so that a plain
 * sum() over fewer than 2^23 cells cannot overflow.  No suffix: the SQL
 * spells it from this macro.
 */
#define TRPT_MAX_ROLLUP_COUNT     1099511627776
#define TRPT__STR(x)              #x
#define TRPT__XSTR(x)             TRPT__STR(x)
#define TRPT_MAX_ROLLUP_COUNT_SQL TRPT__XSTR(TRPT_MAX_ROLLUP_COUNT)

/*
 * a + b for session counts and their sums.  A count is at most
 * TRPT_MAX_COUNT and a report's at most 2^63 - 1 in all (schema/store.c),
 * but nothing bounds how many reports or cells add up in one total: such a
 * sum stops at INT64_MAX (INT64_MIN going down) instead of overflowing.
 */
static inline int64_t
trpt_count_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

struct trpt_limits {
	size_t max_message;  /* bytes of one input (file, mail, POST body) */
	size_t max_inflated; /* bytes after gunzip, one stream */
	/* bytes gunzip may produce for one input (a file, a mail, a POST
	 * body, an mbox read whole) in all: a mail of many gzip bombs stops
	 * here, not at max_inflated per part */
	size_t max_inflated_input;
	size_t max_json;     /* bytes of one JSON document */
	size_t max_depth;    /* nesting depth of arrays and objects */
	size_t max_parts;    /* MIME parts examined in one message */
	size_t max_policies; /* policies in one report */
	size_t max_failures; /* failure details in one report, in all */
};

/* The defaults above. */
void trpt_limits_default(struct trpt_limits *l);
