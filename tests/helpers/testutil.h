#pragma once
/* Helpers shared by the cmocka tests. */

#include <stddef.h>

/* $TRPT_FIXTURES / rel, in a static buffer valid until the next call. */
const char *trpt_test_fixture(const char *rel);

/*
 * $TRPT_CORPUS / rel, or NULL when the corpus is absent; the first call
 * that finds it absent prints a clear note to stderr.
 */
const char *trpt_test_corpus(const char *rel);

/* Reads a whole file; fails the test on error.  Caller frees. */
char *trpt_test_slurp(const char *path, size_t *len);

/* Writes len bytes to path; fails the test on error. */
void trpt_test_write(const char *path, const void *data, size_t len);

/* A fresh temporary directory (mkdtemp), and its recursive removal. */
char *trpt_test_tmpdir(void);
void trpt_test_rmrf(const char *path);

/* gzip-compresses data (zlib) into a new buffer; caller frees. */
char *trpt_test_gzip(const void *data, size_t len, size_t *outlen);

/*
 * Runs a shell command line, capturing standard output and error (each may
 * be NULL to discard; caller frees).  Returns the exit status, or -1 when
 * the command was killed by a signal.
 */
int trpt_test_sh(const char *cmd, char **out, char **err);

/* The tlsrpt-collector binary under test ($TRPT_BINARY). */
const char *trpt_test_binary(void);
