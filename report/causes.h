#pragma once
/*
 * What a failure result type (RFC 8460 §4.3, IANA "STARTTLS Validation
 * Result Types") most likely means for the domain owner, and what to do.
 * Covers the 11 registered types; any other string gets the entry for
 * unknown types.  All strings are static.
 */

#include <stddef.h>

struct trpt_cause {
	const char *result_type; /* registered name, or "" for unknown */
	const char *title;       /* short plain-language name */
	const char *causes;      /* probable causes, one sentence each */
	const char *fixes;       /* what to check and change */
};

/* The entry for result_type (never NULL: unknown types share one). */
const struct trpt_cause *trpt_causes_lookup(const char *result_type);

/* 1 when result_type is one of the 11 registered types. */
int trpt_causes_registered(const char *result_type);

/* The i-th registered entry, i < trpt_causes_count(); for listings. */
size_t trpt_causes_count(void);
const struct trpt_cause *trpt_causes_at(size_t i);
