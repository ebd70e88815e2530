"""What training did, measured on one base: held-out loss per role, adapter tensors, greedy generations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from umi_lib.names import ROLES
from umi_lib.train.stages import SystemRun


def heldout_loss(model, samples: Sequence[dict[str, list[int]]], adapter: str | None) -> float:
    """Mean loss per target token on held-out samples, with ``adapter`` active (None: the bare base)."""
    import contextlib

    import torch

    device = next(model.parameters()).device
    total, count = 0.0, 0
    ctx = model.disable_adapter() if adapter is None else contextlib.nullcontext()
    if adapter is not None:
        model.set_adapter(adapter)
    was_training = model.training
    model.eval()
    with ctx, torch.no_grad():
        for s in samples:
            ids = torch.tensor([s["input_ids"]], device=device)
            labels = ids.clone()
            labels[0, torch.tensor(s["completion_mask"]) == 0] = -100
            n = int((labels[0, 1:] != -100).sum())
            total += float(model(input_ids=ids, labels=labels).loss) * n
            count += n
    model.train(was_training)
    return total / max(count, 1)


def heldout_losses(run: SystemRun, adapters: dict[str, str | None]) -> dict[str, dict[str, float]]:
    """``{label: {role: loss}}`` for labelled adapter choices, e.g. ``{"base": None, "α-UMi": "planner"}``.

    A value may also be a role -> adapter mapping (:data:`ROLE_ADAPTERS`).
    """
    out: dict[str, dict[str, float]] = {}
    for label, choice in adapters.items():
        out[label] = {}
        for role in ROLES:
            adapter = choice.get(role) if isinstance(choice, dict) else choice
            out[label][role] = heldout_loss(run.model, run.heldout[role], adapter)
    return out


def adapter_tensors(model, adapter: str) -> dict[str, Any]:
    """A detached copy of one adapter's LoRA weights (for equality tests)."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model, adapter_name=adapter).items()}


def generate_ids(model, tok, prompt_ids: Sequence[int], adapter: str | None, max_new_tokens: int = 24) -> str:
    """Greedy continuation of encoded prompt ids with one adapter (None: the bare base), decoded."""
    import contextlib

    import torch

    ids = torch.tensor([list(prompt_ids)], device=next(model.parameters()).device)
    ctx = model.disable_adapter() if adapter is None else contextlib.nullcontext()
    if adapter is not None:
        model.set_adapter(adapter)
    model.eval()
    with ctx, torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        )  # fmt: skip
    return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
