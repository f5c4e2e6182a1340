/* libunbound (DKIM keys and the DNS of `check`), loaded on first use: see
 * common/lib.h. */

#include <string.h>
#include <unbound.h>

#include "common/lib.h"

#define FUNCS(X, V, F)                                                         \
	X(int, ub_cancel, (struct ub_ctx * a0, int a1), (a0, a1), UB_INITFAIL) \
	X(int, ub_ctx_add_ta_file, (struct ub_ctx * a0, const char *a1),       \
	    (a0, a1), UB_INITFAIL)                                             \
	X(int, ub_ctx_async, (struct ub_ctx * a0, int a1), (a0, a1),           \
	    UB_INITFAIL)                                                       \
	X(struct ub_ctx *, ub_ctx_create, (void), (), NULL)                    \
	X(int, ub_ctx_debugout, (struct ub_ctx * a0, void *a1), (a0, a1),      \
	    UB_INITFAIL)                                                       \
	V(ub_ctx_delete, (struct ub_ctx * a0), (a0))                           \
	X(int, ub_ctx_resolvconf, (struct ub_ctx * a0, const char *a1),        \
	    (a0, a1), UB_INITFAIL)                                             \
	X(int, ub_ctx_set_fwd, (struct ub_ctx * a0, const char *a1), (a0, a1), \
	    UB_INITFAIL)                                                       \
	X(int, ub_ctx_set_option,                                              \
	    (struct ub_ctx * a0, const char *a1, const char *a2),              \
	    (a0, a1, a2), UB_INITFAIL)                                         \
	X(int, ub_fd, (struct ub_ctx * a0), (a0), -1)                          \
	X(int, ub_process, (struct ub_ctx * a0), (a0), UB_INITFAIL)            \
	X(int, ub_resolve_async,                                               \
	    (struct ub_ctx * a0, const char *a1, int a2, int a3, void *a4,     \
		ub_callback_type a5, int *a6),                                 \
	    (a0, a1, a2, a3, a4, a5, a6), UB_INITFAIL)                         \
	V(ub_resolve_free, (struct ub_result * a0), (a0))                      \
	X(const char *, ub_strerror, (int a0), (a0), trpt_lib_unbound.why)

#define TRPT__LIB_VAR trpt_lib_unbound
TRPT__LIB_DEFINE(FUNCS, trpt_lib_unbound, TRPT_SONAME_UNBOUND, "DNS lookups")
