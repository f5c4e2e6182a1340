#pragma once
/*
 * Shared libraries loaded when first used, not at process start.
 *
 * Why: every command paid for loading every library the program can use.
 * With all 54 shared objects linked (BIND_NOW, as Debian builds most of
 * them), `tlsrpt-collector --version` ran 23.9 M instructions, 21.8 M of
 * them in the dynamic loader's relocations (callgrind, stop 23), ~21 ms
 * of CPU.  libpq, libcurl, libmicrohttpd, libsystemd, gnutls-dane,
 * libopendkim and libunbound bring 32 of those objects (Kerberos, LDAP,
 * OpenSSL's libcrypto and libssl, SASL, libgcrypt, libevent, ...) and
 * are needed only by some commands or inputs: PostgreSQL databases,
 * HTTPS and SMTP, the HTTP receiver and dashboard, `run` under systemd,
 * DANE in `check`, DKIM-signed mail.  A bare program linked against the
 * rest (SQLite, jansson, zlib, libetpan, gnutls, nettle, libpsl, libidn2,
 * inih) starts in 7.6 M instructions instead of 24.4 M.
 *
 * How: common/lib_NAME.c defines, under the library's own names, the
 * functions of NAME that the program calls; the first call loads the
 * library (dlopen of the soname the build linked against, found by
 * meson) and resolves all of them at once (a missing symbol fails the
 * load, as BIND_NOW would).  Callers keep calling PQexec or
 * curl_easy_init as before.  If the library cannot be loaded, the report
 * function (trpt_lib_set_report) gets one message naming the library and
 * what needs it, and every function of that library returns its failure
 * value (NULL, an error code, the message for *strerror); freeing NULL
 * stays harmless.  Thread-safe: the load runs once (pthread_once).
 */

#include <pthread.h>
#include <stddef.h>

#include "common/err.h"

struct trpt_lib {
	const char *soname;       /* e.g. "libpq.so.5" (set by the build) */
	const char *what;         /* what needs it, for messages */
	const char *const *names; /* the functions, in table order */
	size_t n;
	void (*fill)(void *const *syms); /* copies the resolved symbols */
	void (*load)(void); /* trpt__lib_load(this): for pthread_once */
	pthread_once_t once;
	int ok;                     /* 1 once loaded */
	char why[TRPT_ERR_MSG_LEN]; /* the failure, when ok == 0 */
};

/* The libraries loaded on first use (common/lib_*.c). */
extern struct trpt_lib trpt_lib_pq;
extern struct trpt_lib trpt_lib_curl;
extern struct trpt_lib trpt_lib_mhd;
extern struct trpt_lib trpt_lib_dane;
extern struct trpt_lib trpt_lib_dkim;
extern struct trpt_lib trpt_lib_unbound;
extern struct trpt_lib trpt_lib_systemd;

/*
 * Loads lib now if it is not loaded yet.  TRPT_OK, or TRPT_EIO with
 * "cannot load SONAME (for WHAT): REASON" in err (also after an earlier
 * failed attempt: a load is tried once per process).
 */
int trpt_lib_need(struct trpt_lib *lib, struct trpt_err *err);

/* 1 if lib is loaded (loading it if needed), else 0.  For the wrappers. */
int trpt_lib_ready(struct trpt_lib *lib);

/*
 * fn gets the message of each library that fails to load, once, from the
 * thread that first needed it (collector/ prints it; library code does
 * not).  Set it before any thread starts; NULL: nobody is told.
 */
void trpt_lib_set_report(void (*fn)(const char *msg));

/*
 * For common/lib_NAME.c only.  FUNCS(X, V, F) lists the functions:
 *   X(ret, name, (params), (args), fail)  a wrapper returning ret
 *   V(name, (params), (args))             a wrapper returning nothing
 *   F(ret, name, (params))                in the table, wrapper by hand
 * TRPT__LIB_DEFINE(FUNCS, var, SONAME, what) defines struct trpt_lib var,
 * the table (static struct fn) and the X and V wrappers.
 */
void trpt__lib_load(struct trpt_lib *lib);

#define TRPT__LIB_FIELD(ret, name, params, args, fail) ret(*name) params;
#define TRPT__LIB_VFIELD(name, params, args)           void(*name) params;
#define TRPT__LIB_FFIELD(ret, name, params)            ret(*name) params;
#define TRPT__LIB_NAME(ret, name, params, args, fail)  #name,
#define TRPT__LIB_VNAME(name, params, args)            #name,
#define TRPT__LIB_FNAME(ret, name, params)             #name,
#define TRPT__LIB_FILL(ret, name, params, args, fail)                          \
	memcpy(&fn.name, &syms[i++], sizeof(fn.name));
#define TRPT__LIB_VFILL(name, params, args)                                    \
	memcpy(&fn.name, &syms[i++], sizeof(fn.name));
#define TRPT__LIB_FFILL(ret, name, params)                                     \
	memcpy(&fn.name, &syms[i++], sizeof(fn.name));
#define TRPT__LIB_NONE(ret, name, params)
#define TRPT__LIB_WRAP(ret, name, params, args, fail)                          \
	ret name params                                                        \
	{                                                                      \
		if (!trpt_lib_ready(&TRPT__LIB_VAR))                           \
			return fail;                                           \
		return fn.name args;                                           \
	}
#define TRPT__LIB_VWRAP(name, params, args)                                    \
	void name params                                                       \
	{                                                                      \
		if (trpt_lib_ready(&TRPT__LIB_VAR))                            \
			fn.name args;                                          \
	}

#define TRPT__LIB_DEFINE(FUNCS, var, soname_, what_)                           \
	static struct {                                                        \
		FUNCS(TRPT__LIB_FIELD, TRPT__LIB_VFIELD, TRPT__LIB_FFIELD)     \
	} fn;                                                                  \
	static const char *const names[] = { FUNCS(                            \
	    TRPT__LIB_NAME, TRPT__LIB_VNAME, TRPT__LIB_FNAME) };               \
	static void fill(void *const *syms)                                    \
	{                                                                      \
		size_t i = 0;                                                  \
		FUNCS(TRPT__LIB_FILL, TRPT__LIB_VFILL, TRPT__LIB_FFILL)        \
	}                                                                      \
	static void load(void)                                                 \
	{                                                                      \
		trpt__lib_load(&var);                                          \
	}                                                                      \
	struct trpt_lib var = { .soname = soname_,                             \
		.what = what_,                                                 \
		.names = names,                                                \
		.n = sizeof(names) / sizeof(names[0]),                         \
		.fill = fill,                                                  \
		.load = load,                                                  \
		.once = PTHREAD_ONCE_INIT };                                   \
	FUNCS(TRPT__LIB_WRAP, TRPT__LIB_VWRAP, TRPT__LIB_NONE)
