#!/usr/bin/env python3
"""AGENTIC soak (issue 14; not run in tests): N runs (default 1000) of an agent whose model, upstream and technicians
misbehave at random, and afterwards no run may be unfinished. Only 127.0.0.1.

  bench/agentic_soak.py --server BIN [-n RUNS] [--seed S]

The model (stdlib, OpenAI wire) answers a fresh conversation with one or two tool calls (a flaky lookup, a write that
needs approval, sometimes a tool that does not exist or bad JSON), answers tool results with a final message, and
now and then with a 503 (retried) or a 429 insufficient_quota (fails the run). The upstream answers 200, 500 or
slowly. The driver approves or rejects each waiting run at random and cancels a few. At the end every execution
must be succeeded, failed or cancelled, every succeeded one must end in FINAL_MESSAGE, and no loop state may be
left for a finished run.
"""
import argparse, http.client, json, os, random, socket, sqlite3, subprocess, tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = "neo_sk_test_AgenticSoak0123456789abcdefghijklmnopqrstuvwx"


def serve(handler):
    s = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s.server_address[1]


def make_model(rng, lock):
    class Model(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def reply(self, status, obj, headers=()):
            out = json.dumps(obj).encode()
            self.send_response(status); self.send_header("Content-Type", "application/json")
            for k, v in headers: self.send_header(k, v)
            self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out)
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            with lock:
                roll = rng.random()
                pick = rng.random()
            if roll < 0.03:
                return self.reply(503, {"error": {"message": "busy", "code": "overloaded"}}, [("retry-after-ms", "5")])
            if roll < 0.04:
                return self.reply(429, {"error": {"message": "no credit", "code": "insufficient_quota"}})
            msgs = body.get("messages") or []
            if msgs and msgs[-1].get("role") == "tool":
                msg = {"role": "assistant", "content": "done"}
            else:
                calls = [("lookup", json.dumps({"id": str(int(pick * 100))}))]
                if pick < 0.4: calls.append(("write", json.dumps({"id": "1", "note": "x"})))
                elif pick < 0.45: calls.append(("nonexistent", "{}"))
                elif pick < 0.5: calls.append(("lookup", "{\"id\": "))
                msg = {"role": "assistant", "content": None,
                       "tool_calls": [{"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}} for i, (n, a) in enumerate(calls)]}
            self.reply(200, {"choices": [{"index": 0, "message": msg, "finish_reason": "stop"}], "usage": {"prompt_tokens": 10, "completion_tokens": 2}})
    return Model


def make_upstream(rng, lock):
    class Upstream(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def handle_any(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock: roll = rng.random()
            if roll < 0.02: time.sleep(0.3)
            status = 500 if roll > 0.85 else 200
            out = json.dumps({"ok": status == 200}).encode()
            self.send_response(status); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out)
        do_GET = do_POST = handle_any
    return Upstream


class Client:
    def __init__(self, port): self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    def __call__(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + KEY}
        data = None
        if body is not None: data = json.dumps(body).encode(); headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True); p.add_argument("-n", type=int, default=1000); p.add_argument("--seed", type=int, default=14)
    a = p.parse_args()
    rng, lock = random.Random(a.seed), threading.Lock()
    model_port, upstream_port = serve(make_model(rng, lock)), serve(make_upstream(rng, lock))
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    work = tempfile.mkdtemp(prefix="neo-soak-agentic.")
    db = os.path.join(work, "neo.db")
    env = dict(os.environ, NEO_PORT=str(port), NEO_DB=db, NEO_BOOTSTRAP_ADMIN_KEY=KEY, NEO_RATE_LIMIT="0",
               NEO_LOG_LEVEL="warn", NEO_UPSTREAM_POLICY="loopback", NEO_RUNNER_CONCURRENCY="4")
    proc = subprocess.Popen([a.server, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "log"), "w"))
    try:
        for _ in range(300):
            try: socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); break
            except OSError: time.sleep(0.05)
        c = Client(port)
        up = f"http://127.0.0.1:{upstream_port}"
        assert c("POST", "/public-api/llm-providers", {"name": "soak", "kind": "openai_chat", "base_url": f"http://127.0.0.1:{model_port}/v1",
                                                       "model": "m", "max_retries": 2, "timeout_ms": 5000})[0] == 201
        assert c("POST", "/public-api/external-apis", {"name": "lookup", "endpoint_url": up + "/items/{id}", "method": "GET",
                                                       "requires_approval": False, "timeout_ms": 2000})[0] == 201
        assert c("POST", "/public-api/external-apis", {"name": "write", "endpoint_url": up + "/items/{id}", "method": "POST",
                                                       "body_fields": [{"name": "note", "type": "String"}], "requires_approval": True})[0] == 201
        _, agent = c("POST", "/public-api/agents", {"name": "soak", "trigger_type": "NONE", "autonomy_type": "AGENTIC",
                                                    "agent_settings": {"custom_instructions": "soak", "max_run_seconds": 60},
                                                    "toolbox": {"tool_settings_by_type": {"EXTERNAL_API_REQUEST": {"apis": ["lookup", "write"]}}}})
        agent_id = agent["data"]["id"]
        started = time.time()
        ids = [c("POST", f"/public-api/agents/{agent_id}/run-now", {})[1]["data"]["execution_id"] for _ in range(a.n)]
        decided = {"approve": 0, "reject": 0, "cancel": 0}
        while True:
            _, page = c("GET", "/public-api/til-requests?status=pending&page_size=200")
            for til in page["data"]:
                choice = rng.choice(["approve", "approve", "reject", "cancel"]) if rng.random() < 0.97 else "cancel"
                if choice == "cancel":
                    c("POST", f"/public-api/executions/{til['execution_id']}/cancel")
                else:
                    c("POST", f"/public-api/til-requests/{til['id']}/decision", {"action": choice, "note": "soak"})
                decided[choice] += 1
            _, active = c("GET", f"/public-api/executions?agent_id={agent_id}&status=queued,running,waiting_approval&page_size=1")
            if not active["data"] and not page["data"]:
                break
            if time.time() - started > 600:
                raise SystemExit("soak: runs still unfinished after 600 s")
            time.sleep(0.05)
        elapsed = time.time() - started
        counts, bad = {}, []
        for eid in ids:
            _, e = c("GET", f"/public-api/executions/{eid}")
            status = e["data"]["status"]
            counts[status] = counts.get(status, 0) + 1
            if status == "succeeded":
                _, steps = c("GET", f"/public-api/executions/{eid}/steps?page_size=200&include_data=false")
                if steps["data"][-1]["type"] != "FINAL_MESSAGE": bad.append(eid)
        leftover = sqlite3.connect(db).execute(
            "SELECT COUNT(*) FROM agent_loops l JOIN executions e ON e.id = l.execution_id WHERE e.status IN ('succeeded', 'failed')").fetchone()[0]
        unfinished = sum(v for k, v in counts.items() if k not in ("succeeded", "failed", "cancelled"))
        print(f"agentic soak: {a.n} runs in {elapsed:.1f} s, {counts}, TIL decisions {decided}, "
              f"unfinished {unfinished}, succeeded without FINAL_MESSAGE {len(bad)}, loop states left for finished runs {leftover}")
        if unfinished or bad or leftover:
            raise SystemExit(1)
    finally:
        proc.terminate(); proc.wait(timeout=15)


if __name__ == "__main__":
    main()
