/* libpq (PostgreSQL's client library, Debian libpq-dev). Debian keeps the header under postgresql/; the headers it
   includes with quotes resolve beside it, so no extra include path is needed. */
#ifndef NEO_PQ_SHIM_H
#define NEO_PQ_SHIM_H
#include <postgresql/libpq-fe.h>
/* The SQLSTATE field code of PQresultErrorField ('C'): a char macro, which Swift does not import. */
int cshim_pq_diag_sqlstate(void);
/* Silences libpq's default notice processor (it prints NOTICEs such as "relation already exists, skipping" to stderr). */
void cshim_pq_quiet_notices(PGconn *conn);
#endif
