#include "common/hash.h"

#include <nettle/sha2.h>

void
trpt_hash_sha256_init(struct trpt_hash_sha256 *h)
{
	sha256_init(&h->ctx);
}

void
trpt_hash_sha256_update(
    struct trpt_hash_sha256 *h, const void *data, size_t len)
{
	sha256_update(&h->ctx, len, data);
}

void
trpt_hash_sha256_final_hex(
    struct trpt_hash_sha256 *h, char out[TRPT_SHA256_HEX_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[SHA256_DIGEST_SIZE];
	size_t i;

	sha256_digest(&h->ctx, sizeof(d), d);
	for (i = 0; i < sizeof(d); i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * sizeof(d)] = '\0';
}

void
trpt_hash_sha256_hex(
    const void *data, size_t len, char out[TRPT_SHA256_HEX_LEN])
{
	struct trpt_hash_sha256 h;

	trpt_hash_sha256_init(&h);
	trpt_hash_sha256_update(&h, data, len);
	trpt_hash_sha256_final_hex(&h, out);
}

uint64_t
trpt_hash_fnv1a(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}
