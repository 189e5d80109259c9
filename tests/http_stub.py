"""A scripted local OpenAI-compatible chat server for tests and benchmarks (127.0.0.1, a free port)."""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Server:
    """A local chat endpoint whose behaviour per request is scripted by the test.

    `script` is a list of actions used up one per request, or a function from the request
    body to an action. Actions: ("ok", text, finish_reason), ("status", code), ("garbage",),
    ("sleep", seconds), ("json", payload) for any JSON body, and ("trickle", seconds), which
    sends a valid-looking reply one byte per 0.1 s for that long.
    """

    def __init__(self, script):
        self.reply = script if callable(script) else None
        self.script = [] if callable(script) else list(script)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if outer.reply is not None:
                    action = outer.reply(body)
                else:
                    action = outer.script.pop(0) if outer.script else ("ok", "fine.", "stop")
                if action[0] == "sleep":
                    time.sleep(action[1])
                    action = ("ok", "late.", "stop")
                if action[0] == "status":
                    self.send_response(action[1])
                    self.end_headers()
                    return
                if action[0] == "trickle":
                    self.send_response(200)
                    self.send_header("Content-Length", str(10**6))
                    self.end_headers()
                    end = time.monotonic() + action[1]
                    try:
                        while time.monotonic() < end:
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:  # the client gave up, as it should
                        pass
                    return
                if action[0] == "json":
                    action = ("raw", json.dumps(action[1]).encode())
                if action[0] == "raw":
                    payload = action[1]
                else:
                    payload = b"<html>not json" if action[0] == "garbage" else json.dumps(
                        {"choices": [{"message": {"content": action[1]}, "finish_reason": action[2]}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A client that gave up on a slow reply (as it should) leaves a broken pipe; not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def server(request):
    servers = []

    def make(*script):
        s = Server(script)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()
