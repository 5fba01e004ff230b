#!/usr/bin/env python3
"""Mixed load for `make tsan`: drives a (ThreadSanitizer-built) neo-server for a few seconds, stops it
with SIGTERM and checks that it exited 0.

Starts a local upstream on 127.0.0.1 (an API that wants OAuth2 bearer tokens, and the token endpoint
that issues them with expires_in=31, so every second a token is due for refresh and the executor's
single-flight refresh runs under load; every 25th API call answers 401, so the invalidate-and-retry
path runs too). Then THREADS client threads mix: create an agent, PUT a patch, run-now (the run calls the
upstream through the executor), list agents, list executions, read an execution, and invoke the external
API directly. Stdlib only; 127.0.0.1 only; bounded by TSAN_LOAD_SECONDS and a fixed iteration count.

usage: tsan_load.py WORKDIR   (env: NEO_SERVER_BIN, TSAN_LOAD_THREADS, TSAN_LOAD_SECONDS, TSAN_LOAD_SEED)
The server's stderr goes to WORKDIR/server.log.
"""
import http.client
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from neo_server import NeoServer, request as send  # noqa: E402
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("NEO_SERVER_BIN") or os.path.join(ROOT, ".build-tsan", "debug", "neo-server")
KEY = "neo_sk_test_TsanLoadAdmin0123456789abcdefghijklm"
THREADS = int(os.environ.get("TSAN_LOAD_THREADS", "6"))
SECONDS = float(os.environ.get("TSAN_LOAD_SECONDS", "10"))
HEADERS = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
CLIENT_SECRET = "tsan-client-secret"


class Upstream(BaseHTTPRequestHandler):
    """/token issues `tok-N`; /api/... wants a bearer token from /token."""
    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    stats = {"tokens": 0, "calls": 0}

    def log_message(self, *args):
        pass

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        path = urllib.parse.urlsplit(self.path).path
        if path == "/token":
            form = dict(urllib.parse.parse_qsl(body))
            if form.get("client_secret") != CLIENT_SECRET:
                return self.reply(401, {"error": "invalid_client"})
            with self.lock:
                self.stats["tokens"] += 1
                n = self.stats["tokens"]
            return self.reply(200, {"access_token": "tok-%d" % n, "token_type": "Bearer", "expires_in": 31})
        if path.startswith("/api"):
            with self.lock:
                self.stats["calls"] += 1
                n = self.stats["calls"]
            if not self.headers.get("Authorization", "").startswith("Bearer tok-") or n % 25 == 0:
                return self.reply(401, {"error": "invalid_token"})
            return self.reply(200, {"ok": True, "path": path, "body": body})
        return self.reply(404, {"error": "no such path"})

    do_GET = do_POST = do_PUT = handle_any


def Server(workdir, upstream_port):
    # a TSan build starts slowly
    return NeoServer(BIN, KEY, os.path.join(workdir, "neo.db"), os.path.join(workdir, "server.log"), name="tsan load",
                     start_timeout=60, NEO_UPSTREAM_POLICY="loopback", NEO_LOG_LEVEL="info", NEO_THREADS="2")


def request(conn, method, path, body=None):
    return send(conn, method, path, body, HEADERS)


def setup(port, upstream):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    auth = {"type": "oauth2_client_credentials", "token_url": upstream + "/token",
            "params": [{"key": "grant_type", "value": "client_credentials"}, {"key": "client_id", "value": "tsan"},
                       {"key": "client_secret", "value": CLIENT_SECRET, "secret": True}]}
    status, body = request(conn, "POST", "/public-api/external-apis",
                           {"name": "tsan_api", "endpoint_url": upstream + "/api/items", "method": "POST",
                            "auth": auth, "requires_approval": False})
    if status != 201:
        raise SystemExit("tsan load: creating the external API answered %d: %s" % (status, body))


AGENT_ACTIONS = [
    {"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "tsan_api", "body": {"t": "{{input.ticket}}"}}},
    {"action_type": "ADD_NOTE", "input_as_dict": {"template": "posted {{input.ticket}}"}},
]


def client(n, port, deadline, counts, failures, rng):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    agents, executions = [], []
    for i in range(5000):  # bounded; the deadline ends it first
        if time.time() > deadline:
            break
        roll = rng.random()
        try:
            if not agents or roll < 0.15:
                op = "create"
                status, body = request(conn, "POST", "/public-api/agents",
                                       {"name": "tsan-%d-%d" % (n, i), "trigger_type": "TRIGGERED", "actions": AGENT_ACTIONS})
                if status == 201:
                    agents.append(body["data"]["id"])
            elif roll < 0.30:
                op = "put"
                status, body = request(conn, "PUT", "/public-api/agents/" + rng.choice(agents),
                                       {"description": "patch %d" % i})
            elif roll < 0.50:
                op = "run-now"
                status, body = request(conn, "POST", "/public-api/agents/%s/run-now" % rng.choice(agents),
                                       {"target_entity_id": "T-%d" % i, "input": {"ticket": "T-%d" % i}})
                if status in (200, 201, 202):
                    executions.append(body["data"]["execution_id"])
            elif roll < 0.60:
                op = "list-agents"
                status, body = request(conn, "GET", "/public-api/agents?page_size=20")
            elif roll < 0.70:
                op = "list-executions"
                status, body = request(conn, "GET", "/public-api/executions?page_size=20")
            elif roll < 0.78 and executions:
                op = "get-execution"
                status, body = request(conn, "GET", "/public-api/executions/" + rng.choice(executions))
            else:
                op = "invoke"
                status, body = request(conn, "POST", "/public-api/external-apis/tsan_api/invoke", {"body": {"i": i}})
        except (OSError, http.client.HTTPException) as e:
            failures.append("%s: %r" % (op, e))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        counts[op] = counts.get(op, 0) + 1
        if status >= 500 and not (op == "invoke" and status in (502, 504)):
            failures.append("%s answered %d: %s" % (op, status, json.dumps(body)[:300]))


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    workdir = sys.argv[1]
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % upstream.server_address[1]
    server = Server(workdir, upstream.server_address[1])
    started = time.time()
    try:
        setup(server.port, base)
        seed = int(os.environ.get("TSAN_LOAD_SEED", "12"))
        deadline = time.time() + SECONDS
        counts = [{} for _ in range(THREADS)]
        failures = []
        threads = [threading.Thread(target=client, args=(n, server.port, deadline, counts[n], failures,
                                                         random.Random(seed + n)))
                   for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 120)
    finally:
        code = server.stop(timeout=30)
        upstream.shutdown()
    total = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    print("tsan load: %d requests in %.1f s (%s); upstream: %d token grants, %d API calls; server exit %s"
          % (sum(total.values()), time.time() - started, ", ".join("%s %d" % kv for kv in sorted(total.items())),
             Upstream.stats["tokens"], Upstream.stats["calls"], code))
    for f in failures[:10]:
        print("  unexpected: " + f)
    if failures or code != 0:
        raise SystemExit("tsan load: %d unexpected answers, server exit %s (log: %s)" % (len(failures), code, server.log_path))


if __name__ == "__main__":
    main()
