#!/usr/bin/env python3
"""AGENTIC bench (design §10; not run in tests): the same two-turn task — the model asks for one tool call, the tool
is one HTTP GET to a local upstream, the model answers — through neo-server and through the OpenAI Agents SDK, on the
same scripted model server and upstream (../shared/peers/agents-sdk/peer.py, which answer at once), in one run.

  bench/agentic.py --server BIN --peer PEER_PY [--sdk-python VENV_PYTHON] [-n RUNS] [-o FILE]

Measured, all on 127.0.0.1:
  neo-server, runner concurrency 1 and 4: N runs queued through run-now, timed from the first run's started_at to the
    last one's finished_at (server timestamps; every step durable: SQLite WAL, synchronous=FULL). With concurrency 1
    the runs go one after another, so time / N / 2 is our time per model turn, tool call and steps included.
  raw loop: the same two model requests and one upstream GET per run from a plain keep-alive HTTP client: the floor.
  agents-sdk: peer.py bench -n N (the SDK's Runner.run in a loop; nothing stored), when --sdk-python is given.
"""
import argparse, http.client, json, os, socket, subprocess, sys, tempfile, time, urllib.parse
from datetime import datetime

KEY = "neo_sk_test_AgenticBench0123456789abcdefghijklmnopqrstuv"


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def __call__(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + KEY}
        data = None
        if body is not None:
            data = json.dumps(body).encode(); headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        payload = json.loads(r.read() or b"{}")
        return r.status, payload


def stamp(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def run_neo(server, model_url, upstream, n, concurrency, db_dir=None):
    port = free_port()
    work = tempfile.mkdtemp(prefix="neo-bench-agentic.", dir=db_dir)
    env = dict(os.environ, NEO_HOST="127.0.0.1", NEO_PORT=str(port), NEO_DB=os.path.join(work, "neo.db"),
               NEO_BOOTSTRAP_ADMIN_KEY=KEY, NEO_RATE_LIMIT="0", NEO_LOG_LEVEL="warn", NEO_THREADS="1",
               NEO_UPSTREAM_POLICY="loopback", NEO_RUNNER_CONCURRENCY=str(concurrency))
    proc = subprocess.Popen([server, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "log"), "w"))
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); break
            except OSError:
                time.sleep(0.05)
        c = Client(port)
        assert c("POST", "/public-api/llm-providers", {"name": "peer", "kind": "openai_chat", "base_url": model_url,
                                                       "model": "test-model", "api_key": "peer-key", "max_retries": 0})[0] == 201
        assert c("POST", "/public-api/external-apis", {"name": "crm_lookup", "description": "Look up a CRM contact.",
                                                       "endpoint_url": upstream + "/contacts/{contact_id}?email={email}",
                                                       "method": "GET", "requires_approval": False})[0] == 201
        status, agent = c("POST", "/public-api/agents", {"name": "bench", "trigger_type": "NONE", "autonomy_type": "AGENTIC",
                                                         "agent_settings": {"custom_instructions": "You look up contacts."},
                                                         "toolbox": {"tool_settings_by_type": {"EXTERNAL_API_REQUEST": {"apis": ["crm_lookup"]}}}})
        assert status == 201, agent
        agent_id = agent["data"]["id"]

        def batch(count):
            ids = [c("POST", f"/public-api/agents/{agent_id}/run-now", {"input": {"contact": "42"}})[1]["data"]["execution_id"] for _ in range(count)]
            while True:
                _, page = c("GET", f"/public-api/executions?agent_id={agent_id}&status=queued,running&page_size=1")
                if not page["data"]:
                    break
                time.sleep(0.02)
            return ids

        batch(20)  # warm up: connections, statement caches, the page cache
        ids = batch(n)
        started, finished, failed = [], [], 0
        for eid in ids:
            _, e = c("GET", f"/public-api/executions/{eid}")
            e = e["data"]
            failed += e["status"] != "succeeded"
            started.append(stamp(e["started_at"])); finished.append(stamp(e["finished_at"]))
        _, steps = c("GET", f"/public-api/executions/{ids[-1]}/steps")
        kinds = [s["type"] for s in steps["data"]]
        assert kinds == ["TOOL_CALL", "TOOL_RESULT", "THOUGHT", "TOOL_CALL", "TOOL_RESULT", "FINAL_MESSAGE"], kinds
        assert steps["data"][4]["data"]["status"] == 200, steps["data"][4]
        elapsed = max(finished) - min(started)
        return {"runs": n, "failed": failed, "seconds": elapsed, "runs_per_s": n / elapsed, "ms_per_turn": elapsed / n / 2 * 1000}
    finally:
        proc.terminate(); proc.wait(timeout=15)


