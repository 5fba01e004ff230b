/* libpq (PostgreSQL's client library, Debian libpq-dev). Debian keeps the header under postgresql/; the headers it
   includes with quotes resolve beside it, so no extra include path is needed. libpq is not linked: the shim loads
   libpq.so.5 (or the file NEO_LIBPQ names) with dlopen when a PostgreSQL store opens and forwards the PQ* functions
   the server calls (the list is in pq_shim.c). */
#ifndef NEO_PQ_SHIM_H
#define NEO_PQ_SHIM_H
#include <postgresql/libpq-fe.h>
/* Loads libpq once (a second caller waits for the first); NULL when it is there, else why not (the library, the file
   tried and dlerror()). */
const char *cshim_pq_load(void);
/* The SQLSTATE field code of PQresultErrorField ('C'): a char macro, which Swift does not import. */
int cshim_pq_diag_sqlstate(void);
/* Silences libpq's default notice processor (it prints NOTICEs such as "relation already exists, skipping" to stderr). */
void cshim_pq_quiet_notices(PGconn *conn);
/* Waits up to timeout_ms for the connection's socket, reads what arrived and frees the notifications it carried
   (LISTEN/NOTIFY). Returns how many arrived (0 on timeout or EINTR), or -1 when the connection failed. */
int cshim_pq_wait_notifies(PGconn *conn, int timeout_ms);
#endif
