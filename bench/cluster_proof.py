#!/usr/bin/env python3
"""Cluster proof (design §11): three nodes on one PostgreSQL, SIGKILLed one at a time, lose nothing.

Three `neo-server serve` processes share one throw-away PostgreSQL (scripts/pg-harness.sh; this script re-runs itself
under it when NEO_TEST_DB is unset), with short run leases (NEO_RUN_LEASE_SECONDS, default 2) and the scheduler on a
test clock (x30: a simulated minute every 2 real s, the same clock on every node). Six writer threads create
agents (an EXTERNAL_API_REQUEST to a local upstream on 127.0.0.1 that answers after 0.2 s, then an ADD_NOTE), rename
them (PUT) and run them (run-now), sending each request to the next node round-robin and
recording every write answered 2xx. Meanwhile a random node is SIGKILLed and restarted, KILLS times (default 20),
every 1.5-3 s; after every fourth kill another node is frozen (SIGSTOP) for twice the lease and resumed, so its
runs are taken over while it lives and its late writes must be refused. A SCHEDULED agent (`* * * * *`) fires on
whichever node ticks first. Then:

  - lost writes: every acknowledged agent, version (with its name) and execution is read back (GET);
  - double claims: attempts of each run are 1..n with one claim each (execution_attempts), every step was written by
    the node holding the attempt it names, no step of an attempt comes after a step of a later one (a stale node's
    late write), each later attempt follows a takeover step, and each succeeded run's note exists once;
  - end states: every run ends (succeeded, or failed naming why) within a bound after the writers stop;
  - scheduler slots: every fired slot has one execution, and the slots are every minute from the first to the last.

Then throughput: POST /agents acknowledged per second across the 3 nodes at once (wrk per node), on one node, and
pgbench (TPC-B-like) on the same PostgreSQL, interleaved, CLUSTER_ROUNDS rounds of CLUSTER_SECONDS each.
Stdlib only (plus wrk, psql, pgbench); 127.0.0.1 only; every loop bounded in count and time.

usage: cluster_proof.py [KILLS]   (env: NEO_SERVER_BIN, CLUSTER_SEED, CLUSTER_THREADS (6), CLUSTER_LEASE (2),
       CLUSTER_SECONDS (5), CLUSTER_ROUNDS (2), CLUSTER_KEEP=1 keeps the logs)
"""
import http.client
import http.server
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.environ.get("NEO_TEST_DB"):
    os.execv(os.path.join(ROOT, "scripts", "pg-harness.sh"), ["pg-harness.sh", "run", sys.executable] + sys.argv)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from neo_server import NeoServer, request as send  # noqa: E402
from crash_durability import KEY, HEADERS, Acks, verify  # noqa: E402

BIN = os.environ.get("NEO_SERVER_BIN") or os.path.join(ROOT, ".build", "debug", "neo-server")
THREADS = int(os.environ.get("CLUSTER_THREADS", "6"))
LEASE = float(os.environ.get("CLUSTER_LEASE", "2"))
SECONDS = int(os.environ.get("CLUSTER_SECONDS", "5"))
ROUNDS = int(os.environ.get("CLUSTER_ROUNDS", "2"))
SPEED = 30.0
BASE = os.environ["NEO_TEST_DB"]
DB = BASE + "?options=-csearch_path%3Dcluster"
AGENT = {"trigger_type": "TRIGGERED", "description": "cluster proof",
         "actions": [{"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "slow"}},
                     {"action_type": "ADD_NOTE", "input_as_dict": {"template": "x"}}]}
UPSTREAM_DELAY = 0.2


class Upstream(http.server.BaseHTTPRequestHandler):
    """The runs' external API: answers 200 after UPSTREAM_DELAY, so kills and pauses land on calls in flight."""
    protocol_version = "HTTP/1.1"
    calls = 0
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        with Upstream.lock:
            Upstream.calls += 1
        time.sleep(UPSTREAM_DELAY)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b'{"ok":true}')
        except OSError:
            pass  # the node that called died meanwhile
