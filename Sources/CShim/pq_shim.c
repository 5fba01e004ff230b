#include "pq_shim.h"
#include "lazy_library.h"
#include <errno.h>
#include <poll.h>

/* Every libpq function the server calls (see lazy_library.h for the entry forms). */
#define PQ_FUNCTIONS(F, V, P)                                                                                         \
    F(PGconn *, PQconnectdbParams, (const char *const *keys, const char *const *values, int expand),                 \
      (keys, values, expand), NULL)                                                                                  \
    V(void, PQfinish, (PGconn *c), (c))                                                                              \
    V(void, PQreset, (PGconn *c), (c))                                                                               \
    F(ConnStatusType, PQstatus, (const PGconn *c), (c), CONNECTION_BAD)                                              \
    F(PGTransactionStatusType, PQtransactionStatus, (const PGconn *c), (c), PQTRANS_UNKNOWN)                        \
    F(char *, PQerrorMessage, (const PGconn *c), (c), NULL)                                                          \
    F(int, PQsocket, (const PGconn *c), (c), -1)                                                                     \
    F(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *c, PQnoticeProcessor f, void *arg), (c, f, arg), NULL)       \
    F(int, PQconsumeInput, (PGconn *c), (c), 0)                                                                      \
    F(PGnotify *, PQnotifies, (PGconn *c), (c), NULL)                                                                \
    V(void, PQfreemem, (void *p), (p))                                                                               \
    F(PGresult *, PQexec, (PGconn *c, const char *sql), (c, sql), NULL)                                              \
    F(PGresult *, PQprepare, (PGconn *c, const char *name, const char *sql, int n, const Oid *types),                \
      (c, name, sql, n, types), NULL)                                                                                \
    F(PGresult *, PQexecPrepared,                                                                                    \
      (PGconn *c, const char *name, int n, const char *const *values, const int *lengths, const int *formats,        \
       int resultFormat),                                                                                            \
      (c, name, n, values, lengths, formats, resultFormat), NULL)                                                    \
    V(void, PQclear, (PGresult *r), (r))                                                                             \
    F(ExecStatusType, PQresultStatus, (const PGresult *r), (r), PGRES_FATAL_ERROR)                                   \
    F(char *, PQresultErrorField, (const PGresult *r, int code), (r, code), NULL)                                    \
    F(char *, PQcmdTuples, (PGresult *r), (r), NULL)                                                                 \
    F(int, PQntuples, (const PGresult *r), (r), 0)                                                                   \
    F(int, PQnfields, (const PGresult *r), (r), 0)                                                                   \
    F(char *, PQfname, (const PGresult *r, int field), (r, field), NULL)                                             \
    F(Oid, PQftype, (const PGresult *r, int field), (r, field), InvalidOid)                                          \
    F(int, PQgetisnull, (const PGresult *r, int row, int field), (r, row, field), 1)                                 \
    F(int, PQgetlength, (const PGresult *r, int row, int field), (r, row, field), 0)                                 \
    F(char *, PQgetvalue, (const PGresult *r, int row, int field), (r, row, field), NULL)

static struct { PQ_FUNCTIONS(CSHIM_SLOT, CSHIM_SLOT, CSHIM_SLOT) } pq;
static struct cshim_lazy_library libpq = CSHIM_LAZY_LIBRARY("libpq.so.5", "NEO_LIBPQ", "a PostgreSQL database");

static void pq_load(void) {
    if (!cshim_lazy_open(&libpq)) return;
#define RESOLVE(ret, name, ...) CSHIM_RESOLVE(libpq, pq, name)
    PQ_FUNCTIONS(RESOLVE, RESOLVE, RESOLVE)
#undef RESOLVE
    libpq.loaded = 1;
}

static int pq_ready(void) {
    pthread_once(&libpq.once, pq_load);
    return libpq.loaded;
}

const char *cshim_pq_load(void) { return pq_ready() ? NULL : libpq.error; }

#define FORWARD(ret, name, params, args, missing) CSHIM_FORWARD(pq_ready, pq, ret, name, params, args, missing)
#define FORWARD_VOID(ret, name, params, args) CSHIM_FORWARD_VOID(pq_ready, pq, name, params, args)
PQ_FUNCTIONS(FORWARD, FORWARD_VOID, CSHIM_NO_FORWARD)

int cshim_pq_diag_sqlstate(void) { return PG_DIAG_SQLSTATE; }

static void ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

void cshim_pq_quiet_notices(PGconn *conn) { PQsetNoticeProcessor(conn, ignore_notice, NULL); }

int cshim_pq_wait_notifies(PGconn *conn, int timeout_ms) {
    int fd = PQsocket(conn);
    if (fd < 0 || PQstatus(conn) != CONNECTION_OK) return -1;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int rc = poll(&p, 1, timeout_ms);
    if (rc < 0) return errno == EINTR ? 0 : -1;
    if (rc > 0 && !PQconsumeInput(conn)) return -1;
    int n = 0;
    PGnotify *note;
    while ((note = PQnotifies(conn)) != NULL) {
        n++;
        PQfreemem(note);
    }
    return n;
}