def raw_loop(model_url, upstream, n):
    m = urllib.parse.urlsplit(model_url); u = urllib.parse.urlsplit(upstream)
    mc = http.client.HTTPConnection(m.hostname, m.port, timeout=10)
    uc = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    tools = [{"type": "function", "function": {"name": "crm_lookup", "description": "Look up a CRM contact.", "parameters": {
        "type": "object", "properties": {"contact_id": {"type": "string"}, "email": {"type": "string"}}, "required": ["contact_id", "email"]}}}]

    def post(messages):
        mc.request("POST", m.path + "/chat/completions", body=json.dumps({"model": "test-model", "messages": messages, "tools": tools}),
                   headers={"Content-Type": "application/json", "Authorization": "Bearer peer-key"})
        return json.loads(mc.getresponse().read())

    t = time.perf_counter()
    for _ in range(n):
        messages = [{"role": "system", "content": "You look up contacts."}, {"role": "user", "content": "Look up contact 42"}]
        reply = post(messages)["choices"][0]["message"]
        call = reply["tool_calls"][0]
        args = json.loads(call["function"]["arguments"])
        uc.request("GET", f"/contacts/{args['contact_id']}?email={urllib.parse.quote(args['email'])}")
        result = uc.getresponse().read().decode()
        messages += [reply, {"role": "tool", "tool_call_id": call["id"], "content": result}]
        assert "contact 42" in post(messages)["choices"][0]["message"]["content"]
    dt = time.perf_counter() - t
    return {"runs": n, "seconds": dt, "runs_per_s": n / dt, "ms_per_turn": dt / n / 2 * 1000}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True); p.add_argument("--peer", required=True)
    p.add_argument("--sdk-python"); p.add_argument("-n", type=int, default=500); p.add_argument("-o")
    p.add_argument("--tmpfs", help="also run concurrency 1 with the database in this tmpfs directory (no fsync cost)")
    a = p.parse_args()
    peer = subprocess.Popen([sys.executable, a.peer, "serve"], stdout=subprocess.PIPE, text=True)
    try:
        model_url = peer.stdout.readline().split()[1]; upstream = peer.stdout.readline().split()[1]
        rows = []
        for concurrency in (1, 4):
            r = run_neo(a.server, model_url, upstream, a.n, concurrency)
            rows.append((f"neo-server AGENTIC, runner concurrency {concurrency} (steps durable)", r))
        if a.tmpfs:
            r = run_neo(a.server, model_url, upstream, a.n, 1, db_dir=a.tmpfs)
            rows.append(("neo-server AGENTIC, runner concurrency 1, database on tmpfs (no fsync cost)", r))
        rows.append(("raw request loop (no server, nothing stored)", raw_loop(model_url, upstream, a.n)))
    finally:
        peer.terminate()
    sdk_line = None
    if a.sdk_python:
        out = subprocess.run([a.sdk_python, a.peer, "bench", "-n", str(a.n)], capture_output=True, text=True, timeout=900)
        sdk_line = (out.stdout.strip().splitlines() or [out.stderr.strip()[-300:]])[-1]
        try:
            runs_s = float(sdk_line.split("=")[1].split("runs/s")[0]); ms = float(sdk_line.split(",")[1].split("ms")[0])
            rows.append(("OpenAI Agents SDK (peer.py bench, nothing stored)", {"runs": a.n, "runs_per_s": runs_s, "ms_per_turn": ms}))
        except (IndexError, ValueError):
            pass
    table = ["| what | runs | runs/s | ms per model turn |", "|---|---|---|---|"]
    for name, r in rows:
        table.append(f"| {name} | {r['runs']}{' (' + str(r['failed']) + ' failed)' if r.get('failed') else ''} | {r['runs_per_s']:.1f} | {r['ms_per_turn']:.2f} |")
    sdk = next((r for n, r in rows if n.startswith("OpenAI")), None)
    if sdk:
        for name, r in rows[:2]:
            table.append(f"\n{name}: {r['runs_per_s'] / sdk['runs_per_s']:.2f}x the SDK's runs/s")
    text = "\n".join(table) + ("\n\nSDK output: " + sdk_line if sdk_line else "") + "\n"
    print(text)
    if a.o:
        open(a.o, "w").write(text)


if __name__ == "__main__":
    main()
