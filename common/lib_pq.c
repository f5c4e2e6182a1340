/* libpq (PostgreSQL databases), loaded on first use: see common/lib.h. */

#include <libpq-fe.h>
#include <string.h>

#include "common/lib.h"

#define FUNCS(X, V, F)                                                         \
	V(PQclear, (PGresult * a0), (a0))                                      \
	X(char *, PQcmdStatus, (PGresult * a0), (a0), NULL)                    \
	X(char *, PQcmdTuples, (PGresult * a0), (a0), NULL)                    \
	X(PGconn *, PQconnectdb, (const char *a0), (a0), NULL)                 \
	X(PGconn *, PQconnectdbParams,                                         \
	    (const char *const *a0, const char *const *a1, int a2),            \
	    (a0, a1, a2), NULL)                                                \
	V(PQconninfoFree, (PQconninfoOption * a0), (a0))                       \
	X(PQconninfoOption *, PQconninfoParse, (const char *a0, char **a1),    \
	    (a0, a1), NULL)                                                    \
	X(char *, PQerrorMessage, (const PGconn *a0), (a0), trpt_lib_pq.why)   \
	X(PGresult *, PQexec, (PGconn * a0, const char *a1), (a0, a1), NULL)   \
	X(PGresult *, PQexecParams,                                            \
	    (PGconn * a0, const char *a1, int a2, const Oid *a3,               \
		const char *const *a4, const int *a5, const int *a6, int a7),  \
	    (a0, a1, a2, a3, a4, a5, a6, a7), NULL)                            \
	X(PGresult *, PQexecPrepared,                                          \
	    (PGconn * a0, const char *a1, int a2, const char *const *a3,       \
		const int *a4, const int *a5, int a6),                         \
	    (a0, a1, a2, a3, a4, a5, a6), NULL)                                \
	V(PQfinish, (PGconn * a0), (a0))                                       \
	V(PQfreemem, (void *a0), (a0))                                         \
	X(Oid, PQftype, (const PGresult *a0, int a1), (a0, a1), 0)             \
	X(int, PQgetisnull, (const PGresult *a0, int a1, int a2),              \
	    (a0, a1, a2), 1)                                                   \
	X(int, PQgetlength, (const PGresult *a0, int a1, int a2),              \
	    (a0, a1, a2), 0)                                                   \
	X(char *, PQgetvalue, (const PGresult *a0, int a1, int a2),            \
	    (a0, a1, a2), NULL)                                                \
	X(int, PQnfields, (const PGresult *a0), (a0), 0)                       \
	X(int, PQntuples, (const PGresult *a0), (a0), 0)                       \
	X(PGresult *, PQprepare,                                               \
	    (PGconn * a0, const char *a1, const char *a2, int a3,              \
		const Oid *a4),                                                \
	    (a0, a1, a2, a3, a4), NULL)                                        \
	V(PQreset, (PGconn * a0), (a0))                                        \
	X(char *, PQresultErrorField, (const PGresult *a0, int a1), (a0, a1),  \
	    NULL)                                                              \
	X(char *, PQresultErrorMessage, (const PGresult *a0), (a0),            \
	    trpt_lib_pq.why)                                                   \
	X(ExecStatusType, PQresultStatus, (const PGresult *a0), (a0),          \
	    PGRES_FATAL_ERROR)                                                 \
	X(PQnoticeProcessor, PQsetNoticeProcessor,                             \
	    (PGconn * a0, PQnoticeProcessor a1, void *a2), (a0, a1, a2), NULL) \
	X(ConnStatusType, PQstatus, (const PGconn *a0), (a0), CONNECTION_BAD)  \
	X(PGTransactionStatusType, PQtransactionStatus, (const PGconn *a0),    \
	    (a0), PQTRANS_UNKNOWN)                                             \
	X(unsigned char *, PQunescapeBytea,                                    \
	    (const unsigned char *a0, size_t *a1), (a0, a1), NULL)

#define TRPT__LIB_VAR trpt_lib_pq
TRPT__LIB_DEFINE(FUNCS, trpt_lib_pq, TRPT_SONAME_PQ, "PostgreSQL databases")
