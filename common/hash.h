#pragma once
/* SHA-256 of stored inputs (nettle), as 64 lower-case hex digits. */

#include <stddef.h>

#define TRPT_SHA256_HEX_LEN 65 /* with the NUL */

void trpt_hash_sha256_hex(
    const void *data, size_t len, char out[TRPT_SHA256_HEX_LEN]);
