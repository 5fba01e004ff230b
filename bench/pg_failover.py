#!/usr/bin/env python3
"""Failover of the PostgreSQL primary under a running neo-server (design §11).

Two throw-away clusters in one temp directory, like scripts/pg-harness.sh (initdb as the unprivileged user neo-pg,
127.0.0.1 only, random ports, sockets inside the directory): a primary and a streaming-replication standby made with
`pg_basebackup -R`. The primary runs with synchronous_commit=on and synchronous_standby_names naming the standby, so a
commit is acknowledged only once the standby has flushed it: an acknowledged write is a replicated write.

neo-server starts once, on the multi-host URI postgresql://neo:…@127.0.0.1:P1,127.0.0.1:P2/postgres
?target_session_attrs=read-write. Each round: writers create agents through it; the primary is stopped with
`pg_ctl stop -m immediate` (a crash: no shutdown checkpoint, sessions cut); for AWAY seconds every request must answer
503 UNAVAILABLE (never 500, never a hang past the client's timeout); the standby is promoted (`pg_ctl promote`); the
same server process must answer 2xx again within RECOVER seconds, with no restart; every write acknowledged before,
during and after must be there. The old primary's directory is then rebuilt as a standby of the new primary (a fresh
pg_basebackup, synchronous again), so the next round fails over the other way.

usage: pg_failover.py [--quick]   (quick: 1 round, 1 writer; else PG_FAILOVER_ROUNDS, default 3, and 4 writers)
env: NEO_SERVER_BIN (default .build/debug/neo-server), PG_FAILOVER_KEEP=1 keeps the directory. Stdlib only.
"""
import glob
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from neo_server import NeoServer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("NEO_SERVER_BIN") or os.path.join(ROOT, ".build", "debug", "neo-server")
QUICK = "--quick" in sys.argv
ROUNDS = 1 if QUICK else int(os.environ.get("PG_FAILOVER_ROUNDS", "3"))
WRITERS = 1 if QUICK else 4
AWAY = 2.0          # seconds the database is away before the promotion
RECOVER = 30.0      # seconds the server may take to answer again after it
KEY = "neo_sk_test_FailoverAdmin0123456789abcdefghijklmn"
USER = "neo-pg"
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in p.split("/")[-2].split(".")])[-1]


