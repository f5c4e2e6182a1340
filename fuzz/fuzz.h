#pragma once
/*
 * libFuzzer entry point shared by the fuzz targets (fuzz_*.c).  Built with
 * clang -fsanitize=fuzzer by tools/fuzz.sh; in the normal build each
 * target is linked with replay.c instead and replays the seed and
 * regression inputs as a test.
 */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