NODES = 3


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # a killed node's connection reset is expected
            super().handle_error(request, client_address)


def psql(sql, url=DB):
    out = subprocess.run(["psql", "-qAt", "-F", "\t", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


class Node:
    """One node slot: the server now running in it (replaced after each kill)."""
    def __init__(self, idx, work, offset):
        self.idx, self.work, self.offset = idx, work, offset
        self.lock = threading.Lock()
        self.server = None
        self.port = None
        self.start()

    def start(self):
        server = NeoServer(BIN, KEY, DB, os.path.join(self.work, "node-%d.log" % self.idx), name="node %d" % self.idx,
                           NEO_LOG_LEVEL="warn", NEO_THREADS="2", NEO_RUNNER_CONCURRENCY="4", NEO_DB_CONNECTIONS="12",
                           NEO_UPSTREAM_POLICY="loopback",
                           NEO_RUN_LEASE_SECONDS=LEASE, NEO_SECRET_KEY_FILE=os.path.join(self.work, "secret.key"),
                           # Every run must end succeeded here, so no run may run out of attempts: requeued runs go first
                           # in line and each call takes UPSTREAM_DELAY, so the same run can be in flight at 3 of 5 kills
                           # (seen twice). Failing after NEO_RUN_MAX_ATTEMPTS is RunLeaseTests' to prove, not this proof's.
                           NEO_RUN_MAX_ATTEMPTS="100",
                           NEO_TEST_CLOCK_SPEED=SPEED, NEO_TEST_CLOCK_OFFSET=repr(self.offset))
        with self.lock:
            self.server, self.port = server, server.port

    def pause(self, seconds):
        """Freezes the node past its lease, then lets it go on (its late writes must be refused)."""
        with self.lock:
            pid = self.server.proc.pid
        os.kill(pid, signal.SIGSTOP)
        time.sleep(seconds)
        os.kill(pid, signal.SIGCONT)

    def refused(self):
        """`lease lost` warnings in this slot's log (every server it ran)."""
        with open(os.path.join(self.work, "node-%d.log" % self.idx), errors="replace") as f:
            return sum(1 for line in f if '"msg":"lease lost' in line)

    def kill_and_restart(self):
        with self.lock:
            server, self.port = self.server, None
        code = server.stop(signal.SIGKILL)
        self.start()
        return code


def writer(n, nodes, acks, stop, rng):
    conns = {}
    mine = []
    for i in range(1000000):  # bounded; `stop` ends it first
        if stop.is_set():
            break
        node = nodes[(i + n) % NODES]
        port = node.port
        if port is None:
            continue
        conn = conns.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conns[port] = conn
        try:
            roll = rng.random()
            if not mine or roll < 0.3:
                status, body = send(conn, "POST", "/public-api/agents", dict(AGENT, name="w%d-a%d" % (n, i)), HEADERS)
                if status == 201:
                    aid = body["data"]["id"]
                    with acks.lock:
                        acks.agents.add(aid)
                        acks.versions.setdefault(aid, {})[body["data"]["version"]] = body["data"]["name"]
                    mine.append(aid)
                    continue
            elif roll < 0.7:
                aid = rng.choice(mine)
                name = "w%d-p%d" % (n, i)
                status, body = send(conn, "PUT", "/public-api/agents/" + aid, {"name": name}, HEADERS)
                if status == 200:
                    with acks.lock:
                        acks.versions.setdefault(aid, {})[body["data"]["version"]] = name
                    continue
            else:
                aid = rng.choice(mine)
                status, body = send(conn, "POST", "/public-api/agents/%s/run-now" % aid, {"target_entity_id": "T"}, HEADERS)
                if status == 202:
                    with acks.lock:
                        acks.executions.add(body["data"]["execution_id"])
                    continue
            if status not in (503, 409):
                with acks.lock:
                    acks.errors.append("%d %s" % (status, str(body)[:200]))
        except (OSError, http.client.HTTPException, ValueError):
            # the node died under the request: it is unacknowledged; the next request goes to the next node
            conn.close()
            conns.pop(port, None)
            time.sleep(0.01)
    for c in conns.values():
        c.close()


def settle(bound):
    """Waits for every run to end; answers the seconds it took, or None past the bound."""
    started = time.time()
    while time.time() - started < bound:
        left = int(psql("SELECT COUNT(*) FROM executions WHERE status IN ('queued', 'running')")[0][0])
        if left == 0:
            return time.time() - started
        time.sleep(0.2)
    return None


def claim_problems():
    """Double claims and stale writes, from what the database recorded; answers (problems, takeovers)."""
    problems = []
    for row in psql("""
            SELECT e.id, e.attempt, COUNT(c.attempt), COALESCE(MIN(c.attempt), 0), COALESCE(MAX(c.attempt), 0)
            FROM executions e LEFT JOIN execution_attempts c ON c.execution_id = e.id
            GROUP BY e.id, e.attempt
            HAVING e.attempt <> COUNT(c.attempt) OR e.attempt <> COALESCE(MAX(c.attempt), 0) OR COALESCE(MIN(c.attempt), 1) <> 1"""):
        problems.append("execution %s: attempt %s but claims %s (min %s, max %s)" % tuple(row))
    n = int(psql("""
            SELECT COUNT(*) FROM execution_steps s LEFT JOIN execution_attempts c ON c.execution_id = s.execution_id AND c.attempt = s.attempt
            WHERE s.attempt IS NOT NULL AND (c.node IS NULL OR c.node <> s.node)""")[0][0])
    if n:
        problems.append("%d steps written by a node that did not hold their attempt" % n)
    n = int(psql("""
            SELECT COUNT(*) FROM execution_steps s JOIN execution_steps t
              ON t.execution_id = s.execution_id AND t.attempt > s.attempt AND t.seq < s.seq""")[0][0])
    if n:
        problems.append("%d steps of an attempt written after a later attempt's (a stale node wrote late)" % n)
    for row in psql("""
            SELECT e.id, e.attempt, (SELECT COUNT(*) FROM execution_steps s WHERE s.execution_id = e.id AND s.attempt IS NULL
                                       AND s.message LIKE 'taken over from %') AS takeovers
            FROM executions e WHERE e.attempt > 1"""):
        if int(row[2]) != int(row[1]) - 1:
            problems.append("execution %s: attempt %s after %s takeover(s)" % tuple(row))
    n = int(psql("""
            SELECT COUNT(*) FROM executions e
            WHERE e.status = 'succeeded' AND (SELECT COUNT(*) FROM artifacts a WHERE a.execution_id = e.id) <> 1""")[0][0])
    if n:
        problems.append("%d succeeded runs whose note is not there exactly once" % n)
    takeovers = int(psql("SELECT COUNT(*) FROM executions WHERE attempt > 1")[0][0])
    return problems, takeovers


def slot_problems(agent_id):
    problems = []
    rows = psql("""SELECT CAST("trigger" AS jsonb)->>'scheduled_for' AS slot, COUNT(*) FROM executions
                   WHERE agent_id = %d GROUP BY 1 ORDER BY 1""" % agent_id)
    for slot, n in rows:
        if int(n) != 1:
            problems.append("slot %s has %s executions" % (slot, n))
    fired = int(psql("SELECT COUNT(*) FROM schedule_slots WHERE agent_id = %d" % agent_id)[0][0])
    if fired != len(rows):
        problems.append("%d slot rows but %d slots with executions" % (fired, len(rows)))
    times = [datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() for s, _ in rows]
    gaps = [b - a for a, b in zip(times, times[1:]) if b - a != 60]
    if gaps:
        problems.append("slots not every minute: gaps of %s s" % sorted(set(gaps)))
    if len(rows) < 2:
        problems.append("only %d slots fired" % len(rows))
    return problems, len(rows)


def wrk(port, conns, seconds, run):
    out = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "-s", os.path.join(ROOT, "bench", "agents_post.lua"),
                          "http://127.0.0.1:%d" % port], env=dict(os.environ, BENCH_KEY=KEY, BENCH_RUN=run),
                         capture_output=True, text=True).stdout
    total = next((float(line.split()[0]) for line in out.splitlines() if "requests in" in line), 0.0)
    non2xx = next((int(line.split()[-1]) for line in out.splitlines() if "Non-2xx" in line), 0)
    return (total - non2xx) / seconds


