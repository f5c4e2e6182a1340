/* libsystemd (sd_notify for `run` as a Type=notify service), loaded on first
 * use: see common/lib.h. */

#include <errno.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "common/lib.h"

#define FUNCS(X, V, F)                                                         \
	X(int, sd_notify, (int a0, const char *a1), (a0, a1), -ENOSYS)

#define TRPT__LIB_VAR trpt_lib_systemd
TRPT__LIB_DEFINE(
    FUNCS, trpt_lib_systemd, TRPT_SONAME_SYSTEMD, "notifying systemd")
