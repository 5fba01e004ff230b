/* The baseline for bench/callbacks.sh: raw SQLite commits on the disk the server's database is on,
 * with the server's settings (WAL, synchronous=FULL): one small INSERT per transaction, one writer.
 * usage: sqlite_commit_loop DB_PATH COMMITS   prints "commits_per_second N" */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int run(sqlite3 *db, const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK) {
        fprintf(stderr, "sqlite_commit_loop: %s: %s\n", sql, error ? error : "?");
        sqlite3_free(error);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: sqlite_commit_loop DB_PATH COMMITS\n");
        return 2;
    }
    long commits = atol(argv[2]);
    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) return 1;
    if (run(db, "PRAGMA journal_mode=WAL") || run(db, "PRAGMA synchronous=FULL") ||
        run(db, "CREATE TABLE IF NOT EXISTS loop (id INTEGER PRIMARY KEY, at TEXT, payload TEXT)")) return 1;
    sqlite3_stmt *insert;
    if (sqlite3_prepare_v2(db, "INSERT INTO loop (at, payload) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ'), ?)", -1, &insert, NULL) != SQLITE_OK) return 1;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < commits; i++) {
        if (run(db, "BEGIN IMMEDIATE")) return 1;
        sqlite3_bind_text(insert, 1, "a callback-sized row would be larger; this is the commit itself", -1, SQLITE_STATIC);
        if (sqlite3_step(insert) != SQLITE_DONE) return 1;
        sqlite3_reset(insert);
        if (run(db, "COMMIT")) return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    printf("commits_per_second %.1f\n", (double)commits / seconds);
    sqlite3_finalize(insert);
    sqlite3_close(db);
    return 0;
}
