import Foundation
import NeoJSON

/// An upstream for the retry and tracing tests (Python, 127.0.0.1, ephemeral port) that records every
/// request it gets (method, path, headers, arrival time) and answers from a per-path script:
///
/// /ok/...                          200 `{"ok": true}`
/// /flaky/<key>/<n>/<status>[?ra=] the first n requests for <key> answer <status> (with `Retry-After: <ra>`
///                                  when given: seconds, or `date:<s>` for an HTTP date s seconds ahead), then 200
/// /slow/<seconds>/...              200 `{"ok": true}` after <seconds> (a call in flight while a node dies)
/// /token/...                       an OAuth2 token endpoint: 200 `{"access_token": "tok-…", "expires_in": 3600}`
/// /requests                        the recorded requests so far (not itself recorded)
final class RecordingUpstream {
    let python: PythonProcess
    var port: Int { python.port }
    var base: String { "http://127.0.0.1:\(port)" }

    init(directory: URL) throws {
        python = try PythonProcess("recording_upstream.py", source: RecordingUpstream.source, directory: directory)
    }

    func stop() { python.stop() }

    /// Requests recorded so far whose path starts with `prefix`: `{method, path, headers (lowercase names), t}`.
    func requests(_ prefix: String = "/") throws -> [JSON] {
        let client = try RawClient(port: port)
        try client.send("GET /requests HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        guard let response = TestResponse.parse(try client.readUntilClose(timeout: 10)).first, let list = response.json else {
            throw NSError(domain: "RecordingUpstream", code: 2, userInfo: [NSLocalizedDescriptionKey: "no answer from /requests"])
        }
        return list.arrayValue?.filter { $0["path"]?.stringValue?.hasPrefix(prefix) ?? false } ?? []
    }

    static let source = #"""
import json, threading, time, email.utils, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SEEN = []
COUNTS = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload, headers=()):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/requests":
            with LOCK:
                return self.reply(200, list(SEEN))
        with LOCK:
            SEEN.append({"method": self.command, "path": url.path, "t": time.time(),
                         "headers": {k.lower(): v for k, v in self.headers.items()}})
        parts = url.path.strip("/").split("/")
        if parts[0] == "slow":
            time.sleep(min(float(parts[1]), 30))
            try:
                return self.reply(200, {"ok": True, "path": url.path})
            except (BrokenPipeError, ConnectionResetError):
                return  # the caller died meanwhile (a killed node)
        if parts[0] == "token":
            return self.reply(200, {"access_token": "tok-" + "-".join(parts[1:]), "token_type": "Bearer", "expires_in": 3600})
        if parts[0] == "flaky":
            key, n, status = parts[1], int(parts[2]), int(parts[3])
            with LOCK:
                COUNTS[key] = COUNTS.get(key, 0) + 1
                count = COUNTS[key]
            if count <= n:
                headers = []
                ra = dict(urllib.parse.parse_qsl(url.query)).get("ra")
                if ra and ra.startswith("date:"):
                    headers.append(("Retry-After", email.utils.formatdate(time.time() + float(ra[5:]), usegmt=True)))
                elif ra:
                    headers.append(("Retry-After", ra))
                return self.reply(status, {"attempt": count}, headers)
            return self.reply(200, {"attempt": count, "ok": True})
        return self.reply(200, {"ok": True, "path": url.path})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""#
}
