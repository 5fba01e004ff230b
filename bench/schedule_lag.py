#!/usr/bin/env python3
"""Scheduler lag with 10,000 agents due in the same minute (design §9; goal: p99 < 1 s).

Starts the release neo-server on a fresh SQLite file (real clock, NEO_RATE_LIMIT=0, NEO_LOG_LEVEL=warn), creates
AGENTS (default 10,000) SCHEDULED `* * * * *` agents with one ADD_NOTE action through the API, and waits for the
first minute boundary after the last one was created: every agent is due at that slot, and the runner starts
working through the executions as they are queued (so the scheduler competes with it for the writer).
Two lags per agent, in real seconds after the slot:
  - queued: the execution's created_at (written inside the scheduler's batch transaction, 256 agents each);
  - visible: when a reader polling schedule_slots every 20 ms first saw the slot's row committed.
Prints p50/p99/max of both and the slot's total; stdlib only; 127.0.0.1 only.

usage: schedule_lag.py   (env: NEO_SERVER_BIN (default .build/release/neo-server), AGENTS, BENCH_KEEP=1)
"""
import http.client
import json
import os
import sqlite3
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("NEO_SERVER_BIN") or os.path.join(ROOT, ".build", "release", "neo-server")
KEY = "neo_sk_test_ScheduleLagBench0123456789abcdefghij"
AGENTS = int(os.environ.get("AGENTS", "10000"))
HEADERS = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}


def parse_ts(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def fmt_ts(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def percentile(values, p):
    ordered = sorted(values)
    rank = max(1, int(-(-len(ordered) * p // 100)))
    return ordered[rank - 1]


def create(port, names, failures):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for name in names:
        conn.request("POST", "/public-api/agents", body=json.dumps({
            "name": name, "trigger_type": "SCHEDULED", "schedule": {"cron": "* * * * *"},
            "actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": "scheduled tick"}}]}), headers=HEADERS)
        r = conn.getresponse()
        body = r.read()
        if r.status != 201:
            failures.append("%d %s" % (r.status, body[:200]))
    conn.close()


def main():
    if not os.access(BIN, os.X_OK):
        raise SystemExit("schedule lag: %s missing (swift build -c release, or set NEO_SERVER_BIN)" % BIN)
    work = tempfile.mkdtemp(prefix="neo-schedule-lag-")
    db = os.path.join(work, "neo.db")
    env = dict(os.environ, NEO_HOST="127.0.0.1", NEO_PORT="0", NEO_DB=db, NEO_BOOTSTRAP_ADMIN_KEY=KEY,
               NEO_RATE_LIMIT="0", NEO_LOG_LEVEL="warn")
    log = open(os.path.join(work, "server.log"), "ab")
    proc = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.PIPE, stderr=log)
    port = None
    deadline = time.time() + 20
    while time.time() < deadline and port is None:
        line = proc.stdout.readline().decode()
        if not line:
            break
        if "listening on http://127.0.0.1:" in line:
            port = int(line.strip().rsplit(":", 1)[1])
    if port is None:
        proc.kill()
        raise SystemExit("schedule lag: server did not start; see " + log.name)
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    try:
        t0 = time.time()
        failures, threads = [], []
        names = ["lag-%05d" % i for i in range(AGENTS)]
        for n in range(8):
            t = threading.Thread(target=create, args=(port, names[n::8], failures))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        created = time.time()
        if failures:
            raise SystemExit("schedule lag: %d creates failed, e.g. %s" % (len(failures), failures[0]))
        slot = (int(created // 60) + 1) * 60
        print("schedule lag: %d agents created in %.1f s; slot %s in %.1f s" % (AGENTS, created - t0, fmt_ts(slot), slot - created))

        # Poll the committed slot rows from a reader connection until every agent's row is there.
        seen = {}
        reader = sqlite3.connect(db, timeout=10)
        slot_text = fmt_ts(slot)
        poll_deadline = slot + 60
        count = 0
        while time.time() < poll_deadline:
            now = time.time()
            if now >= slot - 0.05:
                count = reader.execute("SELECT COUNT(*) FROM schedule_slots WHERE slot = ?", (slot_text,)).fetchone()[0]
                seen.setdefault(count, now)
                if count >= AGENTS:
                    break
            time.sleep(0.02 if now >= slot - 0.5 else min(1.0, slot - 0.5 - now))
        reader.close()
        if count < AGENTS:
            raise SystemExit("schedule lag: only %d of %d slots fired within a minute" % (count, AGENTS))
        # Each agent's visible time: the first poll whose count covered it.
        marks = sorted(seen.items())
        visible = []
        for n, at in marks:
            visible += [at - slot] * (n - len(visible))

        c = sqlite3.connect(db, timeout=10)
        rows = c.execute("""SELECT created_at FROM executions WHERE json_extract("trigger", '$.scheduled_for') = ?""",
                         (slot_text,)).fetchall()
        c.close()
        queued = [parse_ts(r[0]) - slot for r in rows]
        if len(queued) != AGENTS:
            raise SystemExit("schedule lag: %d executions for the slot, expected %d" % (len(queued), AGENTS))
        print("schedule lag: queued  p50 %.3f s, p99 %.3f s, max %.3f s (%d executions, none twice)"
              % (percentile(queued, 50), percentile(queued, 99), max(queued), len(queued)))
        print("schedule lag: visible p50 %.3f s, p99 %.3f s, max %.3f s (committed rows seen by a reader polling every 20 ms)"
              % (percentile(visible, 50), percentile(visible, 99), max(visible)))
        goal = percentile(visible, 99) < 1.0
        print("schedule lag: goal p99 < 1 s %s" % ("met" if goal else "NOT met"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        if not os.environ.get("BENCH_KEEP"):
            subprocess.run(["rm", "-rf", work])
        else:
            print("schedule lag: kept", work)


if __name__ == "__main__":
    main()
