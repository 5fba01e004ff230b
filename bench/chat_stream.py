#!/usr/bin/env python3
"""Chat event streams under load (design §13), against a running neo-server: usage chat_stream.py BASE_URL KEY PID.

1. Time to first text-delta: a model provider in this process streams its reply; the moment it writes its first
   token (time.monotonic_ns, the clock every process on the host shares) to the moment the tailer here reads the
   first text-delta part off its socket. TURNS turns, p50/p99/max.
2. Idle tailers: IDLE tailers held open on a few sessions; the server's RSS before and after.
3. Health p99 with ACTIVE active streams beside none: wrk on /public-api/health for SECONDS s alone, then again while
   ACTIVE tailers each receive a stream of deltas (sessions whose turns stream a delta every 20 ms), in one run.
Only 127.0.0.1. Prints one line per measurement.
"""
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import Request, urlopen

BASE, KEY, PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
HOST, PORT = "127.0.0.1", int(BASE.rsplit(":", 1)[1])
TURNS = int(os.environ.get("CHAT_BENCH_TURNS", "50"))
IDLE = int(os.environ.get("CHAT_BENCH_IDLE", "1000"))
ACTIVE = int(os.environ.get("CHAT_BENCH_ACTIVE", "500"))
SECONDS = int(os.environ.get("CHAT_BENCH_SECONDS", "10"))

first_token_at = []      # monotonic ns at which the model wrote each reply's first token
model_plan = {"deltas": 5, "pause": 0.0}


class Model(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Each token goes out at once (no Nagle wait behind the unacknowledged head), as a real provider's would.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deltas, pause = model_plan["deltas"], model_plan["pause"]

        def chunk(text):
            data = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        try:
            for i in range(deltas):
                if i == 0:
                    first_token_at.append(time.monotonic_ns())
                chunk('data: {"choices":[{"index":0,"delta":{"content":"tok%d "},"finish_reason":null}]}\n\n' % i)
                if pause:
                    time.sleep(pause)
            chunk('data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":5}}\n\n')
            chunk("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def api(method, path, body=None):
    req = Request(BASE + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                  headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
    with urlopen(req, timeout=30) as r:
        return json.loads(r.read())["data"]


def open_tail(session, since=None):
    s = socket.create_connection((HOST, PORT))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    q = "" if since is None else "?since=%s" % since
    s.sendall(("GET /public-api/chat/sessions/%s/events%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (session, q, KEY)).encode())
    return s


class Tail:
    """Reads one stream's bytes; finds parts by their type as they arrive (chunk framing left in: parts are small)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.parts = 0

    def read(self):
        data = self.sock.recv(65536)
        if not data:
            return None
        self.buf += data
        return data


def rss_kib():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wrk_health():
    out = subprocess.run(["wrk", "-t1", "-c32", "-d%ds" % SECONDS, "--latency", BASE + "/public-api/health"],
                         capture_output=True, text=True).stdout
    rps = next((l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec:")), "?")
    p99 = next((l.split()[1] for l in out.splitlines() if l.strip().startswith("99%")), "?")
    return rps, p99


def to_ms(text):
    if text.endswith("us"):
        return float(text[:-2]) / 1000
    if text.endswith("ms"):
        return float(text[:-2])
    if text.endswith("s"):
        return float(text[:-1]) * 1000
    return float("nan")


def main():
    model = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    model.daemon_threads = True
    threading.Thread(target=model.serve_forever, daemon=True).start()
    api("POST", "/public-api/llm-providers", {"name": "bench", "kind": "openai_chat", "model": "m", "default": True, "max_retries": 0,
                                              "base_url": "http://127.0.0.1:%d/v1" % model.server_address[1]})
    agent = api("POST", "/public-api/agents", {"name": "bench-desk", "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL",
                                               "actions": [], "agent_settings": {"max_history_messages": 2}})
    agent_id = int(agent["id"])

    # 1. first text-delta after the model's first token
    session = api("POST", "/public-api/chat/sessions", {"agent_id": agent_id})["id"]
    tail = Tail(open_tail(session))
    latencies = []
    model_plan.update(deltas=5, pause=0.0)
    for turn in range(TURNS):
        seen = len(first_token_at)
        api("POST", "/public-api/chat/sessions/%s/messages" % session, {"message": "ping %d" % turn})
        got_delta = False
        while True:
            data = tail.read()
            if data is None:
                raise SystemExit("the stream closed")
            if not got_delta and b'"text-delta"' in tail.buf:
                arrived = time.monotonic_ns()
                got_delta = True
                latencies.append((arrived - first_token_at[seen]) / 1e6)
            if got_delta and b'"finish"' in tail.buf.split(b'"text-delta"', 1)[-1]:
                tail.buf = b""
                break
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print("first text-delta after the model's first token: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d turns)" % (p(0.5), p(0.99), latencies[-1], TURNS))
    tail.sock.close()

    # 2. idle tailers
    time.sleep(0.5)
    before = rss_kib()
    sessions = [api("POST", "/public-api/chat/sessions", {"agent_id": agent_id})["id"] for _ in range(10)]
    idle = [open_tail(sessions[i % len(sessions)]) for i in range(IDLE)]
    ok = 0
    for s in idle:
        s.settimeout(10)
        head = s.recv(4096)
        ok += head.startswith(b"HTTP/1.1 200")
    time.sleep(1)
    after = rss_kib()
    print("%d idle tailers (%d answered 200): server RSS %.1f MiB -> %.1f MiB, +%.1f KiB per tailer"
          % (IDLE, ok, before / 1024, after / 1024, (after - before) / max(1, IDLE)))
    for s in idle:
        s.close()
    time.sleep(1)

    # 3. health p99: no streams, then ACTIVE active streams
    rps0, p990 = wrk_health()
    groups = max(1, ACTIVE // 50)
    busy = [api("POST", "/public-api/chat/sessions", {"agent_id": agent_id})["id"] for _ in range(groups)]
    socks = [open_tail(busy[i % groups]) for i in range(ACTIVE)]
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    stop = threading.Event()
    received = [0]

    def drain():
        while not stop.is_set():
            for key, _ in sel.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(key.fileobj)
                received[0] += len(data)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    time.sleep(0.5)
    model_plan.update(deltas=int((SECONDS + 3) / 0.02), pause=0.02)
    for s in busy:
        api("POST", "/public-api/chat/sessions/%s/messages" % s, {"message": "stream for a while"})
    time.sleep(1)
    start_bytes = received[0]
    rps1, p991 = wrk_health()
    streamed = received[0] - start_bytes
    stop.set()
    reader.join()
    for s in socks:
        s.close()
    print("health alone: %s req/s, p99 %s" % (rps0, p990))
    print("health beside %d active streams (%d sessions, a delta every 20 ms, %.1f MB streamed meanwhile): %s req/s, p99 %s"
          % (ACTIVE, groups, streamed / 1e6, rps1, p991))
    print("health p99 ratio, %d active streams vs none: %.2f" % (ACTIVE, to_ms(p991) / to_ms(p990)))


if __name__ == "__main__":
    main()
