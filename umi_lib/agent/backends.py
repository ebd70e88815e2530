"""Backends for the agents: how a role's prompts become text.

* :class:`AdapterBackend`: one base in memory, one LoRA adapter per role, batched left-padded generation;
* :class:`ModelPerRoleBackend`: the official style, one full model per role loaded in turn (and the
  released checkpoints);
* :class:`VLLMBackend`: vLLM with one LoRA per role (GPU);
* :class:`OpenAIBackend`: any OpenAI-compatible completions endpoint.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from umi_lib import prompts as P
from umi_lib.agent.agents import GenParams, clean_output
from umi_lib.agent.prefix_cache import PrefixCache, count_prompt, left_padded, prefill, supports_reuse
from umi_lib.client import JsonClient
from umi_lib.names import ROLES
from umi_lib.progress import tqdm


def encode(tok, texts: Sequence[str], max_input_tokens: int) -> tuple[list[list[int]], list[bool]]:
    """Token ids of each prompt cut to its last ``max_input_tokens`` (the official collator's left truncation), and
    whether it was cut."""
    from umi_lib.train.loading import map_separator

    full = [tok(map_separator(t, tok))["input_ids"] for t in texts]
    return [ids[-max_input_tokens:] for ids in full], [len(ids) > max_input_tokens for ids in full]


def _pad_id(tok) -> int:
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def _generate(model, tok, ids, mask, params: GenParams, seed: int, cache=None):
    """``model.generate`` on one left-padded batch (``cache``: keys and values of all but each row's last token)."""
    import torch

    if params.do_sample:
        torch.manual_seed(params.seed + seed)
    device = next(model.parameters()).device
    config = model.generation_config
    named = config.cache_implementation if cache is not None else None
    if named is not None:  # a checkpoint may name its cache kind; generate refuses it next to a given cache
        config.cache_implementation = None
    try:
        with torch.no_grad():
            return model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=params.max_new_tokens,
                do_sample=params.do_sample, temperature=params.temperature if params.do_sample else None,
                top_p=None, top_k=None, pad_token_id=_pad_id(tok), eos_token_id=tok.eos_token_id,
                cache=cache,
            )  # fmt: skip
    finally:
        if named is not None:
            config.cache_implementation = named


def _left_padded_ids(tok, rows: Sequence[Sequence[int]]):
    """``(ids, mask, width)`` of rows right-aligned: the new tokens follow every prompt directly."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), _pad_id(tok), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, r in enumerate(rows):
        ids[row, width - len(r) :] = torch.tensor(r)
        mask[row, width - len(r) :] = 1
    return ids, mask, width


def generate_batched(
    model, tok, texts: Sequence[str], params: GenParams, batch_size: int, max_input_tokens: int, desc: str = "",
    stats: Counter | None = None,
) -> list[str]:  # fmt: skip
    """Greedy (or seeded) continuations of ``texts``, in length-sorted left-padded batches, input order kept.

    Prompts keep their last ``max_input_tokens`` tokens. ``stats`` tallies prompt and prefill tokens (padding
    included: a batch prefills its full width for every row) and the seconds spent in ``generate``.
    """
    encoded, cut = encode(tok, texts, max_input_tokens)
    order = sorted(range(len(encoded)), key=lambda k: len(encoded[k]))
    outputs: list[str] = [""] * len(encoded)
    model.eval()
    bar = tqdm(total=len(order), desc=desc, unit="prompt", leave=False, disable=not desc)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        ids, mask, width = _left_padded_ids(tok, [encoded[k] for k in batch])
        clock = time.perf_counter()
        out = _generate(model, tok, ids, mask, params, start)
        if stats is not None:
            stats["generate_seconds"] += time.perf_counter() - clock
        for row, k in enumerate(batch):
            outputs[k] = tok.decode(out[row, width:], skip_special_tokens=True)
            if stats is not None:
                count_prompt(stats, len(encoded[k]), width, 0, cut[k])
        bar.update(len(batch))
    bar.close()
    return outputs


def generate_reusing(
    model, tok, role: str, texts: Sequence[str], streams: Sequence[Hashable | None], params: GenParams,
    batch_size: int, max_input_tokens: int, cache: PrefixCache, stats: Counter, desc: str = "",
) -> list[str]:  # fmt: skip
    """:func:`generate_batched` with prefix reuse: each prompt, in the given order, starts from the cache of its
    stream's last prompt to ``role`` cut to their common prefix, prefills the rest alone, and leaves its own cache
    for the stream's next prompt; decoding runs in left-padded batches of ``batch_size``. Prompts without a stream
    (``None``) reuse nothing. ``stats`` also gets the seconds of prefill (with stitching) and of decoding."""
    encoded, cut = encode(tok, texts, max_input_tokens)
    empty = [k for k, ids in enumerate(encoded) if not ids]
    if empty:
        raise ValueError(f"prompt {empty[0]} of {len(encoded)} for {role} has no tokens; every role prompt has a "
                         "template, so an empty one means a caller bug")  # fmt: skip
    outputs: list[str] = [""] * len(encoded)
    model.eval()
    bar = tqdm(total=len(encoded), desc=desc, unit="prompt", leave=False, disable=not desc)
    for start in range(0, len(encoded), batch_size):
        batch = range(start, min(start + batch_size, len(encoded)))
        clock = time.perf_counter()
        rows = [_prefill_one(model, encoded[k][:-1], (role, streams[k]), cut[k], cache, stats) for k in batch]
        ids, mask, width = _left_padded_ids(tok, [encoded[k] for k in batch])
        lengths = [len(encoded[k]) - 1 for k in batch]
        past = left_padded(rows, lengths, width - 1) if width > 1 else None
        stats["prefill_seconds"] += time.perf_counter() - clock
        clock = time.perf_counter()
        out = _generate(model, tok, ids, mask, params, start, past)
        stats["decode_seconds"] += time.perf_counter() - clock
        for row, k in enumerate(batch):
            outputs[k] = tok.decode(out[row, width:], skip_special_tokens=True)
        bar.update(len(batch))
    bar.close()
    return outputs


def _prefill_one(model, head: list[int], key: tuple, cut: bool, cache: PrefixCache, stats: Counter):
    """Keys and values of ``head`` (a prompt but its last token), from the stream's cache where they agree."""
    streamed = key[1] is not None
    n, layers = cache.take(key, head) if streamed else (0, None)
    if cut and n == 0 and streamed and key in cache:
        stats["reuse_lost_to_truncation"] += 1
    layers = prefill(model, head[n:], layers) if head else None
    if streamed and head:
        cache.put(key, head, layers)
    count_prompt(stats, len(head) + 1, len(head) - n + 1, n, cut)  # + 1: the last token, run by generate
    return layers


@dataclass
class AdapterBackend:
    """One base, one adapter per role (``None`` = the bare base); switching is ``set_adapter``.

    With ``prefix_reuse``, prompts that come with their streams (:meth:`generate`'s ``streams``) start from the
    cached keys and values of their stream's previous prompt to the same role (:mod:`umi_lib.agent.prefix_cache`).
    ``stats`` counts prompts, prompt tokens, tokens prefilled and reused, and truncated prompts.
    """

    model: Any
    tokenizer: Any
    adapters: dict[str, str | None]
    batch_size: int = 8
    max_input_tokens: int = 3750  # the official inference script's max_input_length
    progress: bool = True
    prefix_reuse: bool = False
    cache_tokens: int = 32768
    stats: Counter = field(default_factory=Counter)
    cache: PrefixCache | None = field(default=None, repr=False)

    def settings(self) -> dict[str, Any]:
        return {"kind": "adapters", "adapters": self.adapters, "batch_size": self.batch_size,
                "max_input_tokens": self.max_input_tokens, "prefix_reuse": self.reusing()}  # fmt: skip

    def reusing(self) -> bool:
        """Whether prompts with streams reuse prefixes (switched on, and the model's cache can be cut)."""
        if self.prefix_reuse and self.cache is None:
            if not supports_reuse(self.model):
                print("prefix reuse is off: this model's cache (sliding window or linear attention) cannot be cut")
                self.prefix_reuse = False
                return False
            self.cache = PrefixCache(self.cache_tokens)
        return self.prefix_reuse

    def release(self, streams: Sequence[Hashable] | None = None) -> None:
        """Drop the cached prefixes of ``streams`` (all of them: ``None``), e.g. when a trajectory has no steps left."""
        if self.cache is not None:
            self.cache.release(streams)

    def generate(
        self, role: str, prompts: Sequence[str], params: GenParams, streams: Sequence[Hashable | None] | None = None
    ) -> list[str]:
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
            if streams is not None and self.reusing():
                raw = generate_reusing(self.model, self.tokenizer, role, prompts, streams, params, self.batch_size,
                                       self.max_input_tokens, self.cache, self.stats, desc)  # fmt: skip
            else:
                raw = generate_batched(self.model, self.tokenizer, prompts, params, self.batch_size,
                                       self.max_input_tokens, desc, self.stats)  # fmt: skip
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

    def settings(self) -> dict[str, Any]:
        return {"kind": "model-per-role", "models": self.models, "batch_size": self.batch_size,
                "max_input_tokens": self.max_input_tokens, "quantization": self.quantization}  # fmt: skip

    def _load(self, role: str):
        if self.loaded is None or self.loaded[0] != role:
            import gc

            from umi_lib.train.loading import load_base

            self.loaded = None
            gc.collect()
            model, tok, _ = load_base(self.models[role], self.quantization)
            self.loaded = (role, model, tok)
        return self.loaded[1], self.loaded[2]

    def generate(self, role: str, prompts: Sequence[str], params: GenParams, streams=None) -> list[str]:
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

    def settings(self) -> dict[str, Any]:
        return {"kind": "vllm", "base": self.base, "adapters": self.adapters, "max_input_tokens": self.max_input_tokens}

    def _engine(self):
        if self.llm is None:
            try:
                import vllm
            except ImportError as exc:
                from umi_lib.train.bases import ModelError

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

    def generate(self, role: str, prompts: Sequence[str], params: GenParams, streams=None) -> list[str]:
        """``streams`` is not needed: vLLM's automatic prefix caching finds shared prefixes itself."""
        llm = self._engine()
        ids, _ = encode(llm.get_tokenizer(), prompts, self.max_input_tokens)
        requests = [{"prompt_token_ids": row} for row in ids]
        outs = llm.generate(requests, self.sampling_params(params), lora_request=self.lora_request(role),
                            use_tqdm=self.progress)  # fmt: skip
        return [clean_output(o.outputs[0].text, params.stop) for o in outs]


RELEASED = {role: f"shenwzh3/alpha-umi-{role}-7b" for role in ROLES}


def endpoint_tokenizer(name: str):
    """The tokenizer an endpoint's prompts are counted with: a registry name, folder or cached Hub id; None
    (with a note) when it is not available offline, in which case prompts are sent untruncated."""
    from umi_lib.train.bases import ModelError, load_tokenizer

    try:
        return load_tokenizer(name)
    except (ModelError, OSError, ValueError) as exc:
        print(f"no local tokenizer for {name!r} ({type(exc).__name__}): prompts are sent without the official "
              "truncation; pass --tokenizer NAME_OR_FOLDER to apply it")  # fmt: skip
        return None


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
    tokenizer: Any = None  # counts prompt tokens for the official left truncation; None: prompts go as they are
    max_input_tokens: int = 3750
    client: JsonClient | None = field(default=None, repr=False, compare=False)

    def settings(self) -> dict[str, Any]:
        return {"kind": "endpoint", "base_url": self.base_url, "model": self.model, "models": self.models,
                "tokenizer": getattr(self.tokenizer, "name_or_path", None),
                "max_input_tokens": self.max_input_tokens}  # fmt: skip

    def prompt_for(self, prompt: str) -> str | list[int]:
        """The official truncation: a prompt over budget is sent as its last ``max_input_tokens`` token ids
        (the completions API accepts token ids, so nothing is lost to re-tokenization); shorter ones as text."""
        if self.tokenizer is None:
            return prompt
        (ids,), (cut,) = encode(self.tokenizer, [prompt], self.max_input_tokens)
        if not cut:
            return prompt
        self.errors["prompts_truncated"] += 1
        return ids

    def _complete(self, model: str, prompt: str, params: GenParams) -> str:
        body = {"model": model, "prompt": self.prompt_for(prompt), "max_tokens": params.max_new_tokens,
                "temperature": params.temperature if params.do_sample else 0.0}  # fmt: skip
        if params.stop:
            body["stop"] = list(params.stop)
        if params.do_sample:
            body["seed"] = params.seed
        if self.client is None:
            self.client = JsonClient(self.base_url, self.api_key, self.timeout)
        reply = self.client.post("/completions", body)
        text = reply["choices"][0]["text"]
        if not isinstance(text, str):
            raise ValueError("choices[0].text is not a string")
        return text

    def generate(self, role: str, prompts: Sequence[str], params: GenParams, streams=None) -> list[str]:
        out = []
        for p in prompts:
            try:
                out.append(clean_output(self._complete(self.models.get(role, self.model), p, params), params.stop))
            except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
                self.errors[type(exc).__name__] += 1
                out.append(P.NO_ANSWER)
        return out
