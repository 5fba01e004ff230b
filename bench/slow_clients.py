#!/usr/bin/env python3
"""Slow and many clients (issue 8), driven by bench/slow-clients.sh (which raises ulimit -n).

  1. start neo-server (NEO_SERVER_BIN or .build/release/neo-server) on 127.0.0.1, ephemeral port;
  2. wrk on GET /public-api/health for WRK_SECONDS: the unloaded p99;
  3. open SLOWLORIS sockets (a partial head, then one header byte every SLOW_INTERVAL s; when the
     server answers 408 and closes, reconnect) plus IDLE keep-alive connections (one request
     answered, then silent), then wrk again: the loaded p99;
  4. close them, open RSS_IDLE idle keep-alive connections, report the server's VmRSS.
Fails (exit 1) on any wrk error or non-2xx, an idle connection dropped by the server, a
slowloris socket answered anything but 408, or the server dying. 127.0.0.1 only; every loop is
bounded in count and time.

The holder of the slow/idle sockets is this file run as `slow_clients.py hold PORT SLOW IDLE`,
an asyncio process: it prints `ready …` once every socket is open, a stats line every second,
and stops on a line on stdin (or after HOLD_MAX_SECONDS).
"""
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEALTH = b"GET /public-api/health HTTP/1.1\r\nHost: x\r\n\r\n"
HOLD_MAX_SECONDS = 300


# ---- the holder (asyncio) ---------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.idle_open = 0
        self.idle_closed_by_server = 0
        self.idle_failed = 0
        self.slow_open = 0
        self.slow_connects = 0
        self.slow_408 = 0
        self.slow_other = 0
        self.slow_failed = 0

    def line(self):
        return json.dumps(self.__dict__)


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if m:
        await reader.readexactly(int(m.group(1)))
    return head


async def idle_conn(port, stats, stop, gate):
    try:
        async with gate:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 20)
            writer.write(HEALTH)
            head = await asyncio.wait_for(read_response(reader), 20)
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            stats.idle_failed += 1
            writer.close()
            return
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        stats.idle_failed += 1
        return
    stats.idle_open += 1
    eof = asyncio.ensure_future(reader.read(1))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([eof, stopped], return_when=asyncio.FIRST_COMPLETED)
    if eof.done() and not stop.is_set():
        stats.idle_closed_by_server += 1
    eof.cancel()
    stopped.cancel()
    stats.idle_open -= 1
    writer.close()


async def slowloris(port, stats, stop, gate, interval, first):
    """One slowloris socket, reconnected whenever the server closes it (bounded)."""
    for _ in range(1000):
        if stop.is_set():
            return
        try:
            async with gate:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 20)
            writer.write(b"GET /public-api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        except (OSError, asyncio.TimeoutError):
            stats.slow_failed += 1
            await asyncio.sleep(0.5)
            continue
        stats.slow_connects += 1
        stats.slow_open += 1
        first.set()
        answer = asyncio.ensure_future(reader.read(4096))
        stopped = asyncio.ensure_future(stop.wait())
        for _ in range(100000):
            done, _ = await asyncio.wait([answer, stopped], timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            if done:
                break
            try:
                writer.write(b"a")
            except OSError:
                break
        stopped.cancel()
        stats.slow_open -= 1
        if answer.done() and not answer.cancelled() and answer.exception() is None:
            data = answer.result()
            if data.startswith(b"HTTP/1.1 408 "):
                stats.slow_408 += 1
            elif data:
                stats.slow_other += 1
        answer.cancel()
        writer.close()


async def hold(port, n_slow, n_idle, interval):
    stats, stop = Stats(), asyncio.Event()
    gate = asyncio.Semaphore(200)  # connects in flight
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), stop.set)
    loop.call_later(HOLD_MAX_SECONDS, stop.set)
    started = time.time()
    firsts = [asyncio.Event() for _ in range(n_slow)]
    tasks = [asyncio.ensure_future(slowloris(port, stats, stop, gate, interval, firsts[i])) for i in range(n_slow)]
    tasks += [asyncio.ensure_future(idle_conn(port, stats, stop, gate)) for _ in range(n_idle)]
    for _ in range(int(60 / 0.05)):
        if (all(f.is_set() for f in firsts) and stats.idle_open + stats.idle_failed >= n_idle) or stop.is_set():
            break
        await asyncio.sleep(0.05)
    print("ready %.1fs %s" % (time.time() - started, stats.line()), flush=True)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 1)
        except asyncio.TimeoutError:
            print("stats " + stats.line(), flush=True)
    await asyncio.wait(tasks, timeout=10)
    print("final " + stats.line(), flush=True)


# ---- the driver ---------------------------------------------------------------------------------

class Holder:
    def __init__(self, port, n_slow, n_idle, interval):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "hold", str(port), str(n_slow),
                                      str(n_idle), str(interval)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.latest, self.final, self.ready = None, None, threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(90):
            self.stop()
            raise SystemExit("slow-clients: the holder did not get its sockets open in 90 s")

    def _read(self):
        for line in self.proc.stdout:
            kind, _, rest = line.partition(" ")
            if kind == "ready":
                self.ready_line = rest.strip()
                self.latest = json.loads(rest.split(" ", 1)[1])
                self.ready.set()
            elif kind == "stats":
                self.latest = json.loads(rest)
            elif kind == "final":
                self.final = json.loads(rest)

    def stop(self):
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.2)
        return self.final or self.latest


