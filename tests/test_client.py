"""The one JSON-over-HTTP client: retries what may pass, fails clearly on what will not, authenticates."""

from __future__ import annotations

import pytest
from conftest import JsonHandler, running

from umi_lib.client import HttpError, JsonClient


class Scripted(JsonHandler):
    """Answers each POST with the next ``(status, raw text)`` of ``script``."""

    script: list[tuple[int, str]] = []

    def answer(self, body):
        return self.script.pop(0)


@pytest.fixture
def server():
    with running(Scripted) as url:
        yield url


def test_retries_what_may_pass_then_returns_the_reply(server):
    Scripted.script = [(503, "busy"), (429, "slow down"), (200, '{"ok": 1}')]
    client = JsonClient(server + "/", api_key="k", retries=2, backoff=0)
    assert client.post("/completions", {"x": 1}) == {"ok": 1}
    assert [p for p, _ in Scripted.requests] == ["/v1/completions"] * 3
    assert Scripted.requests[0][1]["Authorization"] == "Bearer k" and Scripted.seen[0] == {"x": 1}


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
    assert "Authorization" not in Scripted.requests[0][1]  # no key, no header
