"""Shared fixtures. Tests never touch the network (except the opt-in `online` marker) or the real runs/."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
TRAIN_EXAMPLE = DATA / "alpha_umi" / "train-example"
OOD = DATA / "alpha_umi" / "test" / "out_of_domain.json.gz"
ANSWERS = DATA / "toolbench" / "data_example" / "answer"
TEST_IDS = DATA / "stabletoolbench" / "solvable_queries" / "test_query_ids"


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    """Runs and figures go to a temporary folder; the model cache stays shared (it is deterministic)."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("UMI_RUNS", str(base / "runs"))
    monkeypatch.setenv("UMI_FIGURES", str(base / "figures"))
    if os.environ.get("UMI_ONLINE_TESTS") != "1":
        monkeypatch.setenv("UMI_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    skip_online = pytest.mark.skip(reason="set UMI_ONLINE_TESTS=1 (downloads from PyPI)")
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(skip_gpu)
        if "online" in item.keywords and os.environ.get("UMI_ONLINE_TESTS") != "1":
            item.add_marker(skip_online)


@pytest.fixture(scope="session")
def ood_steps(tmp_path_factory):
    """The 1547 static-evaluation items of the real out-of-domain test set (``umi steps``)."""
    from umi_lib.data.jsonio import load_json
    from umi_lib.data.steps import extract_steps

    out = tmp_path_factory.mktemp("steps") / "ood_steps.json"
    extract_steps(OOD, out)
    return load_json(out)


def assert_fields_documented(*classes) -> None:
    """Every dataclass field has a docstring on the line after it (litgpt style)."""
    import dataclasses
    import inspect

    for cls in classes:
        source = inspect.getsource(cls)
        for f in dataclasses.fields(cls):
            after = source.split(f"    {f.name}:", 1)[1].split("\n", 2)[1]
            assert after.strip().startswith('"""'), f"{cls.__name__}.{f.name} has no docstring"


class JsonHandler(BaseHTTPRequestHandler):
    """A loopback JSON server for tests: every POST body is kept in ``seen`` (with its path and headers in
    ``requests``); :meth:`answer` returns ``(status, reply)``, where ``reply`` is JSON-serialisable or raw text."""

    seen: list = []
    requests: list = []

    def answer(self, body) -> tuple[int, object]:
        raise NotImplementedError

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        type(self).requests.append((self.path, dict(self.headers)))
        status, reply = self.answer(body)
        data = (reply if isinstance(reply, str) else json.dumps(reply)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def running(handler: type[JsonHandler], path: str = "/v1"):
    """Serve ``handler`` on 127.0.0.1 (a real socket, real HTTP) and yield its base URL."""
    handler.seen, handler.requests = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()


class ChatHandler(JsonHandler):
    """A local OpenAI-style ``/chat/completions`` server answering from ``script``.

    Each entry is an HTTP status (int), a message dict, or a function of the request body returning one.
    """

    script: list = []

    def answer(self, body):
        reply = type(self).script.pop(0)
        if isinstance(reply, int):
            return reply, {}
        msg = reply(body) if callable(reply) else reply
        return 200, {"choices": [{"message": msg}]}


@pytest.fixture
def chat_server():
    """``(base_url, handler)`` of a scripted chat server on 127.0.0.1."""
    ChatHandler.script = []
    with running(ChatHandler) as url:
        yield url, ChatHandler
