/* libopendkim (DKIM-signed mail; it brings OpenSSL's libcrypto), loaded on
 * first use: see common/lib.h. */

#include <sys/types.h>

#include <opendkim/dkim.h>
#include <stdbool.h>
#include <string.h>

#include "common/lib.h"

#define FUNCS(X, V, F)                                                         \
	X(DKIM_STAT, dkim_chunk, (DKIM * a0, u_char * a1, size_t a2),          \
	    (a0, a1, a2), DKIM_STAT_INTERNAL)                                  \
	V(dkim_close, (DKIM_LIB * a0), (a0))                                   \
	X(DKIM_STAT, dkim_eom, (DKIM * a0, _Bool * a1), (a0, a1),              \
	    DKIM_STAT_INTERNAL)                                                \
	X(DKIM_STAT, dkim_free, (DKIM * a0), (a0), DKIM_STAT_INTERNAL)         \
	X(void *, dkim_get_user_context, (DKIM * a0), (a0), NULL)              \
	X(const char *, dkim_geterror, (DKIM * a0), (a0), trpt_lib_dkim.why)   \
	X(const char *, dkim_getresultstr, (DKIM_STAT a0), (a0),               \
	    trpt_lib_dkim.why)                                                 \
	X(DKIM_STAT, dkim_getsiglist,                                          \
	    (DKIM * a0, DKIM_SIGINFO * **a1, int *a2), (a0, a1, a2),           \
	    DKIM_STAT_INTERNAL)                                                \
	X(DKIM_LIB *, dkim_init,                                               \
	    (void *(*a0)(void *, size_t), void (*a1)(void *, void *)),         \
	    (a0, a1), NULL)                                                    \
	X(DKIM_STAT, dkim_options,                                             \
	    (DKIM_LIB * a0, int a1, dkim_opts_t a2, void *a3, size_t a4),      \
	    (a0, a1, a2, a3, a4), DKIM_STAT_INTERNAL)                          \
	X(DKIM_STAT, dkim_set_key_lookup,                                      \
	    (DKIM_LIB * a0,                                                    \
		DKIM_CBSTAT(*a1)(DKIM *, DKIM_SIGINFO *, u_char *, size_t)),   \
	    (a0, a1), DKIM_STAT_INTERNAL)                                      \
	X(DKIM_STAT, dkim_set_prescreen,                                       \
	    (DKIM_LIB * a0, DKIM_CBSTAT(*a1)(DKIM *, DKIM_SIGINFO **, int)),   \
	    (a0, a1), DKIM_STAT_INTERNAL)                                      \
	X(DKIM_STAT, dkim_set_user_context, (DKIM * a0, void *a1), (a0, a1),   \
	    DKIM_STAT_INTERNAL)                                                \
	X(int, dkim_sig_getbh, (DKIM_SIGINFO * a0), (a0), DKIM_SIGBH_UNTESTED) \
	X(unsigned char *, dkim_sig_getdomain, (DKIM_SIGINFO * a0), (a0),      \
	    NULL)                                                              \
	X(int, dkim_sig_geterror, (DKIM_SIGINFO * a0), (a0),                   \
	    DKIM_SIGERROR_UNKNOWN)                                             \
	X(const char *, dkim_sig_geterrorstr, (DKIM_SIGERROR a0), (a0),        \
	    trpt_lib_dkim.why)                                                 \
	X(unsigned int, dkim_sig_getflags, (DKIM_SIGINFO * a0), (a0), 0)       \
	X(unsigned char *, dkim_sig_getselector, (DKIM_SIGINFO * a0), (a0),    \
	    NULL)                                                              \
	X(u_char *, dkim_sig_gettagvalue,                                      \
	    (DKIM_SIGINFO * a0, _Bool a1, u_char * a2), (a0, a1, a2), NULL)    \
	V(dkim_sig_ignore, (DKIM_SIGINFO * a0), (a0))                          \
	X(DKIM *, dkim_verify,                                                 \
	    (DKIM_LIB * a0, const unsigned char *a1, void *a2, DKIM_STAT *a3), \
	    (a0, a1, a2, a3), NULL)

#define TRPT__LIB_VAR trpt_lib_dkim
TRPT__LIB_DEFINE(FUNCS, trpt_lib_dkim, TRPT_SONAME_DKIM, "DKIM signatures")
