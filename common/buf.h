#pragma once
/*
 * A growable byte buffer with a hard cap set at creation.  Appending past
 * the cap fails with TRPT_ELIMIT and leaves the buffer as it was, so a
 * hostile input can never grow memory beyond what the caller allowed.
 * The data is always followed by a NUL byte (not counted in len).
 */

#include <stddef.h>

#include "common/err.h"

struct trpt_buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap; /* allocated, excluding the NUL */
	size_t max; /* len never exceeds this */
};

void trpt_buf_init(struct trpt_buf *b, size_t max);
int trpt_buf_append(
    struct trpt_buf *b, const void *p, size_t n, struct trpt_err *err);
int trpt_buf_appendf(struct trpt_buf *b, struct trpt_err *err, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
/* Makes room for n more bytes; *p points at them. Caller then calls
 * trpt_buf_commit with the number actually written. */
int trpt_buf_reserve(
    struct trpt_buf *b, size_t n, char **p, struct trpt_err *err);
void trpt_buf_commit(struct trpt_buf *b, size_t n);
void trpt_buf_reset(struct trpt_buf *b);
/* Hands the data to the caller (who frees it) and empties the buffer. */
char *trpt_buf_steal(struct trpt_buf *b, size_t *len);
void trpt_buf_free(struct trpt_buf *b);

/*
 * Reads a whole file (or stdin when path is "-") into *out, failing with
 * TRPT_ELIMIT past max bytes without reading further.  Caller frees *out.
 */
int trpt_buf_read_file(const char *path, size_t max, char **out, size_t *len,
    struct trpt_err *err);
int trpt_buf_read_fd(int fd, const char *name, size_t max, char **out,
    size_t *len, struct trpt_err *err);

/*
 * The same into b, which keeps its allocation from one file to the next
 * (for reading many files): b's content is replaced, and past b->max
 * bytes it fails with TRPT_ELIMIT, leaving b empty.
 */
int trpt_buf_load_file(
    struct trpt_buf *b, const char *path, struct trpt_err *err);
