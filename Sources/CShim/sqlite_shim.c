#include "sqlite_shim.h"

int cshim_sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text, int nbytes) {
    return sqlite3_bind_text(stmt, index, text, nbytes, SQLITE_TRANSIENT);
}

int cshim_sqlite_bind_blob(sqlite3_stmt *stmt, int index, const void *data, int nbytes) {
    return sqlite3_bind_blob(stmt, index, data, nbytes, SQLITE_TRANSIENT);
}

int cshim_sqlite_config_memstatus_off(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
