#pragma once
/* SHA-256 of stored inputs (nettle), as 64 lower-case hex digits. */

#include <stddef.h>
#include <stdint.h>

#include <nettle/sha2.h>

#define TRPT_SHA256_HEX_LEN 65 /* with the NUL */

void trpt_hash_sha256_hex(
    const void *data, size_t len, char out[TRPT_SHA256_HEX_LEN]);

/*
 * The same digest fed piece by piece: for a digest of bytes that are
 * never put together in one buffer (the canonical form of a report).
 */
struct trpt_hash_sha256 {
	struct sha256_ctx ctx;
};

void trpt_hash_sha256_init(struct trpt_hash_sha256 *h);
void trpt_hash_sha256_update(
    struct trpt_hash_sha256 *h, const void *data, size_t len);
/* The digest of what was fed, as hex; h must be initialised again before
 * it is used for another digest. */
void trpt_hash_sha256_final_hex(
    struct trpt_hash_sha256 *h, char out[TRPT_SHA256_HEX_LEN]);

/*
 * FNV-1a of n bytes: a fast, non-cryptographic hash for in-memory hash
 * tables (the rollups' keys, the alerts' evidence names).
 */
uint64_t trpt_hash_fnv1a(const void *data, size_t n);
