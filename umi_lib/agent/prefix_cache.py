"""Prefix reuse: keep the key/value cache of a stream's last prompt per role, prefill only what is new.

A *stream* is one trajectory (static evaluation) or one query's search (real-time rollouts). Its consecutive
prompts to one role share a long head (system text, tool list, the history so far) but never extend each other
exactly, because the template's tail differs; so the cached keys and values are cut back to the longest common
token prefix and only the rest is prefilled. In a causal model the keys and values at position ``i`` depend on
tokens ``0..i`` only, so the cut cache is what a full prefill would compute there (up to float summation order).

Left truncation (a prompt over ``max_input_tokens`` keeps its last tokens) moves the first token, every position
shifts and nothing can be reused; the backend counts those prompts as ``reuse_lost_to_truncation``.

Prefill runs one prompt at a time (no padding is ever prefilled); decoding runs in left-padded batches over the
stitched caches. See ``docs/agent.md#prefix-reuse``.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

Layers = list[tuple[Any, Any]]  # per layer (keys, values), each [1, kv_heads, tokens, head_dim]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token-id sequences."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass
class Entry:
    ids: tuple[int, ...]  # the tokens whose keys and values ``layers`` hold
    layers: Layers


@dataclass
class PrefixCache:
    """The last prompt's keys and values per ``(role, stream)``, least recently used dropped beyond ``max_tokens``."""

    max_tokens: int = 32768
    entries: OrderedDict[tuple[str, Hashable], Entry] = field(default_factory=OrderedDict)

    def tokens(self) -> int:
        """Tokens held over all entries (memory: tokens x layers x 2 x kv_heads x head_dim x bytes per value)."""
        return sum(len(e.ids) for e in self.entries.values())

    def __contains__(self, key: tuple[str, Hashable]) -> bool:
        return key in self.entries

    def take(self, key: tuple[str, Hashable], ids: Sequence[int]) -> tuple[int, Layers | None]:
        """``(n, layers)``: the longest cached prefix of ``ids`` under ``key`` and its keys and values cut to ``n``
        tokens (views, nothing copied); ``(0, None)`` when nothing is shared."""
        entry = self.entries.get(key)
        if entry is None:
            return 0, None
        self.entries.move_to_end(key)
        n = common_prefix(entry.ids, ids)
        if n == 0:
            return 0, None
        return n, [(k[..., :n, :], v[..., :n, :]) for k, v in entry.layers]

    def put(self, key: tuple[str, Hashable], ids: Sequence[int], layers: Layers) -> None:
        """Hold ``layers`` as ``key``'s cache of ``ids``; the least recently used entries go beyond the cap."""
        self.entries.pop(key, None)
        if 0 < len(ids) <= self.max_tokens:
            self.entries[key] = Entry(tuple(ids), layers)
        while self.tokens() > self.max_tokens:
            self.entries.popitem(last=False)

    def release(self, streams: Iterable[Hashable] | None = None) -> None:
        """Drop the caches of ``streams`` (every role), or all of them (``None``)."""
        if streams is None:
            self.entries.clear()
            return
        gone = set(streams)
        for key in [k for k in self.entries if k[1] in gone]:
            del self.entries[key]


def supports_reuse(model: Any) -> bool:
    """Whether every layer of ``model`` keeps a plain growing cache (no sliding window, no linear attention),
    the only kind whose cut prefix equals a fresh prefill."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    try:
        layers = DynamicCache(config=model.config).layers
    except (AttributeError, KeyError, TypeError, ValueError):
        return False
    return all(type(layer) is DynamicLayer for layer in layers)


def prefill(model: Any, new_ids: Sequence[int], layers: Layers | None) -> Layers:
    """Run ``new_ids`` after the cached ``layers`` (positions continue from there); the keys and values of all."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(ddp_cache_data=layers) if layers else DynamicCache()
    if new_ids:
        device = next(model.parameters()).device
        with torch.no_grad():
            model(input_ids=torch.tensor([list(new_ids)], device=device), cache=cache, use_cache=True,
                  logits_to_keep=1)  # fmt: skip
    return [(layer.keys, layer.values) for layer in cache.layers]


def left_padded(rows: Sequence[Layers | None], lengths: Sequence[int], width: int):
    """One batch cache of ``width`` positions from per-row caches, each row right-aligned (zeros where padded,
    masked by the attention mask). Written into one zeroed tensor per layer, which the cache then copies once."""
    from transformers import DynamicCache

    template = next(r for r in rows if r)
    layers = []
    for i, (k0, v0) in enumerate(template):
        keys = k0.new_zeros((len(rows), k0.shape[1], width, k0.shape[3]))
        values = v0.new_zeros((len(rows), v0.shape[1], width, v0.shape[3]))
        for b, (row, n) in enumerate(zip(rows, lengths, strict=True)):
            if n:  # a one-token prompt has nothing cached: its row stays padding
                keys[b, :, width - n :] = row[i][0][0]
                values[b, :, width - n :] = row[i][1][0]
        layers.append((keys, values))
    return DynamicCache(ddp_cache_data=layers)


def count_prompt(stats: Counter, tokens: int, computed: int, reused: int, truncated: bool) -> None:
    """Tally one prompt: its tokens, the tokens prefilled (padding included), reused, and whether it was cut."""
    stats["prompts"] += 1
    stats["prompt_tokens"] += tokens
    stats["prefill_tokens"] += computed
    stats["reused_tokens"] += reused
    stats["truncated"] += truncated


def describe(stats: Counter | dict) -> str | None:
    """One line on what a run prefilled (None when the backend kept no tallies)."""
    prompt = stats.get("prompt_tokens", 0)
    if not prompt:
        return None
    computed, reused = stats.get("prefill_tokens", 0), stats.get("reused_tokens", 0)
    return (f"prefill: {computed} of {prompt} prompt tokens computed ({1 - computed / prompt:.0%} saved, {reused} "
            f"reused; {stats.get('truncated', 0)} of {stats.get('prompts', 0)} prompts cut on the left)")  # fmt: skip
