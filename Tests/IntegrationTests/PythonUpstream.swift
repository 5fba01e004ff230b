import Basics
import Foundation
import NeoJSON

/// A fake external API (Python, 127.0.0.1, ephemeral port) for the external-API integration tests.
/// The script lives here rather than as a resource file so the test target needs no resource rules.
final class PythonUpstream {
    let python: PythonProcess
    var port: Int { python.port }
    var base: String { "http://127.0.0.1:\(port)" }

    /// `expect` holds the credential values the /check and /token routes accept.
    init(expect: [String: String], directory: URL) throws {
        let expectJSON = JSON.object(JSONObject(expect.map { ($0.key, JSON.string($0.value)) })).serializedString()
        python = try PythonProcess("upstream.py", source: PythonUpstream.source, arguments: [expectJSON], directory: directory)
    }

    func stop() { python.stop() }

    static let source = #"""
#!/usr/bin/env python3
"""A fake external API for the integration tests, on 127.0.0.1 (port printed on stdout).

/check/<kind>  200 {"ok": true|false}: whether the request carried the expected credential
/echo/...      200 with everything received (headers, query, body): the server must scrub secrets
/token         OAuth2 token endpoint: checks the form and Basic auth, counts grants (/token/slow: after 0.5 s)
/status/<n>    answers with status n
/slow          sleeps 3 s; /big: 20 000 bytes; /redirect: 302 to another origin
/stats         {"tokens": n}
"""
import base64, json, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXPECT = json.loads(sys.argv[1])
LOCK = threading.Lock()
STATS = {"tokens": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload, headers=()):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        auth = self.headers.get("Authorization", "")
        parts = url.path.strip("/").split("/")
        if parts[0] == "check":
            kind = parts[1]
            ok = {
                "none": auth == "",
                "bearer": auth == "Bearer " + EXPECT["bearer"],
                "basic": auth == "Basic " + base64.b64encode(("alice:" + EXPECT["basic"]).encode()).decode(),
                "header": self.headers.get("X-Api-Key") == EXPECT["header"],
                "query": query.get("api_key") == EXPECT["query"],
                "oauth": auth.startswith("Bearer tok-"),
            }[kind]
            return self.reply(200 if ok or kind != "oauth" else 401, {"ok": ok})
        if parts[0] == "echo":
            return self.reply(200, {"method": self.command, "path": url.path, "query": query,
                                    "headers": dict(self.headers), "body": body})
        if parts[0] == "token":
            if len(parts) > 1 and parts[1] == "slow":
                time.sleep(0.5)  # /token/slow: long enough for several nodes to ask at once
            form = dict(urllib.parse.parse_qsl(body))
            basic = "Basic " + base64.b64encode(("tu:" + EXPECT["token_auth"]).encode()).decode()
            if form.get("client_secret") != EXPECT["client_secret"] or auth != basic:
                # Providers sometimes echo what they got: the server must not pass it on.
                return self.reply(401, {"error": "invalid_client",
                                        "error_description": "bad client_secret " + form.get("client_secret", "")})
            with LOCK:
                STATS["tokens"] += 1
                n = STATS["tokens"]
            return self.reply(200, {"access_token": "tok-%d" % n, "token_type": "Bearer", "expires_in": 3600})
        if parts[0] == "status":
            return self.reply(int(parts[1]), {"status": int(parts[1])})
        if parts[0] == "slow":
            time.sleep(3)
            return self.reply(200, {"slow": True})
        if parts[0] == "big":
            return self.reply(200, b"x" * 20000)
        if parts[0] == "redirect":
            return self.reply(302, b"", [("Location", "http://127.0.0.2:9/stolen")])
        if parts[0] == "stats":
            with LOCK:
                return self.reply(200, dict(STATS))
        return self.reply(200, {"ok": True, "path": url.path})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""#
}
