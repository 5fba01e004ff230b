/* SQLite helpers Swift cannot express: SQLITE_TRANSIENT is a function-pointer cast macro. */
#ifndef NEO_SQLITE_SHIM_H
#define NEO_SQLITE_SHIM_H
#include <sqlite3.h>
int cshim_sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text, int nbytes);
int cshim_sqlite_bind_blob(sqlite3_stmt *stmt, int index, const void *data, int nbytes);
/* Turns off SQLite's memory statistics (one global mutex taken on every allocation) before the library
 * initializes; returns the sqlite3_config result (SQLITE_MISUSE once initialized). sqlite3_config is variadic. */
int cshim_sqlite_config_memstatus_off(void);
#endif
