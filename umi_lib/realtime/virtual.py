"""The ``/virtual`` protocol of StableToolBench: a client (:class:`HttpEnv`) and a loopback server
(:func:`serve`) over the replay environment.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from umi_lib.client import JsonClient
from umi_lib.realtime.catalog import Catalog, Endpoint, category_folder
from umi_lib.realtime.dispatch import API_ERROR, OK, Outcome, ReplayEnv, precheck
from umi_lib.realtime.toolnames import api_function, spellings


def virtual_request(ep: Endpoint, arguments: Any) -> dict[str, Any]:
    """The body ToolBench's client sends to ``/virtual`` (``docs/toolbench.md#request-and-response``)."""
    return {"category": category_folder(ep.category), "tool_name": ep.tool,
            "api_name": api_function(ep.api) if ep.api else ep.function.split("_for_")[0],
            "tool_input": arguments if isinstance(arguments, str) else json.dumps(arguments),
            "strip": "truncate", "toolbench_key": ""}  # fmt: skip


@dataclass
class HttpEnv:
    """A StableToolBench-compatible ``/virtual`` server as the tool environment (URL from config).

    Finish, name matching and argument parsing stay local (the client side of ToolBench does them too);
    only real API calls travel. Network errors become ToolBench's request-failed envelope.
    """

    url: str
    catalog: Catalog
    timeout: float = 30.0
    counts: Counter = field(default_factory=Counter)
    client: JsonClient | None = field(default=None, repr=False, compare=False)

    def call(self, name: str, arguments: Any, offered: Sequence[str], query: str = "") -> Outcome:
        checked = precheck(self.catalog, name.strip(), arguments, offered)
        if isinstance(checked, Outcome):  # Finish, unknown names and bad input never reach the server
            self.counts[checked.kind] += 1
            return checked
        function, args = checked
        ep = self.catalog.endpoints.get(function, Endpoint(function))
        if self.client is None:
            self.client = JsonClient(self.url, timeout=self.timeout)
        try:
            env = self.client.post("", virtual_request(ep, args))
            if not isinstance(env, dict) or "response" not in env:
                raise ValueError("reply is not an envelope")
        except (OSError, ValueError) as exc:
            self.counts["server_error"] += 1
            return Outcome({"error": f"request invalid, data error. {type(exc).__name__}", "response": ""},
                           API_ERROR, "server_error", function)  # fmt: skip
        self.counts["server"] += 1
        return Outcome({"error": str(env.get("error", "")), "response": env["response"]}, OK, "server", function)

    def report(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "url": self.url}


def route(catalog: Catalog, category: str, tool: str, api: str) -> str | None:
    """The function a ``/virtual`` request names. Tool and API names that start with a digit are found under both
    spellings (``get_1_shoot_thumbnail``, as ToolBench's ``standardize`` sends it, or ``1_shoot_thumbnail``)."""
    for t in spellings(tool):
        for a in spellings(api):
            if (function := catalog.by_route.get((category, t, a))) is not None:
                return function
    return None


def serve(env: ReplayEnv, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``env`` on 127.0.0.1 in the ``/virtual`` format; returns the server and its URL (port 0: any).

    The call is replayed from the store under the catalog's function name; the store also holds recordings made
    under the other spelling of a name that starts with a digit (see :meth:`ResponseStore.lookup`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                tool = str(body["tool_name"]).removesuffix(f"_for_{body['category']}")
                function = route(env.catalog, str(body["category"]), tool, str(body["api_name"]))
                if function is None:
                    out = {"error": f"No such function name: {body['api_name']}", "response": ""}
                else:
                    out = env.call(function, body.get("tool_input", ""), [function]).envelope
                status = 200
            except (ValueError, KeyError, TypeError) as exc:
                out, status = {"error": f"bad request: {exc}", "response": ""}, 400
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/virtual"
