"""The one JSON-over-HTTP client: retries what may pass, fails clearly on what will not, authenticates."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from umi_lib.client import HttpError, JsonClient


class Scripted(BaseHTTPRequestHandler):
    """Answers each POST with the next ``(status, body)`` of ``script``; keeps paths, headers and bodies."""

    script: list[tuple[int, str]] = []
    seen: list[tuple[str, dict, object]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, dict(self.headers), body))
        status, text = self.script.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Scripted.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()


def test_retries_what_may_pass_then_returns_the_reply(server):
    Scripted.script = [(503, "busy"), (429, "slow down"), (200, '{"ok": 1}')]
    client = JsonClient(server + "/", api_key="k", retries=2, backoff=0)
    assert client.post("/completions", {"x": 1}) == {"ok": 1}
    assert [p for p, _, _ in Scripted.seen] == ["/v1/completions"] * 3
    assert Scripted.seen[0][1]["Authorization"] == "Bearer k" and Scripted.seen[0][2] == {"x": 1}


def test_a_client_error_is_not_retried_and_names_url_and_status(server):
    Scripted.script = [(400, "bad request: prompt too long")]
    with pytest.raises(HttpError) as err:
        JsonClient(server, retries=3, backoff=0).post("/completions", {})
    assert err.value.status == 400 and len(Scripted.seen) == 1
    assert "/v1/completions: HTTP 400: bad request: prompt too long" in str(err.value)


def test_replies_that_are_not_json_and_dead_servers_fail_clearly(server):
    Scripted.script = [(200, "<html>proxy login</html>")]
    with pytest.raises(HttpError, match="reply is not JSON"):
        JsonClient(server, backoff=0).post("", {})
    with pytest.raises(HttpError, match="127.0.0.1:9.*ConnectError") as err:
        JsonClient("http://127.0.0.1:9", retries=1, backoff=0, timeout=2).post("/x", {})
    assert err.value.status is None
    assert "Authorization" not in Scripted.seen[0][1]  # no key, no header
