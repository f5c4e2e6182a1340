#pragma once
/*
 * Status codes and error messages shared by every layer.
 *
 * Functions return TRPT_OK or a negative trpt_rc and, on failure, fill a
 * caller-provided struct trpt_err with a one-line message that names the
 * object at fault.  Library code never prints or exits.
 */

#include <stdarg.h>

enum trpt_rc {
	TRPT_OK = 0,
	TRPT_ENOMEM = -1,   /* out of memory */
	TRPT_EINVAL = -2,   /* bad argument or configuration */
	TRPT_EPARSE = -3,   /* input is malformed: quarantine it */
	TRPT_ELIMIT = -4,   /* input exceeds a configured cap: quarantine it */
	TRPT_EDB = -5,      /* database error (permanent) */
	TRPT_ETEMP = -6,    /* temporary: retry later (network, SQLITE_BUSY) */
	TRPT_EIO = -7,      /* file or network I/O error */
	TRPT_ENOTFOUND = -8 /* the thing asked for does not exist */
};

#define TRPT_ERR_MSG_LEN 256

struct trpt_err {
	int code;
	char msg[TRPT_ERR_MSG_LEN];
};

/* Fills err (which may be NULL) and returns code. */
int trpt_err_set(struct trpt_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int trpt_err_vset(struct trpt_err *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/*
 * Prefixes the message already in err with "prefix: " (printf-style), keeping
 * the code.  Used to add context such as a JSON path or a part number.
 */
void trpt_err_prefix(struct trpt_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void trpt_err_clear(struct trpt_err *err);

/* A short name for a code, e.g. "parse error". */
const char *trpt_err_name(int code);
