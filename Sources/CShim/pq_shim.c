#include "pq_shim.h"

int cshim_pq_diag_sqlstate(void) { return PG_DIAG_SQLSTATE; }

static void ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

void cshim_pq_quiet_notices(PGconn *conn) { PQsetNoticeProcessor(conn, ignore_notice, NULL); }
