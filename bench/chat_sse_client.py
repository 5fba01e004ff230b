#!/usr/bin/env python3
"""A bot's view of the chat API (design §13), read with httpx + httpx-sse (PyPI), against a fresh neo-server.

A tiny model provider on 127.0.0.1 streams an OpenAI-format reply slowly; the client creates a session, sends a
message, tails /events with httpx-sse, drops the connection mid-turn, resumes with Last-Event-Id and checks that
every part arrived exactly once and in order, that the parts are the AI SDK's UI-message-stream types, and that
the history replays oldest first. Exit status 0 = all held. usage: chat_sse_client.py BASE_URL KEY
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from httpx_sse import connect_sse

PIECES = ["The ", "printer ", "queue ", "was ", "stuck; ", "I ", "cleared ", "it."]


class Model(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body.get("stream") is True, body
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(text):
            data = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        for piece in PIECES:
            delta = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            chunk("data: " + json.dumps(delta) + "\n\n")
            time.sleep(0.15)
        chunk('data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8}}\n\n')
        chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


def main():
    base, key = sys.argv[1], sys.argv[2]
    model = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=model.serve_forever, daemon=True).start()
    h = {"Authorization": f"Bearer {key}"}
    api = httpx.Client(base_url=base, headers=h, timeout=10)

    def ok(r, status):
        assert r.status_code == status, (r.status_code, r.text)
        return r.json()["data"]

    ok(api.post("/public-api/llm-providers", json={"name": "py", "kind": "openai_chat", "model": "m", "default": True,
                                                   "base_url": f"http://127.0.0.1:{model.server_address[1]}/v1"}), 201)
    agent = ok(api.post("/public-api/agents", json={"name": "py-desk", "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL",
                                                    "actions": []}), 201)
    session = ok(api.post("/public-api/chat/sessions", json={"agent_id": int(agent["id"]), "title": "py"}), 201)
    sid = session["id"]
    turn = ok(api.post(f"/public-api/chat/sessions/{sid}/messages", json={"message": "The printer is stuck."}), 202)

    stream = httpx.Client(base_url=base, headers=h, timeout=httpx.Timeout(10, read=30))
    first = []
    with connect_sse(stream, "GET", f"/public-api/chat/sessions/{sid}/events", params={"since": turn["since_cursor"]}) as source:
        assert source.response.headers["content-type"] == "text/event-stream", source.response.headers
        assert source.response.headers["x-vercel-ai-ui-message-stream"] == "v1"
        for sse in source.iter_sse():
            first.append((int(sse.id), json.loads(sse.data)))
            if sum(1 for _, p in first if p["type"] == "text-delta") == 3:
                break   # the bot's connection drops mid-turn
    last_id = first[-1][0]
    second = []
    with connect_sse(stream, "GET", f"/public-api/chat/sessions/{sid}/events", headers={"Last-Event-Id": str(last_id)}) as source:
        for sse in source.iter_sse():
            second.append((int(sse.id), json.loads(sse.data)))
            if second[-1][1]["type"] == "finish":
                break
    parts = first + second
    ids = [i for i, _ in parts]
    assert ids == list(range(1, len(ids) + 1)), f"ids not contiguous once each: {ids}"
    types = [p["type"] for _, p in parts]
    expected = ["start", "start-step", "text-start"] + ["text-delta"] * len(PIECES) + ["text-end", "finish-step", "finish"]
    assert types == expected, types
    text = "".join(p["delta"] for _, p in parts if p["type"] == "text-delta")
    assert text == "".join(PIECES), text
    history = ok(api.get(f"/public-api/chat/sessions/{sid}/messages"), 200)
    assert [(m["role"], m["content"]) for m in history] == [("user", "The printer is stuck."), ("assistant", "".join(PIECES))], history
    print(f"chat-sse-client: {len(parts)} parts read with httpx-sse, dropped after id {last_id} and resumed with Last-Event-Id: "
          f"none lost, none repeated")


if __name__ == "__main__":
    main()
