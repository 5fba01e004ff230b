/* The floor of one callback's write on this schema (bench/RESULTS.md, issue 13): the rows a receipt of
 * bench/callbacks.sh stores (5 executions, the callback, its agent set looked up, the audit row with the
 * stored row read back for its digest, 5 callback_entity_runs), written by one thread in C with prepared
 * statements, BATCH callbacks per transaction, each in its own savepoint, as the server's group commit
 * does (WAL, synchronous=NORMAL, foreign keys on, then an fdatasync of the WAL per commit as WALSync does;
 * SQLite's own checkpoints). Nothing else runs: no HTTP, no JSON, no matching. Run on a copy of a database
 * bench/callbacks.sh's seed made and a first callback warmed (it needs the tenant, the 1,000 agents and their
 * agent set). FLOOR_NO_SYNC=1 leaves out the fdatasync and FLOOR_NO_CHECKPOINT=1 SQLite's checkpoints (the WAL
 * then grows ~200 MiB a second; bench/callbacks.sh runs it so, in /dev/shm); FLOOR_SKIP (below) leaves out rows.
 * usage: callback_write_floor DB SECONDS BATCH    prints "callbacks_per_second N commits_per_second M" */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(sqlite3 *db, const char *what) {
    fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) die(db, sql);
    return s;
}

static void step(sqlite3 *db, sqlite3_stmt *s) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {}
    if (rc != SQLITE_DONE) die(db, sqlite3_sql(s));
    sqlite3_reset(s);
}

static void exec(sqlite3 *db, const char *sql) {
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) die(db, sql);
}

/* A time-ordered id shaped like SecureRandom.timeOrderedUUID's. */
static void uuid7(char out[48]) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    unsigned long long ms = (unsigned long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
    unsigned long long r1 = ((unsigned long long)random() << 31) ^ random(), r2 = ((unsigned long long)random() << 31) ^ random();
    snprintf(out, 48, "%08llx-%04llx-7%03llx-%04llx-%012llx", (ms >> 16) & 0xffffffffULL, ms & 0xffff, r1 & 0xfff, 0x8000 | ((r1 >> 12) & 0x3fff),
             r2 & 0xffffffffffffULL);
}

static void stamp(char out[64]) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, t.tv_nsec / 1000000);
}

