/* SQLite helpers Swift cannot express: SQLITE_TRANSIENT is a function-pointer cast macro. */
#ifndef NEO_SQLITE_SHIM_H
#define NEO_SQLITE_SHIM_H
#include <sqlite3.h>
int cshim_sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text, int nbytes);
int cshim_sqlite_bind_blob(sqlite3_stmt *stmt, int index, const void *data, int nbytes);
#endif
