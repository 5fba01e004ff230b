#!/usr/bin/env python3
"""Crash durability: acknowledged writes survive SIGKILL (design §7).

Each round: start neo-server on one SQLite file (the same file every round), drive concurrent
writes (create agents, PUT patches, run-now executions) from several threads, record every
write answered 2xx, SIGKILL the server at a random moment, run PRAGMA integrity_check on the
file, restart the server on it and GET every acknowledged agent, version and execution. The
last round re-checks every write acknowledged in any round, waits for every queued or
interrupted execution to reach an end state, and checks that every acknowledged run succeeded:
a run the kill interrupted is taken over by the restarted server (its lease, design §11) and
finishes, as a later attempt, instead of failing. Stdlib only; 127.0.0.1 only;
every loop bounded in count and time.

usage: crash_durability.py ROUNDS   (env: NEO_SERVER_BIN, DURABILITY_THREADS, DURABILITY_SEED,
       DURABILITY_KEEP=1 keeps the DB and server log)
"""
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from neo_server import NeoServer, request as send  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("NEO_SERVER_BIN") or os.path.join(ROOT, ".build", "debug", "neo-server")
KEY = "neo_sk_test_DurabilityAdmin0123456789abcdefghijk"
THREADS = int(os.environ.get("DURABILITY_THREADS", "6"))
HEADERS = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
AGENT = {"trigger_type": "TRIGGERED", "description": "durability",
         "actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": "x"}}]}


def Server(work, db):
    return NeoServer(BIN, KEY, db, os.path.join(work, "server.log"), name="durability",
                     NEO_LOG_LEVEL="warn", NEO_THREADS="2")


def request(conn, method, path, body=None):
    return send(conn, method, path, body, HEADERS)


class Acks:
    """Every write the server acknowledged (answered 2xx with a complete body)."""
    def __init__(self):
        self.lock = threading.Lock()
        self.agents = set()        # agent ids
        self.versions = {}         # agent id -> {version: name}
        self.executions = set()    # execution ids
        self.errors = []           # unexpected answers (5xx other than 503, or 4xx)

    def merge(self, other):
        self.agents |= other.agents
        for a, vs in other.versions.items():
            self.versions.setdefault(a, {}).update(vs)
        self.executions |= other.executions

    def count(self):
        return len(self.agents), sum(len(v) for v in self.versions.values()), len(self.executions)


def writer(port, n, acks, stop, rng):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    mine = []
    for i in range(100000):  # bounded; `stop` ends it first
        if stop.is_set():
            break
        try:
            roll = rng.random()
            if not mine or roll < 0.3:
                status, body = request(conn, "POST", "/public-api/agents", dict(AGENT, name="t%d-a%d" % (n, i)))
                if status == 201:
                    aid = body["data"]["id"]
                    with acks.lock:
                        acks.agents.add(aid)
                        acks.versions.setdefault(aid, {})[body["data"]["version"]] = body["data"]["name"]
                    mine.append(aid)
                    continue
            elif roll < 0.7:
                aid = rng.choice(mine)
                name = "t%d-p%d" % (n, i)
                status, body = request(conn, "PUT", "/public-api/agents/" + aid, {"name": name})
                if status == 200:
                    with acks.lock:
                        acks.versions.setdefault(aid, {})[body["data"]["version"]] = name
                    continue
            else:
                aid = rng.choice(mine)
                status, body = request(conn, "POST", "/public-api/agents/%s/run-now" % aid, {"target_entity_id": "T"})
                if status == 202:
                    with acks.lock:
                        acks.executions.add(body["data"]["execution_id"])
                    continue
            if status != 503:
                with acks.lock:
                    acks.errors.append("%d %s" % (status, json.dumps(body)[:200]))
        except (OSError, http.client.HTTPException, ValueError):
            # the kill landed: whatever was in flight is unacknowledged
            if stop.is_set():
                break
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            time.sleep(0.01)
    conn.close()


def integrity(db):
    c = sqlite3.connect(db, timeout=10)
    try:
        return c.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        c.close()


