"""One way to start a neo-server for the bench and proof scripts, and to talk to it.

NeoServer starts `neo-server serve` on 127.0.0.1 with an ephemeral port and the given admin key, appends the
server's stderr (its JSON log) to a log file, learns the port from the `listening on` line, and keeps draining
stdout so the server never blocks on it. request() sends one JSON request and answers (status, decoded body).
Stdlib only; 127.0.0.1 only.
"""
import http.client
import json
import os
import signal
import subprocess
import threading
import time


class NeoServer:
    def __init__(self, binary, key, db, log_path, name="server", start_timeout=20, **env):
        """env: extra NEO_* settings (values converted with str); NEO_RATE_LIMIT defaults to 0."""
        settings = {"NEO_HOST": "127.0.0.1", "NEO_PORT": "0", "NEO_DB": db, "NEO_BOOTSTRAP_ADMIN_KEY": key,
                    "NEO_RATE_LIMIT": "0"}
        settings.update({k: str(v) for k, v in env.items()})
        self.key = key
        self.log_path = log_path
        self.log_start = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        self.err = open(log_path, "ab")
        self.proc = subprocess.Popen([binary, "serve"], env=dict(os.environ, **settings),
                                     stdout=subprocess.PIPE, stderr=self.err)
        self.port = None
        deadline = time.time() + start_timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            if "listening on http://127.0.0.1:" in line:
                self.port = int(line.strip().rsplit(":", 1)[1])
                break
        if self.port is None:
            self.proc.kill()
            self.proc.wait()
            self.err.close()
            raise SystemExit("%s: server did not start; see %s" % (name, log_path))
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def headers(self):
        return {"Authorization": "Bearer " + self.key, "Content-Type": "application/json"}

    def connection(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, conn=None):
        """One request; on a connection of the caller's when given (kept open), else a fresh one."""
        own = conn is None
        conn = conn or self.connection()
        try:
            return request(conn, method, path, body, self.headers())
        finally:
            if own:
                conn.close()

    def log_since_start(self):
        """The server log written since this server started."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_start)
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig, waits (SIGKILL after timeout); answers the exit code, None when it had to be killed."""
        self.proc.send_signal(sig)
        code = None
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()
        return code


def request(conn, method, path, body=None, headers=None):
    """One JSON request on an open connection; answers (status, decoded body or None)."""
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)