def as_user(args, **kw):
    cmd = (["runuser", "-u", USER, "--"] if os.getuid() == 0 else []) + args
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    """One PostgreSQL data directory and its server on 127.0.0.1:port."""
    def __init__(self, work, name):
        self.name = name
        self.data = os.path.join(work, name)
        self.port = free_port()
        self.log = os.path.join(work, name + ".log")

    def start(self, sync_standby=None):
        options = "-c listen_addresses=127.0.0.1 -p %d -k %s -c cluster_name=%s -c wal_level=replica -c max_wal_senders=5 " \
                  "-c hot_standby=on -c synchronous_commit=on -c wal_keep_size=256MB -c max_connections=100" % (
                      self.port, os.path.dirname(self.data), self.name)
        if sync_standby:
            # walreceivers report cluster_name as their application_name: commits wait for that standby's flush.
            options += " -c synchronous_standby_names=%s" % sync_standby
        as_user([PG_BIN + "/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", options, "start"])

    def stop_immediate(self):
        as_user([PG_BIN + "/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"])

    def stop(self):
        subprocess.run((["runuser", "-u", USER, "--"] if os.getuid() == 0 else []) +
                       [PG_BIN + "/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def promote(self):
        as_user([PG_BIN + "/pg_ctl", "-D", self.data, "-w", "promote"])

    def psql(self, sql, password):
        out = subprocess.run(["psql", "-qAt", "-v", "ON_ERROR_STOP=1",
                              "postgresql://neo:%s@127.0.0.1:%d/postgres" % (password, self.port), "-c", sql],
                             check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return out.stdout.decode().strip()


def base_backup(standby, primary, password):
    """`pg_basebackup -R` of `primary` into `standby`'s (empty) directory: standby.signal and primary_conninfo."""
    shutil.rmtree(standby.data, ignore_errors=True)
    env = dict(os.environ, PGPASSWORD=password)
    cmd = (["runuser", "-u", USER, "--", "env", "PGPASSWORD=" + password] if os.getuid() == 0 else []) + [
        PG_BIN + "/pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "neo", "-D", standby.data,
        "-R", "-X", "stream", "-c", "fast"]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_sync(primary, standby, password, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = primary.psql("SELECT string_agg(application_name || ':' || sync_state, ',') FROM pg_stat_replication", password)
        if "%s:sync" % standby.name in state:
            return
        time.sleep(0.2)
    raise SystemExit("pg-failover: %s never became a synchronous standby of %s" % (standby.name, primary.name))


class Writer(threading.Thread):
    """Creates agents one after another; records every acknowledged (201) name and every other answer by kind."""
    def __init__(self, port, tag):
        super().__init__(daemon=True)
        self.port, self.tag = port, tag
        self.acked = []
        self.answers = []      # (t, status, code) of every request
        self.stopping = False
        self.n = 0

    def run(self):
        while not self.stopping:
            self.n += 1
            name = "%s-%d" % (self.tag, self.n)
            body = json.dumps({"name": name, "trigger_type": "NONE", "actions": []})
            status, code = 0, None
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                conn.request("POST", "/public-api/agents", body, {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
                r = conn.getresponse()
                status = r.status
                data = json.loads(r.read() or b"{}")
                code = (data.get("error") or {}).get("code")
                conn.close()
            except (OSError, http.client.HTTPException, ValueError) as e:
                code = "client: %s" % type(e).__name__
            self.answers.append((time.time(), status, code))
            if status == 201:
                self.acked.append(name)
            elif status == 503:
                time.sleep(0.05)


def main():
    if not os.path.exists(BIN):
        raise SystemExit("pg-failover: no %s (swift build first)" % BIN)
    work = tempfile.mkdtemp(prefix="neo-pg-failover-")
    os.chmod(work, 0o755)
    if os.getuid() == 0:
        shutil.chown(work, USER)
    password = secrets.token_hex(16)
    clusters = [Cluster(work, "node_a"), Cluster(work, "node_b")]
    server = None
    failures = []
    try:
        pwfile = os.path.join(work, "pwfile")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        if os.getuid() == 0:
            shutil.chown(pwfile, USER)
        as_user([PG_BIN + "/initdb", "-D", clusters[0].data, "-U", "neo", "--pwfile=" + pwfile, "--auth-local=trust",
                 "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
        os.remove(pwfile)
        primary, standby = clusters
        primary.start(sync_standby=standby.name)
        base_backup(standby, primary, password)
        standby.start()
        wait_sync(primary, standby, password)
        url = "postgresql://neo:%s@127.0.0.1:%d,127.0.0.1:%d/postgres?target_session_attrs=read-write&connect_timeout=3" % (
            password, clusters[0].port, clusters[1].port)
        server = NeoServer(BIN, KEY, url, os.path.join(work, "server.log"), name="pg-failover", NEO_LOG_LEVEL="warn",
                           NEO_THREADS="2", NEO_DB_CONNECTIONS="8", NEO_SECRET_KEY_FILE=os.path.join(work, "secret.key"))
        print("pg-failover: PostgreSQL %s, primary %s:%d, synchronous standby %s:%d, neo-server on %d" % (
            os.path.basename(os.path.dirname(PG_BIN)), primary.name, primary.port, standby.name, standby.port, server.port))
        acked = []
        for rnd in range(1, ROUNDS + 1):
            writers = [Writer(server.port, "r%dw%d" % (rnd, i)) for i in range(WRITERS)]
            for w in writers:
                w.start()
            time.sleep(1.5)
            before = sum(len(w.acked) for w in writers)
            t_stop = time.time()
            primary.stop_immediate()
            time.sleep(AWAY)
            t_promote = time.time()
            standby.promote()
            # Answers while away: after the first one that saw the stop, until the promotion.
            recovered_at = None
            deadline = time.time() + RECOVER
            while time.time() < deadline and recovered_at is None:
                for w in writers:
                    for t, status, _ in list(w.answers):
                        if t > t_promote and status == 201:
                            recovered_at = t if recovered_at is None else min(recovered_at, t)
                time.sleep(0.05)
            time.sleep(1.0)
            for w in writers:
                w.stopping = True
            for w in writers:
                w.join(20)
            answers = [a for w in writers for a in w.answers]
            away = [a for a in answers if t_stop + 0.5 < a[0] < t_promote]
            away_503 = [a for a in away if a[1] == 503 and a[2] == "UNAVAILABLE"]
            bad = [a for a in answers if a[1] not in (201, 503)]
            round_acked = [n for w in writers for n in w.acked]
            acked += round_acked
            print("pg-failover: round %d: %d acknowledged (%d before the stop), %d answers while away: %d were 503 UNAVAILABLE; "
                  "first 201 after the promotion %s; other answers: %s" % (
                      rnd, len(round_acked), before, len(away), len(away_503),
                      "%.2f s after it" % (recovered_at - t_promote) if recovered_at else "never",
                      sorted(set((a[1], a[2]) for a in bad)) or "none"))
            if not away or len(away_503) != len(away):
                failures.append("round %d: while the database was away not every answer was 503 UNAVAILABLE: %s" % (
                    rnd, sorted(set((a[1], a[2]) for a in away))))
            if recovered_at is None:
                failures.append("round %d: no write succeeded within %.0f s of the promotion" % (rnd, RECOVER))
            if bad:
                failures.append("round %d: answers other than 201 and 503: %s" % (rnd, sorted(set((a[1], a[2]) for a in bad))))
            # Every acknowledged write (every round so far) is on the new primary.
            stored = set(standby.psql("SELECT name FROM agents", password).split("\n"))
            missing = [n for n in acked if n not in stored]
            print("pg-failover: round %d: %d of %d acknowledged agents on the new primary %s" % (
                rnd, len(acked) - len(missing), len(acked), standby.name))
            if missing:
                failures.append("round %d: acknowledged writes lost: %s" % (rnd, missing[:10]))
            listed = server.request("GET", "/public-api/agents?page_size=1")
            if listed[0] != 200:
                failures.append("round %d: GET after recovery answered %s" % (rnd, listed[0]))
            if rnd < ROUNDS:
                # The old primary comes back as the new primary's synchronous standby; fail over the other way next.
                old = primary
                primary, standby = standby, old
                primary.stop()
                primary.start(sync_standby=standby.name)
                base_backup(standby, primary, password)
                standby.start()
                wait_sync(primary, standby, password)
        code = server.stop()
        server = None
        if code != 0:
            failures.append("the server exited %s on SIGTERM" % code)
    finally:
        if server is not None:
            server.stop()
        for c in clusters:
            c.stop()
        if os.environ.get("PG_FAILOVER_KEEP") == "1":
            print("pg-failover: kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        for f in failures:
            print("pg-failover: FAIL: " + f)
        sys.exit(1)
    print("pg-failover: OK: %d round(s), every acknowledged write present, 503 while away, recovered without a restart" % ROUNDS)


if __name__ == "__main__":
    main()
