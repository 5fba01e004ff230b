#!/usr/bin/env python3
"""Drives the console (design §14) in headless Chromium against a real neo-server.

Chromium is spoken to over the Chrome DevTools Protocol on --remote-debugging-pipe (file descriptors 3 and 4,
NUL-separated JSON), so nothing beyond the standard library is needed. The script starts an upstream on
127.0.0.1 and the server, seeds agents through the public API, then does what a person does: pastes a key,
opens an agent, disables and enables it, approves a pending external-API call in the approvals inbox and
watches the run resume, cancels and retries runs, reads why a callback did or did not match, and tests a
connection. It saves a screenshot of every page under OUT and fails on any console error, uncaught exception,
CSP violation or failed request (a canary proves the CSP detector sees a violation).
"""
import argparse
import base64
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ADMIN_KEY = "neo_sk_test_ConsoleAdmin0123456789abcdefghijkl"
UPSTREAM_TOKEN = "upstream-secret-token-4242"


def fail(message):
    print("console-test: FAIL: " + message, file=sys.stderr)
    raise SystemExit(1)


# ---------------------------------------------------------------- upstream and server

class Upstream(http.server.ThreadingHTTPServer):
    """A CRM stand-in on 127.0.0.1 that records every request it receives."""

    def __init__(self):
        self.received = []
        super().__init__(("127.0.0.1", 0), UpstreamHandler)


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.received.append({"method": self.command, "path": self.path, "body": body,
                                     "authorization": self.headers.get("Authorization")})
        payload = json.dumps({"ok": True, "note_id": len(self.server.received)}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass


class Server:
    def __init__(self, binary, directory):
        env = dict(os.environ, NEO_PORT="0", NEO_HOST="127.0.0.1", NEO_DB=os.path.join(directory, "neo.db"),
                   NEO_BOOTSTRAP_ADMIN_KEY=ADMIN_KEY, NEO_UPSTREAM_POLICY="loopback", NEO_RATE_LIMIT="0",
                   NEO_LOG_LEVEL="warn", NEO_THREADS="2", NEO_SECRET_KEY_FILE=os.path.join(directory, "secret.key"))
        self.log = open(os.path.join(directory, "server.log"), "wb")
        self.process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.time() + 30
        self.port = None
        while time.time() < deadline and self.port is None:
            line = self.process.stdout.readline().decode()
            if not line and self.process.poll() is not None:
                fail("the server exited at start")
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        if self.port is None:
            fail("the server did not print its port")
        threading.Thread(target=lambda: self.process.stdout.read(), daemon=True).start()
        self.base = "http://127.0.0.1:%d" % self.port

    def api(self, method, path, body=None, expect=None):
        return self.api_as(ADMIN_KEY, method, path, body, expect)

    def api_as(self, key, method, path, body=None, expect=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + "/public-api" + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        if expect is not None and status != expect:
            fail("%s %s answered %d, wanted %d: %s" % (method, path, status, expect, text))
        return json.loads(text)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def seed(server, upstream_port):
    """The tenant a technician would find: three agents, an external API that needs approval, runs and an event."""
    server.api("POST", "/external-apis", {
        "name": "crm_notes", "description": "Adds a note to a ticket in the CRM",
        "endpoint_url": "http://127.0.0.1:%d/tickets/{ticket}/notes" % upstream_port, "method": "POST",
        "headers": [{"name": "X-Tenant-Token", "value": "tenant-header-secret", "secret": True}],
        "auth": {"type": "bearer", "token": UPSTREAM_TOKEN},
        "body_fields": [{"name": "text", "type": "String", "required": True}], "requires_approval": True}, expect=201)
    escalate = server.api("POST", "/agents", {
        "name": "Escalate to CRM", "description": "Posts an escalation note on high-priority tickets.",
        "trigger_type": "TRIGGERED", "entity_type": "ticket",
        "ticket_conditions": {"conditions": {"combinator": "and", "rules": [
            {"field": "priority", "operator": "=", "value": "high"},
            {"field": "status", "operator": "!=", "value": "closed"}]}},
        "callback_settings": {"target_changes": [{"change_type": "CREATE"}]},
        "actions": [
            {"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {
                "api_name": "crm_notes", "params": {"ticket": "{{input.ticket}}"}, "body": {"text": "Escalated: {{input.reason}}"}}},
            {"action_type": "ADD_NOTE", "input_as_dict": {"template": "Escalated ticket {{input.ticket}} in the CRM."}}]},
        expect=201)["data"]
    triage = server.api("POST", "/agents", {
        "name": "Low-priority triage", "trigger_type": "TRIGGERED", "entity_type": "ticket",
        "ticket_conditions": {"conditions": {"combinator": "and", "rules": [{"field": "priority", "operator": "=", "value": "low"}]}},
        "actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": "Triaged."}}]}, expect=201)["data"]
    digest = server.api("POST", "/agents", {
        "name": "Nightly digest", "trigger_type": "SCHEDULED", "entity_type": "none",
        "schedule": {"cron": "0 2 * * 1-5", "timezone": "Europe/Berlin"},
        "actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": "Digest for {{input.day}}"}}]}, expect=201)["data"]
    for day in ("Monday", "Tuesday", "Wednesday"):
        server.api("POST", "/agents/%s/run-now" % digest["id"], {"input": {"day": day}}, expect=202)
    # Runs that fail (their external API is not configured) for the chart and the failure filter.
    sync = server.api("POST", "/agents", {
        "name": "Sync contacts", "trigger_type": "NONE", "entity_type": "contact",
        "actions": [{"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "contacts_sync"}}]}, expect=201)["data"]
    for _ in range(2):
        server.api("POST", "/agents/%s/run-now" % sync["id"], {}, expect=202)
    first = server.api("POST", "/agents/%s/run-now" % escalate["id"],
                       {"target_entity_id": "T-1001", "input": {"ticket": "T-1001", "reason": "customer is down"}}, expect=202)["data"]
    second = server.api("POST", "/agents/%s/run-now" % escalate["id"],
                        {"target_entity_id": "T-1002", "input": {"ticket": "T-1002", "reason": "duplicate"}}, expect=202)["data"]
    callback = server.api("POST", "/callbacks", {
        "event_id": "evt-console-1", "entity_type": "ticket", "entity_id": "T-2001", "entity_number": "2001",
        "change_type": "CREATE", "entity": {"priority": "high", "status": "closed", "title": "Printer on fire"}}, expect=202)["data"]
    for run in (first, second):
        wait_api(server, run["execution_id"], {"waiting_approval"})
    return {"escalate": escalate, "triage": triage, "digest": digest, "sync": sync, "first": first["execution_id"],
            "second": second["execution_id"], "callback": callback["callback_id"]}


def wait_api(server, execution_id, statuses, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        x = server.api("GET", "/executions/" + execution_id)["data"]
        if x["status"] in statuses:
            return x
        time.sleep(0.1)
    fail("execution %s never reached %s (it is %s)" % (execution_id, statuses, x["status"]))


# ---------------------------------------------------------------- Chromium over the DevTools pipe

class Browser:
    def __init__(self, chromium, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def child_fds():
            # Through fds above 4 first, so neither dup2 clobbers the other end; dup2 leaves them inheritable.
            os.dup2(to_chrome_r, 100)
            os.dup2(from_chrome_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        args = [chromium, "--headless=new", "--remote-debugging-pipe", "--user-data-dir=" + profile,
                "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--disable-component-update",
                "--disable-features=Translate,MediaRouter,OptimizationHints", "--metrics-recording-only",
                "--password-store=basic", "--use-mock-keychain", "--hide-scrollbars", "--mute-audio",
                "--window-size=1280,860", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        # close_fds=False: Popen would otherwise close 3 and 4 after child_fds; the parent's other fds are
        # close-on-exec (PEP 446), so nothing else leaks into Chromium.
        self.process = subprocess.Popen(args, close_fds=False, preexec_fn=child_fds,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.next_id = 0
        self.buffer = b""
        self.events = []
        self.session = None

    def _read_message(self, timeout):
        import select
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.from_chrome], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                fail("Chromium closed the DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self._read_message(max(0.01, deadline - time.time()))
            if m is None:
                break
            if m.get("id") == self.next_id:
                if "error" in m:
                    fail("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)
        fail("no answer to " + method)

    def pump(self, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            m = self._read_message(max(0.01, deadline - time.time()))
            if m is not None and "method" in m:
                self.events.append(m)

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except SystemExit:
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Page:
    """One tab, with what a person does (click, type, press keys) and what the test checks."""

    def __init__(self, browser, out):
        self.b = browser
        self.out = out
        target = browser.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        browser.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network", "Audits"):
            browser.send(domain + ".enable")
        # Injected by DevTools, so the page's CSP does not apply to it: every violation becomes a console error.
        browser.send("Page.addScriptToEvaluateOnNewDocument", {"source":
            "document.addEventListener('securitypolicyviolation', e => "
            "console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));"})

    def eval(self, expression):
        r = self.b.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            fail("evaluating %s: %s" % (expression, r["exceptionDetails"].get("exception", {}).get("description")))
        return r["result"].get("value")

    def wait(self, expression, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.eval("(() => { try { return !!(%s); } catch (e) { return false; } })()" % expression):
                return
            self.b.pump(0.1)
        self.screenshot("FAILED-" + re.sub(r"[^a-z0-9]+", "-", what.lower())[:40])
        fail("timed out waiting for " + what)

    def goto(self, url):
        self.b.send("Page.navigate", {"url": url})

    def click(self, selector):
        """A real mouse click at the element's centre (after scrolling it into view)."""
        box = self.eval("(() => { const el = document.querySelector(%s); if (!el) return null; el.scrollIntoView({block: 'center'});"
                        " const r = el.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
                        % json.dumps(selector))
        if not box:
            self.screenshot("FAILED-click")
            fail("nothing to click at " + selector)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.b.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1})

    def type_into(self, selector, text):
        self.eval("document.querySelector(%s).focus()" % json.dumps(selector))
        self.b.send("Input.insertText", {"text": text})

    def press(self, key):
        codes = {"Enter": (13, "\r"), "Tab": (9, ""), "Space": (32, " ")}
        code, text = codes[key]
        down = {"type": "keyDown", "key": " " if key == "Space" else key, "code": key, "windowsVirtualKeyCode": code}
        if text:
            down["text"] = text
        self.b.send("Input.dispatchKeyEvent", down)
        self.b.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": down["key"], "code": key, "windowsVirtualKeyCode": code})

    def screenshot(self, name, full=True):
        params = {"format": "png"}
        if full:
            size = self.eval("({w: document.documentElement.clientWidth, h: Math.min(document.documentElement.scrollHeight, 6000)})")
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size["w"], "height": size["h"], "scale": 1})
        data = self.b.send("Page.captureScreenshot", params)["data"]
        path = os.path.join(self.out, name + ".png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path


def problems(events, base, allowed):
    """Console errors, exceptions, CSP reports and failed requests among the recorded events."""
    found = []
    requests = {}
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Network.requestWillBeSent":
            requests[p["requestId"]] = p["request"]["url"]
        elif m == "Runtime.exceptionThrown":
            found.append("exception: " + p["exceptionDetails"].get("exception", {}).get("description", p["exceptionDetails"].get("text", "")))
        elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert", "warning"):
            found.append("console.%s: %s" % (p["type"], " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])))
        elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            entry = p["entry"]
            if entry.get("source") == "network" and any(a in entry.get("url", "") for a in allowed):
                continue  # the 401 the test provokes on purpose (reported again below if unexpected)
            found.append("log %s/%s: %s %s" % (entry.get("source"), entry["level"], entry["text"], entry.get("url", "")))
        elif m == "Audits.issueAdded":
            code = p["issue"]["code"]
            if "ContentSecurityPolicy" in code or code not in ("CookieIssue",):
                found.append("issue: %s %s" % (code, json.dumps(p["issue"].get("details", {}))[:300]))
        elif m == "Network.responseReceived":
            url, status = p["response"]["url"], p["response"]["status"]
            if status >= 400 and not any(a in url for a in allowed):
                found.append("HTTP %d %s" % (status, url))
            if not url.startswith(base) and not url.startswith("data:"):
                found.append("request to another origin: " + url)
        elif m == "Network.loadingFailed":
            found.append("failed request: %s %s" % (requests.get(p["requestId"], "?"), p.get("errorText")))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/neo-server")
    ap.add_argument("--out", default="bench/out/console")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--docs", help="also write the two README screenshots into this directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for old in os.listdir(args.out):
        if old.endswith(".png"):
            os.remove(os.path.join(args.out, old))
    work = tempfile.mkdtemp(prefix="neo-console-")
    upstream = Upstream()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    server = Server(os.path.abspath(args.bin), work)
    browser = None
    try:
        ids = seed(server, upstream.server_address[1])
        browser = Browser(args.chromium, os.path.join(work, "profile"))
        page = Page(browser, args.out)
        checks = run(page, server, upstream, ids, args)
        browser.pump(0.5)
        found = problems(browser.events, server.base, allowed=["/public-api/tenant"])
        refused = [e for e in browser.events if e["method"] == "Network.responseReceived" and e["params"]["response"]["status"] >= 400]
        if len(refused) != 1 or refused[0]["params"]["response"]["status"] != 401:
            found.append("expected exactly the one 401 of the wrong key, got %s" % [(e["params"]["response"]["status"], e["params"]["response"]["url"]) for e in refused])
        canary(page, server)
        if found:
            fail("the browser reported:\n  " + "\n  ".join(found))
        print("console-test: ok: %d checks, %d screenshots in %s, no console error, CSP violation or failed request"
              % (checks, len([f for f in os.listdir(args.out) if f.endswith(".png")]), args.out))
    finally:
        if browser:
            browser.close()
        server.stop()
        upstream.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def run(page, server, upstream, ids, args):
    base = server.base
    checks = 0

    def check(condition, message):
        nonlocal checks
        if not condition:
            page.screenshot("FAILED-check")
            fail(message)
        checks += 1

    # The page and its key form.
    page.goto(base + "/")
    page.wait("document.querySelector('#key-input') && !document.querySelector('#login').hidden", "the key form")
    page.screenshot("01-key")
    # A wrong key: the API's own message, and the form again.
    page.type_into("#key-input", "neo_sk_test_NotAKeyOfThisServer000000000000000")
    page.press("Enter")
    page.wait("!document.querySelector('#error').hidden", "the refused-key message")
    message = page.eval("document.querySelector('#error').textContent")
    refused = server.api_as("neo_sk_test_NotAKeyOfThisServer000000000000000", "GET", "/tenant")["error"]["message"]
    check("The server refused the key: " + refused in message, "the refused-key banner shows the API's message (%r): %r" % (refused, message))
    check(page.eval("sessionStorage.length") == 0, "a refused key is forgotten")
    # The real key, typed and submitted with Enter.
    page.type_into("#key-input", ADMIN_KEY)
    page.press("Enter")
    page.wait("document.querySelectorAll('a.agent-link').length === 4", "the agents list")
    check(page.eval("sessionStorage.getItem('neo-console-key')") == ADMIN_KEY, "the key is in sessionStorage")
    check(page.eval("localStorage.length") == 0 and page.b.send("Network.getCookies")["cookies"] == [], "and nowhere else")
    check(ADMIN_KEY not in page.eval("location.href"), "the key is not in the URL")
    text = page.eval("document.querySelector('#view').textContent")
    check("0 2 * * 1-5" in text and "Europe/Berlin" in text, "the list shows the schedule")
    check(page.eval("[...document.querySelectorAll('td[data-label=\"Next run\"] time')].length") == 1, "and the next run")
    page.eval("document.activeElement.blur()")
    page.screenshot("02-agents")
    page.screenshot("readme-agents", full=False)

    # Keyboard: a fresh load puts focus on the page's heading; Tab then reaches the first control, visibly focused.
    page.b.send("Page.reload")
    page.wait("document.querySelectorAll('a.agent-link').length === 4 && document.activeElement.tagName === 'H1'", "focus on the heading")
    page.press("Tab")
    check(page.eval("document.activeElement.name") == "state", "Tab moves to the first filter")
    check(page.eval("getComputedStyle(document.activeElement).outlineStyle") != "none", "the focused control has a visible outline")

    # One agent: open it with the keyboard (focus the link, press Enter).
    page.eval("[...document.querySelectorAll('a.agent-link')].find(a => a.textContent === 'Escalate to CRM').focus()")
    page.press("Enter")
    page.wait("document.querySelector('#view h1') && document.querySelector('#view h1').textContent.includes('Escalate to CRM')"
              " && document.querySelector('svg.chart')", "the agent page")
    text = page.eval("document.querySelector('#view').textContent")
    check("EXTERNAL_API_REQUEST" in text and "ADD_NOTE" in text and "FIND_ENTITIES" in text, "the agent's actions")
    check("priority" in text and "AND of" in text, "its conditions")
    check(page.eval("document.querySelectorAll('svg.chart rect.bar-executions').length") == 14, "a bar per day")
    title = page.eval("document.querySelector('svg.chart title').textContent")
    check("Executions per day: 2 in 14 days, 0 failed" == title, "today's runs in the chart: " + title)
    page.screenshot("03-agent")

    # Disable and enable another agent (PUT state).
    page.goto(base + "/#/agents/" + ids["digest"]["id"])
    # The page left behind has a Disable button too: wait for this agent's heading, or the click can land while the
    # new route shows "Loading…".
    page.wait("document.querySelector('#view h1') && document.querySelector('#view h1').textContent.includes('Nightly digest')"
              " && document.querySelector('#toggle-state') && document.querySelector('#toggle-state').textContent === 'Disable'", "the digest agent")
    page.click("#toggle-state")
    page.wait("document.querySelector('#toggle-state') && document.querySelector('#toggle-state').textContent === 'Enable'", "Disable to apply")
    check(server.api("GET", "/agents/" + ids["digest"]["id"])["data"]["state"] == "DISABLED", "the agent is disabled")
    check(page.eval("document.querySelector('h1 .badge').textContent") == "DISABLED", "the page says so")
    page.screenshot("04-agent-disabled")
    page.click("#toggle-state")
    page.wait("document.querySelector('#toggle-state') && document.querySelector('#toggle-state').textContent === 'Disable'", "Enable to apply")
    check(server.api("GET", "/agents/" + ids["digest"]["id"])["data"]["state"] == "ENABLED", "enabled again")
    page.goto(base + "/#/agents/" + ids["sync"]["id"])
    page.wait("document.querySelector('#view h1').textContent.includes('Sync contacts') && document.querySelector('svg.chart')", "the failing agent")
    title = page.eval("document.querySelector('svg.chart title').textContent")
    check(title == "Executions per day: 2 in 14 days, 2 failed", "its failures in the chart: " + title)
    check(page.eval("document.querySelectorAll('svg.chart rect.bar-failures').length") == 1, "a failure bar for today")

    # The approvals inbox: both held calls, resolved and redacted.
    first_til = server.api("GET", "/executions/%s/til-requests" % ids["first"])["data"][0]["id"]
    second_til = server.api("GET", "/executions/%s/til-requests" % ids["second"])["data"][0]["id"]
    page.click("a[data-section=approvals]")
    page.wait("document.querySelector('#til-%d') && document.querySelector('#til-%d')" % (first_til, second_til), "both requests in the inbox")
    card = page.eval("document.querySelector('#til-%d').textContent" % first_til)
    port = upstream.server_address[1]
    check("http://127.0.0.1:%d/tickets/T-1001/notes" % port in card, "the held request is fully resolved: " + card[:400])
    check("Escalated: customer is down" in card, "its body too")
    check('"***"' in card and UPSTREAM_TOKEN not in card and "tenant-header-secret" not in card, "and its secrets redacted")
    check(page.eval("document.querySelector('#pending-count').textContent") == "2", "the navigation counts 2 pending")
    page.screenshot("05-approvals")
    page.screenshot("readme-approvals", full=False)
    # A request that arrives while the inbox is open shows up by itself.
    third = server.api("POST", "/agents/%s/run-now" % ids["escalate"]["id"],
                       {"target_entity_id": "T-1003", "input": {"ticket": "T-1003", "reason": "late"}}, expect=202)["data"]["execution_id"]
    wait_api(server, third, {"waiting_approval"})
    third_til = server.api("GET", "/executions/%s/til-requests" % third)["data"][0]["id"]
    page.wait("document.querySelector('#til-%d')" % third_til, "the inbox to refresh itself", timeout=15)
    check(len(upstream.received) == 0, "nothing reached the upstream before approval")
    # Approve the first with a note, through the UI.
    page.type_into("#note-%d" % first_til, "customer confirmed the outage")
    page.click("button.approve[data-til='%d']" % first_til)
    page.wait("!document.querySelector('#til-%d') && document.querySelector('#notice').textContent.includes('approved')" % first_til,
              "the approval to apply")
    decided = server.api("GET", "/til-requests/%d" % first_til)["data"]
    check(decided["status"] == "approved" and decided["note"] == "customer confirmed the outage", "approved with the note")
    # Reject the third from the keyboard: focus its Reject button and press Space.
    page.eval("document.querySelector(\"button.reject[data-til='%d']\").focus()" % third_til)
    page.press("Space")
    page.wait("!document.querySelector('#til-%d')" % third_til, "the rejection to apply")
    check(server.api("GET", "/til-requests/%d" % third_til)["data"]["status"] == "rejected", "rejected")

    # The run resumes: its page refreshes itself until it has succeeded.
    page.goto(base + "/#/executions/" + ids["first"])
    page.wait("document.querySelector('#execution-status') && document.querySelector('#execution-status').textContent === 'succeeded'",
              "the approved run to succeed", timeout=30)
    check(len(upstream.received) == 1, "the upstream got exactly one call: %s" % upstream.received)
    call = upstream.received[0]
    check(call["path"] == "/tickets/T-1001/notes" and call["authorization"] == "Bearer " + UPSTREAM_TOKEN
          and json.loads(call["body"]) == {"text": "Escalated: customer is down"}, "the approved call as held: %s" % call)
    page.wait("document.querySelectorAll('.timeline .step-tool_result').length >= 1 && document.querySelector('.artifact')",
              "the timeline's tool result and the artifact")
    text = page.eval("document.querySelector('#view').textContent")
    check("TOOL_CALL" in text and "TOOL_RESULT" in text and '"note_id": 1' in text, "TOOL_CALL and TOOL_RESULT bodies")
    check("Escalated ticket T-1001 in the CRM." in text, "the artifact")
    check("customer confirmed the outage" in text, "the decision and its note")
    page.screenshot("06-execution")

    # Cancel the second held run from its page.
    page.goto(base + "/#/executions/" + ids["second"])
    page.wait("document.querySelector('#cancel-execution')", "the cancel button")
    page.click("#cancel-execution")
    page.wait("document.querySelector('#execution-status') && document.querySelector('#execution-status').textContent === 'cancelled'"
              " && document.querySelector('#retry-execution')", "the run to be cancelled")
    # Retry it: a new run, waiting for approval again.
    page.click("#retry-execution")
    page.wait("!location.hash.includes('%s') && document.querySelector('#execution-status')" % ids["second"], "the retried run")
    retried = page.eval("location.hash").split("/")[-1]
    check(server.api("GET", "/executions/" + retried)["data"]["retry_of"] == ids["second"], "the new run retries the cancelled one")
    page.wait("document.querySelector('#execution-status').textContent === 'waiting_approval'", "the retry to wait for approval")

    # The executions list, filtered to failures.
    page.click("a[data-section=executions]")
    page.wait("document.querySelectorAll('a.execution-link').length >= 9", "the executions list")
    page.screenshot("07-executions")
    page.eval("document.querySelector('select[name=status]').value = 'failed'")
    page.click("form.filters button[type=submit]")
    page.wait("location.hash.includes('status=failed') && document.querySelectorAll('a.execution-link').length === 3", "the failed filter")
    check(page.eval("[...document.querySelectorAll('td[data-label=Status]')].every(td => td.textContent === 'failed')"), "only failures")

    # Callbacks: why each agent did or did not run.
    page.click("a[data-section=callbacks]")
    page.wait("document.querySelector('a.callback-link')", "the callbacks list")
    page.screenshot("08-callbacks")
    page.click("a.callback-link")
    page.wait("document.querySelector('.matches')", "the callback's matches")
    text = page.eval("document.querySelector('#view').textContent")
    check("Escalate to CRM" in text and "not matched" in text and "closed" in text, "the failed comparison is shown: " + text[:600])
    check(page.eval("document.querySelectorAll('table.compare tr.no').length") >= 1, "a comparison that did not match")
    page.screenshot("09-callback")

    # External APIs: test the connection.
    page.click("a[data-section=external-apis]")
    page.wait("document.querySelector('button.test-connection')", "the external APIs")
    page.type_into("form[aria-label='Test crm_notes'] input[data-param=ticket]", "T-1001")
    page.press("Enter")
    page.wait("document.querySelector('#test-crm_notes .badge')", "the connection test")
    check("HTTP 200" in page.eval("document.querySelector('#test-crm_notes').textContent"), "the test reached the upstream")
    page.screenshot("10-external-apis")

    # A phone: the same pages, readable at 390 px.
    page.b.send("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    page.goto(base + "/#/agents")
    page.wait("document.querySelectorAll('a.agent-link').length === 4", "the agents list on a phone")
    check(page.eval("document.documentElement.scrollWidth <= window.innerWidth + 1"), "no horizontal scrolling on a phone")
    page.screenshot("11-phone-agents")
    page.goto(base + "/#/executions/" + ids["first"])
    page.wait("document.querySelector('.timeline')", "an execution on a phone")
    check(page.eval("document.documentElement.scrollWidth <= window.innerWidth + 1"), "the timeline fits a phone")
    page.screenshot("12-phone-execution")
    page.eval("window.scrollTo(0, 0)")
    page.screenshot("13-phone-execution-top", full=False)
    page.b.send("Emulation.clearDeviceMetricsOverride")

    if args.docs:
        os.makedirs(args.docs, exist_ok=True)
        for name in ("readme-agents", "readme-approvals"):
            shutil.copy(os.path.join(args.out, name + ".png"), os.path.join(args.docs, "console-" + name.split("-")[1] + ".png"))
    return checks


def canary(page, server):
    """The detector must see a violation: load an image from another origin, which img-src 'self' refuses."""
    before = len(page.b.events)
    page.eval("(() => { const i = document.createElement('img'); i.src = 'http://127.0.0.1:9/canary.png'; document.body.appendChild(i); })()")
    page.b.pump(1.0)
    seen = problems(page.b.events[before:], server.base, allowed=[])
    if not any("CSP violation" in s or "ContentSecurityPolicy" in s for s in seen):
        fail("the CSP canary was not reported, so the violation detector does not work: %s" % seen)


if __name__ == "__main__":
    main()
