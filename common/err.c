#include "common/err.h"

#include <stdio.h>
#include <string.h>

int
trpt_err_vset(struct trpt_err *err, int code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return code;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int
trpt_err_set(struct trpt_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	trpt_err_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void
trpt_err_prefix(struct trpt_err *err, const char *fmt, ...)
{
	char joined[2 * TRPT_ERR_MSG_LEN + 2];
	size_t n;
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(joined, TRPT_ERR_MSG_LEN, fmt, ap);
	va_end(ap);
	n = strlen(joined);
	joined[n++] = ':';
	joined[n++] = ' ';
	memcpy(joined + n, err->msg, sizeof(err->msg));
	joined[n + sizeof(err->msg) - 1] = '\0';
	memcpy(err->msg, joined, sizeof(err->msg) - 1);
	err->msg[sizeof(err->msg) - 1] = '\0';
}

void
trpt_err_clear(struct trpt_err *err)
{
	if (err == NULL)
		return;
	err->code = TRPT_OK;
	err->msg[0] = '\0';
}

const char *
trpt_err_name(int code)
{
	switch (code) {
	case TRPT_OK:
		return "ok";
	case TRPT_ENOMEM:
		return "out of memory";
	case TRPT_EINVAL:
		return "invalid argument";
	case TRPT_EPARSE:
		return "parse error";
	case TRPT_ELIMIT:
		return "limit exceeded";
	case TRPT_EDB:
		return "database error";
	case TRPT_ETEMP:
		return "temporary failure";
	case TRPT_EIO:
		return "i/o error";
	case TRPT_ENOTFOUND:
		return "not found";
	}
	return "unknown error";
}