def verify(port, acks):
    """GETs every acknowledged write; returns a list of problems."""
    problems = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for aid in sorted(acks.agents | set(acks.versions), key=int):
        status, body = request(conn, "GET", "/public-api/agents/" + aid)
        if status != 200:
            problems.append("agent %s acknowledged but GET is %d" % (aid, status))
            continue
        acked = acks.versions.get(aid, {})
        if not acked:
            continue
        top = max(acked)
        current = body["data"]["version"]
        if current < top:
            problems.append("agent %s at version %d, acknowledged %d" % (aid, current, top))
        elif current == top and body["data"]["name"] != acked[top]:
            problems.append("agent %s version %d named %r, acknowledged %r" % (aid, top, body["data"]["name"], acked[top]))
        status, body = request(conn, "GET", "/public-api/agents/%s/versions?page_size=200" % aid)
        stored = {v["version"] for v in (body or {}).get("data", [])} if status == 200 else set()
        missing = sorted(set(acked) - stored)
        if missing:
            problems.append("agent %s versions %s acknowledged but not listed" % (aid, missing))
    for eid in sorted(acks.executions):
        status, _ = request(conn, "GET", "/public-api/executions/" + eid)
        if status != 200:
            problems.append("execution %s acknowledged but GET is %d" % (eid, status))
    conn.close()
    return problems


def settled(port, timeout=60):
    """After the last restart every interrupted or queued execution must reach an end state."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    deadline = time.time() + timeout
    try:
        while True:
            status, body = request(conn, "GET", "/public-api/executions?status=queued,running&page_size=200")
            left = len(body["data"]) if status == 200 else -1
            if left == 0:
                return []
            if time.time() > deadline:
                return ["%s executions still queued or running %ds after the restart" % (left if left >= 0 else "?", timeout)]
            time.sleep(0.2)
    finally:
        conn.close()


def outcomes(port, acks):
    """After settling: every acknowledged run (an ADD_NOTE agent) succeeded; returns (problems, taken over)."""
    problems, taken = [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for eid in sorted(acks.executions):
        status, body = request(conn, "GET", "/public-api/executions/" + eid)
        data = (body or {}).get("data") or {}
        if status != 200 or data.get("status") != "succeeded":
            problems.append("execution %s ended %s: %s" % (eid, data.get("status"), data.get("error")))
        if data.get("attempt", 0) > 1:
            taken += 1
    conn.close()
    return problems, taken


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seed = int(os.environ.get("DURABILITY_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    if not os.access(BIN, os.X_OK):
        raise SystemExit("durability: %s missing (swift build, or set NEO_SERVER_BIN)" % BIN)
    work = tempfile.mkdtemp(prefix="neo-durability-")
    db = os.path.join(work, "neo.db")
    print("durability: %d rounds, %d writer threads, seed %d, db %s" % (rounds, THREADS, seed, db))
    everything = Acks()
    failed = False
    started = time.time()
    for rnd in range(1, rounds + 1):
        server = Server(work, db)
        acks, stop = Acks(), threading.Event()
        threads = [threading.Thread(target=writer, args=(server.port, n, acks, stop, random.Random(rng.random())))
                   for n in range(THREADS)]
        for t in threads:
            t.start()
        kill_after = rng.uniform(0.3, 2.5)
        time.sleep(kill_after)
        code = server.stop(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        check = integrity(db)
        everything.merge(acks)
        last = rnd == rounds
        server = Server(work, db)
        problems = verify(server.port, everything if last else acks)
        taken = 0
        if last:
            problems += settled(server.port)
            if not problems:
                failed_runs, taken = outcomes(server.port, everything)
                problems += failed_runs
        server.stop(signal.SIGTERM)
        final_check = integrity(db) if last else "ok"
        a, v, e = acks.count()
        ok = code == -signal.SIGKILL and check == "ok" and final_check == "ok" and not problems and not acks.errors
        failed |= not ok
        print("round %2d: killed after %.2fs; acknowledged %4d agents, %4d versions, %4d executions; "
              "integrity %s; %s" % (rnd, kill_after, a, v, e, check,
                                    "all present" if not problems else "%d MISSING" % len(problems)))
        if last:
            print("    every acknowledged run ended; %d of them on a later attempt (taken over after a kill)" % taken)
        for p in (problems + acks.errors)[:20]:
            print("   ", p)
        if final_check != "ok":
            print("    integrity after the final restart:", final_check)
    a, v, e = everything.count()
    print("durability: %s after %d rounds in %.0fs (%d agents, %d versions, %d executions acknowledged, "
          "all re-checked after the last restart)" % ("FAILED" if failed else "ok", rounds, time.time() - started, a, v, e))
    if not failed and not os.environ.get("DURABILITY_KEEP"):
        subprocess.run(["rm", "-rf", work])
    else:
        print("durability: kept", work)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
