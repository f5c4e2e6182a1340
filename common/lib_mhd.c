/* libmicrohttpd (the HTTP receiver and the dashboard), loaded on first use: see
 * common/lib.h. */

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <microhttpd.h>

#include "common/lib.h"

#define FUNCS(X, V, F)                                                         \
	X(enum MHD_Result, MHD_add_connection,                                 \
	    (struct MHD_Daemon * a0, MHD_socket a1, const struct sockaddr *a2, \
		socklen_t a3),                                                 \
	    (a0, a1, a2, a3), MHD_NO)                                          \
	X(enum MHD_Result, MHD_add_response_header,                            \
	    (struct MHD_Response * a0, const char *a1, const char *a2),        \
	    (a0, a1, a2), MHD_NO)                                              \
	X(char *, MHD_basic_auth_get_username_password,                        \
	    (struct MHD_Connection * a0, char **a1), (a0, a1), NULL)           \
	X(struct MHD_Response *, MHD_create_response_from_buffer,              \
	    (size_t a0, void *a1, enum MHD_ResponseMemoryMode a2),             \
	    (a0, a1, a2), NULL)                                                \
	X(struct MHD_Response *, MHD_create_response_from_fd,                  \
	    (size_t a0, int a1), (a0, a1), NULL)                               \
	V(MHD_destroy_response, (struct MHD_Response * a0), (a0))              \
	V(MHD_free, (void *a0), (a0))                                          \
	F(const union MHD_ConnectionInfo *, MHD_get_connection_info,           \
	    (struct MHD_Connection * a0, enum MHD_ConnectionInfoType a1, ...)) \
	F(const union MHD_DaemonInfo *, MHD_get_daemon_info,                   \
	    (struct MHD_Daemon * a0, enum MHD_DaemonInfoType a1, ...))         \
	X(enum MHD_Result, MHD_is_feature_supported, (enum MHD_FEATURE a0),    \
	    (a0), MHD_NO)                                                      \
	X(const char *, MHD_lookup_connection_value,                           \
	    (struct MHD_Connection * a0, enum MHD_ValueKind a1,                \
		const char *a2),                                               \
	    (a0, a1, a2), NULL)                                                \
	X(enum MHD_Result, MHD_queue_basic_auth_fail_response,                 \
	    (struct MHD_Connection * a0, const char *a1,                       \
		struct MHD_Response *a2),                                      \
	    (a0, a1, a2), MHD_NO)                                              \
	X(enum MHD_Result, MHD_queue_response,                                 \
	    (struct MHD_Connection * a0, unsigned int a1,                      \
		struct MHD_Response *a2),                                      \
	    (a0, a1, a2), MHD_NO)                                              \
	V(MHD_resume_connection, (struct MHD_Connection * a0), (a0))           \
	V(MHD_stop_daemon, (struct MHD_Daemon * a0), (a0))                     \
	V(MHD_suspend_connection, (struct MHD_Connection * a0), (a0))          \
	F(struct MHD_Daemon *, MHD_start_daemon_va,                            \
	    (unsigned int a0, uint16_t a1, MHD_AcceptPolicyCallback a2,        \
		void *a3, MHD_AccessHandlerCallback a4, void *a5, va_list a6))

#define TRPT__LIB_VAR trpt_lib_mhd
TRPT__LIB_DEFINE(
    FUNCS, trpt_lib_mhd, TRPT_SONAME_MHD, "the HTTP receiver and the dashboard")

/* The options list goes to libmicrohttpd's own va_list variant. */
struct MHD_Daemon *
MHD_start_daemon(unsigned int flags, uint16_t port,
    MHD_AcceptPolicyCallback apc, void *apc_cls, MHD_AccessHandlerCallback dh,
    void *dh_cls, ...)
{
	struct MHD_Daemon *d;
	va_list ap;

	if (!trpt_lib_ready(&trpt_lib_mhd))
		return NULL;
	va_start(ap, dh_cls);
	d = fn.MHD_start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

/*
 * "...": no information type takes more arguments (libmicrohttpd reads
 * none for any of them), so none are passed on.
 */
const union MHD_ConnectionInfo *
MHD_get_connection_info(
    struct MHD_Connection *c, enum MHD_ConnectionInfoType type, ...)
{
	if (!trpt_lib_ready(&trpt_lib_mhd))
		return NULL;
	return fn.MHD_get_connection_info(c, type);
}

const union MHD_DaemonInfo *
MHD_get_daemon_info(struct MHD_Daemon *d, enum MHD_DaemonInfoType type, ...)
{
	if (!trpt_lib_ready(&trpt_lib_mhd))
		return NULL;
	return fn.MHD_get_daemon_info(d, type);
}
