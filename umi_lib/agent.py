"""The α-UMi agent (planner → caller or summarizer) and the single-LLM baseline, over pluggable backends.

A **backend** turns prompts into texts for one role: ``generate(role, prompts, params) -> texts``.

* :class:`AdapterBackend`: one base in memory, one PEFT adapter per role (``None``: the bare base), prompts
  in length-sorted, left-padded batches;
* :class:`ModelPerRoleBackend`: one full model per role, loaded one at a time like the official pipeline
  (the released ``shenwzh3/alpha-umi-{planner,caller,summarizer}-7b`` checkpoints, or local folders);
* :class:`OpenAIBackend`: any OpenAI-compatible ``/v1/completions`` endpoint (GPT-class APIs, vLLM or
  llama.cpp servers) for the paper's zero-shot rows;
* :class:`VLLMBackend`: vLLM in-process with multi-LoRA (optional, GPU, imported only when used).

An **agent** turns static-evaluation steps into prediction strings in the official format (spec §4.3):
:class:`MultiLLMAgent` routes on the planner's ``Next:`` label, :class:`SingleLLMAgent` parses one backbone
output. Model output is data: it is only cut at markers, never evaluated. Output that cannot be routed or
parsed still becomes a prediction (scored wrong by ``umi score``) and is counted in :attr:`Agent.counts`.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm.auto import tqdm

from umi_lib import prompts as P

EMPTY_OUTPUTS = ("", ".", ",")  # the official pipeline maps these to "none" (spec 4.2)


@dataclass(frozen=True)
class GenParams:
    """Decoding settings of one role."""

    max_new_tokens: int = 512
    do_sample: bool = False  # greedy by default; the official run sampled (spec 4.2)
    temperature: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()  # extra stop strings; the output is cut at the first one


class Backend(Protocol):
    def generate(self, role: str, prompts: Sequence[str], params: GenParams) -> list[str]: ...


def clean_output(text: str, stop: Sequence[str] = ()) -> str:
    """Official post-processing: cut at stop strings, strip a leading ``": "``, empty → ``"none"``."""
    for s in stop:
        if s in text:
            text = text[: text.index(s)]
    if text.startswith(": "):
        text = text[2:]
    return P.NO_ANSWER if text.strip() in EMPTY_OUTPUTS else text


# ---------------------------------------------------------------------------------------------------
# transformers backends
# ---------------------------------------------------------------------------------------------------


def generate_batched(
    model, tok, texts: Sequence[str], params: GenParams, batch_size: int, max_input_tokens: int, desc: str = ""
) -> list[str]:
    """Greedy (or seeded) continuations of ``texts``, in length-sorted left-padded batches, input order kept.

    Prompts keep their last ``max_input_tokens`` tokens (the official collator's left truncation).
    """
    import torch

    from umi_lib.modeling import map_separator

    encoded = [tok(map_separator(t, tok))["input_ids"][-max_input_tokens:] for t in texts]
    order = sorted(range(len(encoded)), key=lambda k: len(encoded[k]))
    outputs: list[str] = [""] * len(encoded)
    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    model.eval()
    bar = tqdm(total=len(order), desc=desc, unit="prompt", leave=False, disable=not desc)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(encoded[k]) for k in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, k in enumerate(batch):  # left padding: the new tokens follow every prompt directly
            ids[row, width - len(encoded[k]) :] = torch.tensor(encoded[k])
            mask[row, width - len(encoded[k]) :] = 1
        if params.do_sample:
            torch.manual_seed(params.seed + start)
        with torch.no_grad():
            out = model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=params.max_new_tokens,
                do_sample=params.do_sample, temperature=params.temperature if params.do_sample else None,
                top_p=None, top_k=None, pad_token_id=pad, eos_token_id=tok.eos_token_id,
            )  # fmt: skip
        for row, k in enumerate(batch):
            outputs[k] = tok.decode(out[row, width:], skip_special_tokens=True)
        bar.update(len(batch))
    bar.close()
    return outputs


@dataclass
class AdapterBackend:
    """One base, one adapter per role (``None`` = the bare base); switching is ``set_adapter``."""

    model: Any
    tokenizer: Any
    adapters: dict[str, str | None]
    batch_size: int = 8
    max_input_tokens: int = 3750  # the official inference script's max_input_length
    progress: bool = True

    def generate(self, role: str, prompts: Sequence[str], params: GenParams) -> list[str]:
        import contextlib

        adapter = self.adapters[role]
        if adapter is None and hasattr(self.model, "disable_adapter"):
            ctx = self.model.disable_adapter()
        else:
            ctx = contextlib.nullcontext()
            if adapter is not None:
                self.model.set_adapter(adapter)
        desc = f"{role} ({adapter or 'base'})" if self.progress else ""
        with ctx:
            raw = generate_batched(self.model, self.tokenizer, prompts, params, self.batch_size,
                                   self.max_input_tokens, desc)  # fmt: skip
        return [clean_output(t, params.stop) for t in raw]


@dataclass
class ModelPerRoleBackend:
    """A full model per role, loaded when its role is first asked and dropped before the next one.

    ``models`` maps roles to registry names, Hub ids or folders, e.g. the released checkpoints
    :data:`RELEASED`. This is how the official pipeline holds its models (one on the device at a time).
    """

    models: dict[str, str]
    batch_size: int = 1
    max_input_tokens: int = 3750
    quantization: str = "auto"
    progress: bool = True
    loaded: tuple[str, Any, Any] | None = None

    def _load(self, role: str):
        if self.loaded is None or self.loaded[0] != role:
            import gc

            from umi_lib.modeling import load_base

            self.loaded = None
            gc.collect()
            model, tok, _ = load_base(self.models[role], self.quantization)
            self.loaded = (role, model, tok)
        return self.loaded[1], self.loaded[2]

    def generate(self, role: str, prompts: Sequence[str], params: GenParams) -> list[str]:
        model, tok = self._load(role)
        desc = role if self.progress else ""
        raw = generate_batched(model, tok, prompts, params, self.batch_size, self.max_input_tokens, desc)
        return [clean_output(t, params.stop) for t in raw]


@dataclass
class VLLMBackend:
    """vLLM with multi-LoRA: one base on the GPU, one LoRA folder per role (``None``: the bare base).

    Optional (``pip install vllm``, CUDA): imported on first use only, so CPU installs never need it. Prompts
    are tokenized here with the same separator mapping and left truncation as :func:`generate_batched`, and vLLM
    batches and schedules them itself. Greedy is ``temperature=0``; sampling is seeded per request.
    """

    base: str
    adapters: dict[str, str | None]
    max_input_tokens: int = 3750
    max_lora_rank: int = 64
    engine_args: dict[str, Any] = field(default_factory=dict)  # passed to ``vllm.LLM`` (e.g. gpu_memory_utilization)
    progress: bool = True
    llm: Any = None

    def _engine(self):
        if self.llm is None:
            try:
                import vllm
            except ImportError as exc:
                from umi_lib.models import ModelError

                raise ModelError("the vLLM backend needs `pip install vllm` on a CUDA machine; "
                                 "the transformers backend (AdapterBackend) runs everywhere") from exc  # fmt: skip
            loras = {f for f in self.adapters.values() if f is not None}
            self.llm = vllm.LLM(model=self.base, enable_lora=bool(loras), max_lora_rank=self.max_lora_rank,
                                max_loras=max(1, len(loras)), **self.engine_args)  # fmt: skip
        return self.llm

    def lora_request(self, role: str):
        """The role's adapter as a ``LoRARequest``; its integer id is stable per folder (vLLM caches by id)."""
        folder = self.adapters[role]
        if folder is None:
            return None
        from vllm.lora.request import LoRARequest

        folders = sorted({str(f) for f in self.adapters.values() if f is not None})
        return LoRARequest(role, folders.index(str(folder)) + 1, str(folder))

    def sampling_params(self, params: GenParams):
        from vllm import SamplingParams

        return SamplingParams(max_tokens=params.max_new_tokens,
                              temperature=params.temperature if params.do_sample else 0.0,
                              seed=params.seed if params.do_sample else None,
                              stop=list(params.stop) or None)  # fmt: skip

    def generate(self, role: str, prompts: Sequence[str], params: GenParams) -> list[str]:
        from umi_lib.modeling import map_separator

        llm = self._engine()
        tok = llm.get_tokenizer()
        requests = [{"prompt_token_ids": tok(map_separator(p, tok))["input_ids"][-self.max_input_tokens :]}
                    for p in prompts]  # fmt: skip
        outs = llm.generate(requests, self.sampling_params(params), lora_request=self.lora_request(role),
                            use_tqdm=self.progress)  # fmt: skip
        return [clean_output(o.outputs[0].text, params.stop) for o in outs]


RELEASED = {role: f"shenwzh3/alpha-umi-{role}-7b" for role in ("planner", "caller", "summarizer")}


@dataclass
class OpenAIBackend:
    """An OpenAI-compatible text-completion endpoint (``POST {base_url}/completions``), one request per prompt.

    ``model`` may differ per role through ``models``. Errors (HTTP, timeouts, malformed replies) become the
    output ``"none"`` and are counted in :attr:`errors`, so one bad request never ends an evaluation.
    """

    base_url: str
    model: str
    api_key: str = ""
    models: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    errors: Counter = field(default_factory=Counter)

    def _complete(self, model: str, prompt: str, params: GenParams) -> str:
        body = {"model": model, "prompt": prompt, "max_tokens": params.max_new_tokens,
                "temperature": params.temperature if params.do_sample else 0.0}  # fmt: skip
        if params.stop:
            body["stop"] = list(params.stop)
        if params.do_sample:
            body["seed"] = params.seed
        req = urllib.request.Request(
            self.base_url.rstrip("/") + "/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            reply = json.loads(resp.read().decode())
        text = reply["choices"][0]["text"]
        if not isinstance(text, str):
            raise ValueError("choices[0].text is not a string")
        return text

    def generate(self, role: str, prompts: Sequence[str], params: GenParams) -> list[str]:
        out = []
        for p in prompts:
            try:
                out.append(clean_output(self._complete(self.models.get(role, self.model), p, params), params.stop))
            except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
                self.errors[type(exc).__name__] += 1
                out.append(P.NO_ANSWER)
        return out


# ---------------------------------------------------------------------------------------------------
# Agents
# ---------------------------------------------------------------------------------------------------

DEFAULT_PARAMS = {
    "planner": GenParams(max_new_tokens=128),
    "caller": GenParams(max_new_tokens=128),
    "summarizer": GenParams(max_new_tokens=256),
    "backbone": GenParams(max_new_tokens=256),
}


def _cut_after(text: str, marker: str) -> str:
    return text[: text.index(marker) + len(marker)]


@dataclass
class Agent:
    """Common part: params per role, counts of what happened (routes, unparseable outputs)."""

    backend: Backend
    params: dict[str, GenParams] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    counts: Counter = field(default_factory=Counter)

    def predict(self, steps: Sequence[dict[str, Any]]) -> list[str]:
        raise NotImplementedError


@dataclass
class MultiLLMAgent(Agent):
    """Planner, then caller or summarizer, routed on the planner's label (spec §4.3 / §5.2).

    ``official_role_name``: the official static pipeline writes the current step into the caller's and
    summarizer's history as ``"planner: ..."``, a role name never seen in training; by default we write
    ``"assistant: ..."`` as in training and in the real-time agent.
    """

    official_role_name: bool = False
    compat: bool = False

    def route(self, planner_output: str) -> tuple[str, str]:
        """``(next role, planner prediction)``: give-up / summarizer / caller, truncated after the label."""
        if P.NEXT_GIVE_UP in planner_output:
            return "give up", _cut_after(planner_output, P.NEXT_GIVE_UP)
        if P.NEXT_CONCLUSION in planner_output:
            return "summarizer", _cut_after(planner_output, P.NEXT_CONCLUSION)
        if P.NEXT_CALLER in planner_output:
            return "caller", _cut_after(planner_output, P.NEXT_CALLER)
        self.counts["planner_without_label"] += 1
        return "caller", planner_output + P.NEXT_CALLER  # official: no space before the label

    def _history(self, step: dict[str, Any], planner_prediction: str) -> str:
        role = "planner" if self.official_role_name else P.ROLE_ASSISTANT
        return step["history"] + f"{role}: {planner_prediction}{P.EOS}"

    def predict(self, steps: Sequence[dict[str, Any]]) -> list[str]:
        plans = self.backend.generate("planner", [s["input"] for s in steps], self.params["planner"])
        routes = [self.route(p) for p in plans]
        self.counts.update(r for r, _ in routes)
        out: list[str] = [""] * len(steps)
        for role in ("caller", "summarizer"):
            idx = [k for k, (r, _) in enumerate(routes) if r == role]
            if not idx:
                continue
            texts = [
                P.fill(role, steps[k]["tools"], self._history(steps[k], routes[k][1]), routes[k][1], self.compat)
                for k in idx
            ]
            replies = self.backend.generate(role, texts, self.params[role])
            label = P.ROLE_CALLER if role == "caller" else P.ROLE_CONCLUSION
            for k, reply in zip(idx, replies, strict=True):
                out[k] = P.PREDICTION_ASSISTANT + routes[k][1] + P.EOS + f"{label}: " + reply
                if role == "caller" and P.MARK_ACTION not in reply:
                    self.counts["caller_without_action"] += 1
        for k, (r, plan) in enumerate(routes):
            if r == "give up":
                out[k] = plan
        return out


@dataclass
class SingleLLMAgent(Agent):
    """One backbone model: its output is parsed into the official prediction format (spec §4.5 parsing)."""

    compat: bool = False

    def to_prediction(self, output: str) -> str:
        """Backbone text → the multi-agent prediction string, so the same scorer reads every system."""
        if "conclusion: give up" in output:
            thought = output[: output.index("conclusion: give up")].rstrip()
            return thought + P.LABEL_PREFIX + P.NEXT_GIVE_UP
        if P.MARK_ANSWER in output:
            k = output.rindex(P.MARK_ANSWER)
            thought, answer = output[:k].rstrip(), output[k + len(P.MARK_ANSWER) :]
            return (
                P.PREDICTION_ASSISTANT + thought + P.LABEL_PREFIX + P.NEXT_CONCLUSION + P.EOS + "conclusion: " + answer
            )
        if P.MARK_ACTION in output:
            k = output.index(P.MARK_ACTION)
            thought, call = output[:k].rstrip(), output[k:]
        else:
            self.counts["backbone_unparseable"] += 1
            thought, call = output.rstrip(), ""
        return P.PREDICTION_ASSISTANT + thought + P.LABEL_PREFIX + P.NEXT_CALLER + P.EOS + "caller: " + call

    def predict(self, steps: Sequence[dict[str, Any]]) -> list[str]:
        texts = [P.fill("backbone", s["tools"], s["history"], compat=self.compat) for s in steps]
        outputs = self.backend.generate("backbone", texts, self.params["backbone"])
        return [self.to_prediction(o) for o in outputs]
