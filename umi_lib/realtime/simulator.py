"""An optional API simulator for replay misses: any OpenAI-compatible chat endpoint invents the response.

Prompt in our own words after StableToolBench's idea (``docs/toolbench.md#simulation-fallback``): the API
documentation, up to five recorded examples of the same endpoint, the call; the reply must be a JSON envelope.
Temperature 0 and a fixed seed; every answer is appended to a JSONL layer and replayed from there later, so a
simulated run can be repeated exactly without the simulator. Replies that are not a JSON envelope count as failures
(None).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umi_lib.client import JsonClient

SYSTEM = (
    "You stand in for a web API. From its documentation and the example calls, work out what it does and "
    "answer the new call the way the real service would. Reply with one JSON object and nothing else: "
    '{"error": "", "response": <the response body>}. Keep the body short (at most about 200 words) but '
    "informative; for a bad request answer with the error the service would give."
)


@dataclass
class Simulator:
    base_url: str
    model: str
    layer: str | None = None  # JSONL file of earlier simulated answers
    seed: int = 42
    timeout: float = 60.0
    errors: Counter = field(default_factory=Counter)
    api_key: str = ""
    client: JsonClient | None = field(default=None, repr=False, compare=False)
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.layer:
            for function, args, env in read_layer(self.layer, self.errors):
                self.cache[_key(function, args)] = env

    def prompt(self, ep: Any, args: Mapping[str, Any], examples: Sequence[tuple[Any, Any]]) -> str:
        doc = {"tool": ep.tool, "api": ep.api or ep.function, "description": ep.description[:1024],
               "required_parameters": ep.required, "optional_parameters": ep.optional}  # fmt: skip
        shots = "".join(f"Input: {json.dumps(i)}\nOutput: {json.dumps(o)[:512]}\n" for i, o in examples)[:2048]
        return f"API documentation:\n{json.dumps(doc)}\nExamples:\n{shots}New call input: {json.dumps(args)}"

    def respond(self, function: str, ep: Any, args: Mapping[str, Any],
                examples: Sequence[tuple[Any, Any]]) -> dict[str, Any] | None:  # fmt: skip
        key = _key(function, args)
        if key in self.cache:
            return self.cache[key]
        body = {"model": self.model, "temperature": 0, "seed": self.seed, "max_tokens": 1024,
                "messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": self.prompt(ep, args, examples)}]}  # fmt: skip
        if self.client is None:
            self.client = JsonClient(self.base_url, self.api_key, self.timeout)
        try:
            text = self.client.post("/chat/completions", body)["choices"][0]["message"]["content"]
            env = json.loads(text)
            if not isinstance(env, dict) or "response" not in env:
                raise ValueError("not an envelope")
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            self.errors[type(exc).__name__] += 1
            return None
        env = {"error": str(env.get("error", "")), "response": env["response"]}
        self.cache[key] = env
        if self.layer:
            Path(self.layer).parent.mkdir(parents=True, exist_ok=True)
            with open(self.layer, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"function": function, "arguments": dict(args), "envelope": env}) + "\n")
        return env


def _key(function: str, args: Mapping[str, Any]) -> str:
    return function + " " + json.dumps(args, sort_keys=True)


def read_layer(path: str | Path, errors: Counter | None = None) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(function, arguments, envelope)`` of a simulated layer; unreadable lines are counted, not fatal."""
    out = []
    if not Path(path).exists():
        return out
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
            env = rec["envelope"]
            if not isinstance(rec["arguments"], dict) or not isinstance(env, dict) or "response" not in env:
                raise TypeError("not a layer record")
            out.append((str(rec["function"]), rec["arguments"], env))
        except (ValueError, KeyError, TypeError):
            if errors is not None:
                errors["bad_layer_line"] += 1
    return out
