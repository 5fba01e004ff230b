#include "pq_shim.h"
#include <errno.h>
#include <poll.h>

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