def throughput(nodes, pgbench_url):
    """(3-node writes/s, 1-node writes/s, pgbench tps) per round, interleaved."""
    pgbench = os.path.join(os.environ["PG_HARNESS_BIN"], "pgbench")
    results = []
    for rnd in range(ROUNDS):
        rates = [0.0] * NODES
        def one(i):
            rates[i] = wrk(nodes[i].port, 4, SECONDS, "c%d-%d" % (rnd, i))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(NODES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        single = wrk(nodes[0].port, 12, SECONDS, "s%d" % rnd)
        out = subprocess.run([pgbench, "-n", "-M", "prepared", "-c", "12", "-j", "2", "-T", str(SECONDS), pgbench_url],
                             capture_output=True, text=True).stdout
        tps = next((float(line.split()[2]) for line in out.splitlines() if line.startswith("tps")), 0.0)
        results.append((sum(rates), single, tps))
        print("  round %d: 3 nodes %.0f writes/s (%s), 1 node %.0f writes/s, pgbench %.0f tps"
              % (rnd + 1, sum(rates), " + ".join("%.0f" % r for r in rates), single, tps))
    return results


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def main():
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    seed = int(os.environ.get("CLUSTER_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    if not os.access(BIN, os.X_OK):
        raise SystemExit("cluster proof: %s missing (swift build, or set NEO_SERVER_BIN)" % BIN)
    work = tempfile.mkdtemp(prefix="neo-cluster-")
    psql("CREATE SCHEMA cluster", url=BASE)
    psql("CREATE DATABASE pgbench", url=BASE)
    pgbench_url = BASE.rsplit("/", 1)[0] + "/pgbench"
    subprocess.run([os.path.join(os.environ["PG_HARNESS_BIN"], "pgbench"), "-q", "-i", "-s", "10", pgbench_url],
                   check=True, capture_output=True)
    offset = time.time() * (1 - SPEED)  # the test clock reads the real time now, on every node
    print("cluster proof: %d nodes, %d kills, %d writer threads, lease %.1f s, seed %d, logs %s; load %s"
          % (NODES, kills, THREADS, LEASE, seed, work, os.getloadavg()[0]))
    nodes = [Node(0, work, offset)]  # the first migrates and makes the secret key file; the others find both
    nodes += [Node(i, work, offset) for i in range(1, NODES)]
    status, body = nodes[0].server.request("POST", "/public-api/agents", {
        "name": "every minute", "trigger_type": "SCHEDULED", "schedule": {"cron": "* * * * *"},
        "actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": "tick"}}]})
    if status != 201:
        raise SystemExit("cluster proof: scheduled agent: %d %s" % (status, body))
    scheduled = int(body["data"]["id"])
    upstream = QuietServer(("127.0.0.1", 0), Upstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    status, body = nodes[0].server.request("POST", "/public-api/external-apis", {
        "name": "slow", "endpoint_url": "http://127.0.0.1:%d/call" % upstream.server_address[1], "method": "GET",
        "requires_approval": False, "timeout_ms": 10000})
    if status != 201:
        raise SystemExit("cluster proof: external API: %d %s" % (status, body))

    acks, stop = Acks(), threading.Event()
    threads = [threading.Thread(target=writer, args=(n, nodes, acks, stop, random.Random(rng.random()))) for n in range(THREADS)]
    started = time.time()
    for t in threads:
        t.start()
    codes = []
    pauses = 0
    for k in range(kills):
        time.sleep(rng.uniform(1.5, 3.0))
        victim = rng.randrange(NODES)
        codes.append(nodes[victim].kill_and_restart())
        if k % 4 == 3:
            time.sleep(0.5)
            nodes[rng.choice([i for i in range(NODES) if i != victim])].pause(LEASE * 2)
            pauses += 1
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(timeout=20)
    phase = time.time() - started
    a, v, e = acks.count()
    acked = a + v + e
    print("  %d kills and %d pauses of %.0f s in %.0f s; acknowledged %d agents, %d versions, %d runs (%.0f writes/s across the nodes meanwhile)"
          % (kills, pauses, LEASE * 2, phase, a, v, e, acked / phase))
    nodes[0].server.request("PUT", "/public-api/agents/%d" % scheduled, {"state": "DISABLED"})

    failed = False
    bound = LEASE * 3 + 30
    took = settle(bound)
    problems = verify(nodes[0].port, acks)
    lost = len(problems)
    if took is None:
        problems.append("runs still queued or running %.0f s after the writers stopped" % bound)
    doubles, takeovers = claim_problems()
    problems += doubles
    ends = dict((s, int(n)) for s, n in psql("SELECT status, COUNT(*) FROM executions GROUP BY status"))
    for eid, error in psql("SELECT id, error FROM executions WHERE status <> 'succeeded' LIMIT 10"):
        problems.append("execution %s did not succeed: %s" % (eid, error))
    slots, fired = slot_problems(scheduled)
    problems += slots
    problems += acks.errors[:10]
    if any(c != -signal.SIGKILL for c in codes):
        problems.append("exit codes of the killed nodes: %s" % codes)
    failed = bool(problems)
    print("  lost acknowledged writes: %d; double claims or stale writes: %d; runs %s, %d taken over after a kill, all ended %s"
          % (lost, len(doubles), ", ".join("%s %d" % kv for kv in sorted(ends.items())), takeovers,
             "within %.1f s of the writers stopping" % took if took is not None else "NOT within %.0f s" % bound))
    calls = Upstream.calls
    upstream.shutdown()
    print("  late writes refused after a takeover (lease lost, logged by the node): %d; upstream calls %d for %d succeeded runs that call it "
          "(a call in flight when its node died or froze is sent again: at least once)"
          % (sum(n.refused() for n in nodes), calls, ends.get("succeeded", 0) - fired))
    print("  scheduler: %d per-minute slots fired, %s" % (fired, "each once, none skipped" if not slots else "PROBLEMS"))
    for p in problems[:20]:
        print("   ", p)

    print("  throughput, POST /public-api/agents (one committed write each) beside pgbench -M prepared -c12 on the same PostgreSQL, %d s runs:" % SECONDS)
    results = throughput(nodes, pgbench_url)
    three, one, tps = (median([r[i] for r in results]) for i in range(3))
    print("  median: 3 nodes %.0f writes/s, 1 node %.0f writes/s, pgbench %.0f tps; 3 nodes / pgbench %.2fx, 3 nodes / 1 node %.2fx; load %s"
          % (three, one, tps, three / tps if tps else 0, three / one if one else 0, os.getloadavg()[0]))
    for node in nodes:
        node.server.stop(signal.SIGTERM)
    print("cluster proof: %s (%d kills, %d runs, %d lost writes, %d double claims)"
          % ("FAILED" if failed else "ok", kills, sum(ends.values()), lost, len(doubles)))
    if not failed and not os.environ.get("CLUSTER_KEEP"):
        subprocess.run(["rm", "-rf", work])
    else:
        print("cluster proof: kept", work)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