def wrk(url, seconds, conns):
    out = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--latency", "--timeout", "5s", url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    def pick(pattern, default=None):
        m = re.search(pattern, out)
        return m.group(1) if m else default
    p99 = pick(r"\n\s*99%\s+(\S+)")
    return {
        "rps": float(pick(r"Requests/sec:\s+([\d.]+)", "0")),
        "p50": pick(r"\n\s*50%\s+(\S+)"), "p99": p99, "p99_ms": to_ms(p99),
        "requests": int(pick(r"(\d+) requests in", "0")),
        "non2xx": int(pick(r"Non-2xx or 3xx responses:\s+(\d+)", "0")),
        "socket_errors": pick(r"Socket errors:\s*(.*)"),
        "raw": out,
    }


def to_ms(v):
    if not v:
        return None
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else None


def status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def mib(kb_field):
    return int(kb_field.split()[0]) / 1024.0


def main():
    env_int = lambda k, d: int(os.environ.get(k, d))
    n_slow, n_idle = env_int("SLOWLORIS", 2000), env_int("IDLE", 5000)
    rss_idle, seconds = env_int("RSS_IDLE", 10000), env_int("WRK_SECONDS", 10)
    conns, interval = env_int("WRK_CONNS", 32), float(os.environ.get("SLOW_INTERVAL", "2"))
    binary = os.environ.get("NEO_SERVER_BIN") or os.path.join(ROOT, ".build", "release", "neo-server")
    work = tempfile.mkdtemp(prefix="neo-slow-")
    env = dict(os.environ, NEO_HOST="127.0.0.1", NEO_PORT="0", NEO_DB=os.path.join(work, "neo.db"),
               NEO_RATE_LIMIT="0", NEO_LOG_LEVEL="warn", NEO_MAX_CONNECTIONS="20000", NEO_IDLE_TIMEOUT="300")
    err = open(os.path.join(work, "server.log"), "wb")
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    port = None
    for _ in range(200):
        line = server.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
        if not line:
            break
    if port is None:
        server.kill()
        raise SystemExit("slow-clients: server did not start (%s)" % binary)
    threading.Thread(target=server.stdout.read, daemon=True).start()
    url = "http://127.0.0.1:%d/public-api/health" % port
    problems = []
    try:
        print("slow-clients: %s, NEO_THREADS=%s, wrk -t1 -c%d -d%ds, ulimit -n %s" % (
            binary, os.environ.get("NEO_THREADS", "cores"), conns, seconds, subprocess.run(
                ["sh", "-c", "ulimit -n"], capture_output=True, text=True).stdout.strip()))
        base = wrk(url, seconds, conns)
        rss_base = mib(status(server.pid)["VmRSS"])
        print("  unloaded:  %8.0f req/s  p50 %-8s p99 %-8s (RSS %.1f MiB)" % (base["rps"], base["p50"], base["p99"], rss_base))

        holder = Holder(port, n_slow, n_idle, interval)
        print("  opened %d slowloris + %d idle keep-alive sockets: %s" % (n_slow, n_idle, holder.ready_line))
        loaded = wrk(url, seconds, conns)
        st = status(server.pid)
        held = holder.stop()
        print("  loaded:    %8.0f req/s  p50 %-8s p99 %-8s (RSS %.1f MiB, %s threads)" % (
            loaded["rps"], loaded["p50"], loaded["p99"], mib(st["VmRSS"]), st["Threads"]))
        print("  holder: %s" % json.dumps(held))
        for name, r in (("unloaded", base), ("loaded", loaded)):
            if r["non2xx"] or r["socket_errors"] or not r["requests"]:
                problems.append("%s wrk: %d non-2xx, socket errors %s, %d requests" % (name, r["non2xx"], r["socket_errors"], r["requests"]))
        if held["idle_closed_by_server"] or held["idle_failed"]:
            problems.append("idle connections: %d closed by the server, %d failed" % (held["idle_closed_by_server"], held["idle_failed"]))
        if held["slow_other"] or held["slow_failed"]:
            problems.append("slowloris: %d answered other than 408, %d failed to connect" % (held["slow_other"], held["slow_failed"]))

        time.sleep(1)
        holder = Holder(port, 0, rss_idle, interval)
        time.sleep(1)
        st = status(server.pid)
        held = holder.stop()
        rss = mib(st["VmRSS"])
        print("  %d idle keep-alive connections: VmRSS %.1f MiB (peak VmHWM %.1f MiB; %.2f KiB per connection over the unloaded RSS)" % (
            held["idle_open"] if False else rss_idle, rss, mib(st["VmHWM"]), (rss - rss_base) * 1024 / max(1, rss_idle)))
        if held["idle_closed_by_server"] or held["idle_failed"]:
            problems.append("RSS phase: %d idle closed by the server, %d failed" % (held["idle_closed_by_server"], held["idle_failed"]))
        if server.poll() is not None:
            problems.append("the server exited (%s)" % server.returncode)
        ratio = (loaded["p99_ms"] / base["p99_ms"]) if base["p99_ms"] and loaded["p99_ms"] else None
        print("slow-clients: %s; p99 %s unloaded vs %s with %d slowloris + %d idle%s; RSS %.1f MiB with %d idle" % (
            "FAILED" if problems else "ok", base["p99"], loaded["p99"], n_slow, n_idle,
            " (%.2fx)" % ratio if ratio else "", rss, rss_idle))
        for p in problems:
            print("   ", p)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        err.close()
    if problems:
        print("slow-clients: server log kept in", work)
        sys.exit(1)
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "hold":
        asyncio.run(hold(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
    else:
        main()
