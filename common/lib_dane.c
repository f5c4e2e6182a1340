/* gnutls-dane (DANE in `check`), loaded on first use: see common/lib.h. */

#include <string.h>

#include <gnutls/dane.h>
#include <gnutls/gnutls.h>

#include "common/lib.h"

#define FUNCS(X, V, F)                                                         \
	V(dane_query_deinit, (dane_query_t a0), (a0))                          \
	X(int, dane_raw_tlsa,                                                  \
	    (dane_state_t a0, dane_query_t * a1, char *const *a2,              \
		const int *a3, int a4, int a5),                                \
	    (a0, a1, a2, a3, a4, a5), DANE_E_INITIALIZATION_ERROR)             \
	V(dane_state_deinit, (dane_state_t a0), (a0))                          \
	X(int, dane_state_init, (dane_state_t * a0, unsigned int a1),          \
	    (a0, a1), DANE_E_INITIALIZATION_ERROR)                             \
	X(const char *, dane_strerror, (int a0), (a0), trpt_lib_dane.why)      \
	X(int, dane_verification_status_print,                                 \
	    (unsigned int a0, gnutls_datum_t *a1, unsigned int a2),            \
	    (a0, a1, a2), DANE_E_INITIALIZATION_ERROR)                         \
	X(int, dane_verify_crt_raw,                                            \
	    (dane_state_t a0, const gnutls_datum_t *a1, unsigned int a2,       \
		gnutls_certificate_type_t a3, dane_query_t a4,                 \
		unsigned int a5, unsigned int a6, unsigned int *a7),           \
	    (a0, a1, a2, a3, a4, a5, a6, a7), DANE_E_INITIALIZATION_ERROR)

#define TRPT__LIB_VAR trpt_lib_dane
TRPT__LIB_DEFINE(FUNCS, trpt_lib_dane, TRPT_SONAME_DANE, "DANE checks")
