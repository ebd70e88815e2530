"""One JSON-over-HTTP client for every endpoint the workbook talks to.

Four callers share it: the agent's OpenAI-compatible completions endpoint, the LLM judge and the API
simulator (chat completions), and StableToolBench's ``/virtual`` tool server. All get the same timeouts, the
same retries (connection failures, timeouts, HTTP 429 and 5xx, with exponential backoff), Bearer
authentication when a key is given, and one error type, :class:`HttpError`, whose message names the URL and
the cause.

Why ``httpx`` and not the ``openai`` SDK: one of the four is not an OpenAI API at all (``/virtual``), and the
other three need request bodies the SDK does not model the same way on every server (token-id prompts for
the official truncation, ``seed``, forced tool calls on vLLM or llama.cpp). ``httpx`` is a small, well-kept
library with explicit timeouts and connection pooling; the retry policy is ours, so it is the same everywhere
and visible here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

TIMEOUT = 60.0
"""Seconds per request (connect and read) unless a caller sets its own."""
RETRIES = 2
"""Extra attempts after a failure that may pass (no connection, timeout, HTTP 429 or 5xx)."""
BACKOFF = 0.5
"""Seconds before the first retry; doubled for each further one."""
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class HttpError(OSError):
    """A request that failed for good: the URL, the HTTP status (None without a reply) and the cause."""

    def __init__(self, url: str, cause: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {cause}")
        self.url, self.status = url, status


@dataclass
class JsonClient:
    """POST JSON to ``base_url + path`` and return the parsed JSON reply."""

    base_url: str
    api_key: str = ""
    timeout: float = TIMEOUT
    retries: int = RETRIES
    backoff: float = BACKOFF
    _client: httpx.Client | None = field(default=None, repr=False)

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(timeout=self.timeout, headers=headers)
        return self._client

    def url(self, path: str = "") -> str:
        return self.base_url.rstrip("/") + path if path else self.base_url

    def post(self, path: str, body: Any) -> Any:
        """The reply's JSON; :class:`HttpError` after the last failed attempt or for a reply that is not JSON."""
        url = self.url(path)
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                reply = self._http().post(url, json=body)
            except httpx.HTTPError as exc:  # no connection, timeout, broken transfer
                if last:
                    raise HttpError(url, f"{type(exc).__name__}: {exc}") from exc
            else:
                if reply.status_code < 400:
                    try:
                        return reply.json()
                    except json.JSONDecodeError as exc:
                        raise HttpError(url, f"reply is not JSON: {reply.text[:120]!r}", reply.status_code) from exc
                if last or reply.status_code not in RETRY_STATUS:
                    raise HttpError(url, f"HTTP {reply.status_code}: {reply.text[:200]}", reply.status_code)
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