#define T(s, i, v) sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT)

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DB SECONDS BATCH\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[2]);
    int batch = atoi(argv[3]);
    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) die(db, "open");
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
             "PRAGMA cache_size=-16384");
    if (getenv("FLOOR_NO_CHECKPOINT")) exec(db, "PRAGMA wal_autocheckpoint=0");
    char walpath[4096];
    snprintf(walpath, sizeof walpath, "%s-wal", argv[1]);
    sqlite3_stmt *agentset = prep(db, "SELECT digest FROM callback_agent_sets WHERE tenant_id = 1 LIMIT 1");
    if (sqlite3_step(agentset) != SQLITE_ROW) die(db, "no agent set: seed with bench/callbacks.sh first");
    char digest[128];
    snprintf(digest, sizeof digest, "%s", (const char *)sqlite3_column_text(agentset, 0));
    sqlite3_finalize(agentset);
    sqlite3_stmt *find = prep(db, "SELECT * FROM callbacks WHERE tenant_id = 1 AND event_id = ?");
    sqlite3_stmt *insExec = prep(db,
        "INSERT INTO executions (id, tenant_id, agent_id, agent_name, kind, status, entity_id, entity_number,"
        " additional_custom_instructions, input, test_mode, retry_of, created_by_key_id, created_at, updated_at, started_at, agent_version,"
        " trigger, run_after, trace_id, trace_state) VALUES (?, 1, ?, ?, 'agent_run', 'queued', ?, ?, NULL, ?, 0, NULL, 1, ?, ?, NULL, 1, ?, ?, NULL, NULL)");
    sqlite3_stmt *setPresent = prep(db, "SELECT 1 FROM callback_agent_sets WHERE tenant_id = 1 AND digest = ?");
    sqlite3_stmt *insCallback = prep(db,
        "INSERT INTO callbacks (id, tenant_id, event_id, entity_type, entity_id, entity_number, change_type, entity, changes, changes_from,"
        " source, created_in_psa_at, matcher_run_id, started_workflow_ids, failed_to_match_workflow_ids, workflow_matches,"
        " started_executions, run_after, error_message, created_at, finished_processing_at, agent_set)"
        " VALUES (?, 1, ?, 'ticket', ?, NULL, 'CREATE', ?, '[]', 'none', '{\"type\":\"api\",\"key_id\":1}', NULL, ?, ?, '[]', ?, ?, ?, NULL, ?, ?, ?)");
    sqlite3_stmt *readBack = prep(db, "SELECT * FROM callbacks WHERE tenant_id = 1 AND id = ?");
    sqlite3_stmt *insAudit = prep(db,
        "INSERT INTO audit_log (tenant_id, at, key_id, actor, method, route, resource_type, resource_id, status, request_id, before_sha256, after_sha256)"
        " VALUES (1, ?, 1, 'user', 'POST', '/public-api/callbacks', 'callback', ?, 202, ?, NULL, ?)");
    sqlite3_stmt *insRun = prep(db,
        "INSERT INTO callback_entity_runs (tenant_id, entity_id, agent_id, callback_id, execution_id, created_at) VALUES (1, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING");
    /* FLOOR_SKIP=executions,callback,audit,runs leaves those writes out, to see what each costs. */
    const char *skip = getenv("FLOOR_SKIP") ? getenv("FLOOR_SKIP") : "";
    int skipExec = strstr(skip, "executions") != NULL, skipCallback = strstr(skip, "callback") != NULL,
        skipAudit = strstr(skip, "audit") != NULL, skipRuns = strstr(skip, "runs") != NULL;
    char matches[1001];
    memset(matches, 'c', 1000);
    matches[1000] = 0;
    int fd = -1;
    long callbacks = 0, commits = 0;
    double t0 = now_s();
    while (now_s() - t0 < seconds) {
        exec(db, "BEGIN IMMEDIATE");
        for (int b = 0; b < batch; b++, callbacks++) {
            char cid[48], ts[64], later[64], entity[64], event[64], runs[5][48], input[512], trigger[128], started[512], ids[64];
            uuid7(cid);
            stamp(ts);
            snprintf(later, sizeof later, "%s", ts);
            later[12] = later[12] == '9' ? '0' : later[12] + 1;  /* an hour on, near enough */
            snprintf(entity, sizeof entity, "floor-%ld", callbacks);
            snprintf(event, sizeof event, "floor-ev-%d-%ld", getpid(), callbacks);
            int company = callbacks % 200;
            char body[200];
            snprintf(body, sizeof body,
                     "{\"summary\":\"Printer on fire #%ld\",\"status\":\"New\",\"board\":\"Help Desk\",\"priority\":2,\"company\":{\"name\":\"Company %d\",\"id\":%d}}",
                     callbacks, company, company);
            snprintf(input, sizeof input, "{\"entity\":%s,\"changes\":[],\"change_type\":\"CREATE\"}", body);
            snprintf(trigger, sizeof trigger, "{\"type\":\"CALLBACK\",\"callback_id\":\"%s\"}", cid);
            exec(db, "SAVEPOINT s");
            T(find, 1, event);
            step(db, find);
            int agents[5];
            size_t off = 0;
            started[0] = 0;
            off += snprintf(started + off, sizeof started - off, "[");
            for (int i = 0; i < 5; i++) {
                agents[i] = 1 + company + 200 * i;
                matches[agents[i] - 1] = 'm';
                uuid7(runs[i]);
                char name[32];
                snprintf(name, sizeof name, "Bench agent %d", agents[i] - 1);
                sqlite3_bind_text(insExec, 1, runs[i], -1, SQLITE_TRANSIENT);
                sqlite3_bind_int(insExec, 2, agents[i]);
                T(insExec, 3, name);
                T(insExec, 4, entity);
                T(insExec, 5, entity);
                T(insExec, 6, input);
                T(insExec, 7, ts);
                T(insExec, 8, ts);
                T(insExec, 9, trigger);
                T(insExec, 10, later);
                if (!skipExec) step(db, insExec); else sqlite3_reset(insExec);
                off += snprintf(started + off, sizeof started - off, "%s{\"workflow_id\":%d,\"execution_id\":\"%s\"}", i ? "," : "", agents[i], runs[i]);
            }
            snprintf(started + off, sizeof started - off, "]");
            snprintf(ids, sizeof ids, "[%d,%d,%d,%d,%d]", agents[0], agents[1], agents[2], agents[3], agents[4]);
            T(setPresent, 1, digest);
            step(db, setPresent);
            char matcher[48];
            uuid7(matcher);
            T(insCallback, 1, cid);
            T(insCallback, 2, event);
            T(insCallback, 3, entity);
            T(insCallback, 4, body);
            T(insCallback, 5, matcher);
            T(insCallback, 6, ids);
            T(insCallback, 7, matches);
            T(insCallback, 8, started);
            T(insCallback, 9, later);
            T(insCallback, 10, ts);
            T(insCallback, 11, ts);
            T(insCallback, 12, digest);
            if (!skipCallback) step(db, insCallback); else sqlite3_reset(insCallback);
            for (int i = 0; i < 5; i++) matches[agents[i] - 1] = 'c';
            /* The audit row's digest reads the stored row back (the hash itself left out). */
            T(readBack, 1, cid);
            if (sqlite3_step(readBack) != SQLITE_ROW && !skipCallback) die(db, "read back");
            int cols = sqlite3_column_count(readBack);
            size_t bytes = 0;
            for (int c = 0; c < cols; c++) bytes += sqlite3_column_bytes(readBack, c);
            sqlite3_reset(readBack);
            char fake[65];
            snprintf(fake, sizeof fake, "%064zx", bytes);
            char request[48];
            uuid7(request);
            T(insAudit, 1, ts);
            T(insAudit, 2, cid);
            T(insAudit, 3, request);
            T(insAudit, 4, fake);
            if (!skipAudit) step(db, insAudit); else sqlite3_reset(insAudit);
            for (int i = 0; i < 5; i++) {
                T(insRun, 1, entity);
                sqlite3_bind_int(insRun, 2, agents[i]);
                T(insRun, 3, cid);
                T(insRun, 4, runs[i]);
                T(insRun, 5, ts);
                if (!skipRuns && !skipExec && !skipCallback) step(db, insRun); else sqlite3_reset(insRun);
            }
            exec(db, "RELEASE s");
        }
        exec(db, "COMMIT");
        if (fd < 0) fd = open(walpath, O_RDONLY);
        if (fd < 0 || (!getenv("FLOOR_NO_SYNC") && fdatasync(fd) != 0)) {
            perror("fdatasync");
            return 1;
        }
        commits++;
    }
    double t = now_s() - t0;
    printf("callbacks_per_second %.1f commits_per_second %.1f\n", callbacks / t, commits / t);
    sqlite3_close(db);
    return 0;
}
