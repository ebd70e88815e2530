"""A trajectory viewer for workshops: one static-evaluation step, or one real-time rollout, role by role.

Every role has its own block, told apart by a text label and a border style as well as a colour (so it reads in
grayscale too): PLANNER (thought and ``Next:`` decision, solid border), CALLER (action and arguments, dashed), TOOL
(the observation, dotted), SUMMARIZER (the answer, double). Model output is data: it is always ``html.escape``-d.

:func:`static_steps` and :func:`rollouts` return a :class:`Viewer` (a Dropdown over the items above an HTML pane);
:func:`step_html` and :func:`rollout_html` are the pure renderers behind it.

Fallback: a viewer always displays as one bundle holding the widget view *and* a static ``text/html`` rendering of
the item selected at display time (the first, unless ``index`` says otherwise). The widget part is added only inside
an IPython kernel (a shell with a ``kernel`` attribute: Jupyter, Colab, papermill, nbclient), elsewhere the HTML is
all; no environment variable or guess about the runner is needed. papermill and nbclient also save the widget state
(``store_widget_state``); where it is missing (stripped metadata, other runners) nbconvert, nbviewer and GitHub show
the HTML. JupyterLab itself prefers the widget and says "model not found" until the cell is run again.
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from umi_lib import prompts as P
from umi_lib.data.jsonio import load_json
from umi_lib.evaluation.metrics import CALL, FINISH, parse_output, score_item

OBS_CHARS = 300  # observations are cut to this many characters
ROLES = {  # role -> (label, background, border style); the label and the border carry the meaning, not the hue
    "user": ("USER", "#f4f4f4", "1px solid #666"),
    "planner": ("PLANNER", "#dbe9f6", "4px solid #1f5f99"),
    "caller": ("CALLER", "#fde8c4", "4px dashed #9a5b00"),
    "tool": ("TOOL", "#e6e6e6", "4px dotted #444"),
    "summarizer": ("SUMMARIZER", "#d9f0d9", "4px double #2b6e2b"),
}


def _esc(text: Any, limit: int | None = None) -> str:
    text = "" if text is None else str(text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + f" … [{len(text) - limit} more characters]"
    return html.escape(text)


def block(role: str, body: str, note: str = "") -> str:
    """One role's block: ``body`` is HTML that the caller has already escaped; blocks never nest a ``<div>``."""
    label, background, border = ROLES[role]
    style = f"background:{background};border-left:{border};padding:4px 8px;margin:3px 0;white-space:pre-wrap"
    head = f"<b>{label}</b>" + (f" <i>{_esc(note)}</i>" if note else "")
    return f'<div class="umi-block umi-{role}" style="{style}">{head}<br>{body}</div>'


def _call(action: Any, arguments: Any) -> str:
    args = _esc(arguments, OBS_CHARS)
    return f"{P.MARK_ACTION} <code>{_esc(action)}</code>\n{P.MARK_ACTION_INPUT} <code>{args}</code>"


def split_output(text: str) -> tuple[str, str | None]:
    """The planner thought (role prefix and label removed) and the ``Next:`` label of a reference or prediction."""
    head = text.split(P.EOS)[0]
    for prefix in (P.PREDICTION_ASSISTANT, P.ROLE_ASSISTANT + ": ", P.ROLE_PLANNER_STATIC + ": "):
        head = head.removeprefix(prefix)
    label = P.label_of(head)
    return (head.split(label)[0] if label else head).strip(), label


def _decision(label: str | None) -> str:
    return f"<b>[{_esc(label or 'no label: routed to ' + P.LABEL_NAMES[P.NEXT_CALLER])}]</b>"


def role_blocks(text: str) -> str:
    """Planner, caller and summarizer blocks of one reference or prediction string."""
    thought, label = split_output(text)
    parsed = parse_output(text)
    out = block("planner", f"{_esc(thought)}\n{_decision(label)}")
    if parsed.plan == CALL:
        out += block("caller", _call(parsed.action, parsed.action_input))
    elif parsed.plan == FINISH:
        out += block("summarizer", _esc(parsed.answer))
    return out


def _history_context(history: str) -> str:
    """The user's query and the last observation of the gold history (with the backtrack message, if any)."""
    query = history.split(P.EOS)[0].removeprefix(P.ROLE_USER + ": ")
    out = block("user", _esc(query, 600))
    if P.TURN_OBSERVATION in history:
        last = history.rsplit(P.TURN_OBSERVATION, 1)[1]
        obs, backtrack, _ = last.partition(P.ROLE_USER + ": " + P.DIVERSITY_HEAD)
        note = "last observation in the gold history" + ("; then a backtrack message" if backtrack else "")
        out += block("tool", _esc(obs, OBS_CHARS), note)
    return out


def _marks(item: Mapping[str, Any]) -> str:
    """Text marks (not colour only) of a prediction's correctness, from the official per-step scoring."""
    values = score_item(item).values
    marks = ["plan ✓" if values["plan_em"] else "plan ✗"]
    if "action_em" in values:
        marks.append("tool ✓" if values["action_em"] else "tool ✗")
    if "f1" in values:
        marks.append(f"arg F1 {values['f1']:.2f}")
    if "rouge" in values:
        marks.append(f"ROUGE-L {values['rouge']:.2f}")
    return " · ".join(marks)


def step_html(step: Mapping[str, Any], predictions: Mapping[str, Mapping[str, Any]]) -> str:
    """One static-evaluation step: the gold context, then the reference and each system's prediction, role by role.

    ``step`` is an item of :func:`umi_lib.evaluation.selection.eval_steps`; ``predictions`` maps a system name to
    its prediction item for this step (``{"reference", "predictions", "tools", ...}``).
    """
    title = f"trajectory {step.get('trajectory')}, step {step.get('step')} (reference plan: {step.get('plan')})"
    rows = [f"<tr><th>reference</th><td>{role_blocks(step['reference'])}</td></tr>"]
    for name, item in predictions.items():
        head = f"{_esc(name)}<br><small>{_esc(_marks(item))}</small>"
        rows.append(f"<tr><th>{head}</th><td>{role_blocks(item['predictions'])}</td></tr>")
    table = '<table class="umi-steps" style="width:100%">' + "".join(rows) + "</table>"
    return f"<h4>{_esc(title)}</h4>{_history_context(step.get('history', ''))}{table}"


def _final_answer(arguments: str) -> str:
    try:
        args = json.loads(arguments)
    except ValueError:
        return arguments
    return str(args.get("final_answer", arguments)) if isinstance(args, dict) else arguments


def node_html(node: Any, try_no: int, on_chain: bool) -> str:
    """One agent step of a rollout (a :class:`~umi_lib.realtime.search.Node`), indented by its depth."""
    tags = [f"step {node.depth + 1}"]
    if try_no:
        tags.append(f"↩ BACKTRACK: try {try_no + 1} at this step")
    if on_chain:
        tags.append("★ final chain")
    out = block("planner", f"{_esc(node.thought)}\n{_decision(P.label_of(node.prediction))}", ", ".join(tags))
    kind = node.outcome.kind if node.outcome is not None else "?"
    if node.plan == CALL:
        error = node.outcome.envelope.get("error", "") if node.outcome is not None else ""
        out += block("caller", _call(node.action, node.arguments))
        served = f"served: {kind}" + (f"; error: {error}" if error else "")
        out += block("tool", _esc(node.observation, OBS_CHARS), served)
    elif node.plan == FINISH:
        note = "answer" if node.answered else f"finish not accepted ({kind})"
        out += block("summarizer", _esc(_final_answer(node.arguments)), note)
    else:
        out += "<p><b>✗ GIVE UP</b>: this branch ends; the search backtracks if it can.</p>"
    return f'<div class="umi-node" style="margin-left:{2 * node.depth}em;border-top:1px solid #bbb">{out}</div>'


def rollout_html(rollout: Any, system: str = "") -> str:
    """One real-time rollout (:class:`~umi_lib.realtime.search.Rollout`): its query, the tree, the final answer."""
    q = rollout.query
    title = f"{system + ' · ' if system else ''}{q.group}/{q.query_id} ({rollout.method})"
    facts = f"stopped: {rollout.stopped}; {rollout.model_steps} agent steps; finish: {rollout.finish_type}"
    relevant = ", ".join(" / ".join(map(str, r)) for r in q.relevant) or "none listed"
    out = [f"<h4>{_esc(title)}</h4><p>{_esc(facts)}</p>", block("user", _esc(q.query, 600)),
           f"<p><b>Reference</b> (relevant APIs of the query): {_esc(relevant)}</p>"]  # fmt: skip
    chain = {id(n) for n in rollout.chain}

    def walk(nodes: Sequence[Any]) -> None:
        for k, n in enumerate(nodes):
            out.append(node_html(n, k, id(n) in chain))
            walk(n.children)

    walk(rollout.roots)
    final = _final_answer(rollout.final_answer) if rollout.finish_type == "give_answer" else ""
    answer = _esc(final) if final else f"<i>no answer (stopped: {_esc(rollout.stopped)})</i>"
    out.append(block("summarizer", answer, f"final answer ({rollout.finish_type})"))
    return "".join(out)


def in_kernel() -> bool:
    """True inside an IPython kernel (Jupyter, Colab, papermill, nbclient), where widgets have a comm."""
    ipython = sys.modules.get("IPython")  # never imported: certainly no kernel
    return ipython is not None and getattr(ipython.get_ipython(), "kernel", None) is not None


class Viewer:
    """A Dropdown over ``labels`` above an HTML pane with ``render(k)``; see the module docstring for the fallback."""

    def __init__(self, labels: Sequence[str], render: Callable[[int], str], title: str, index: int = 0):
        self.labels, self.render, self.title = list(labels), render, title
        self.index = min(index, max(len(self.labels) - 1, 0))
        self.dropdown = self.pane = self._box = None

    def html(self) -> str:
        body = self.render(self.index) if self.labels else "<p>nothing to show</p>"
        return f'<div class="umi-viewer"><b>{_esc(self.title)}</b>{body}</div>'

    def select(self, index: int) -> None:
        self.index = index
        if self.pane is not None:
            self.pane.value = self.html()

    @property
    def widget(self):
        if self._box is None:
            import ipywidgets as w

            options = [(label, k) for k, label in enumerate(self.labels)]
            self.dropdown = w.Dropdown(options=options, value=self.index if self.labels else None,
                                       description="show", layout=w.Layout(width="95%"))  # fmt: skip
            self.pane = w.HTML(self.html())
            self.dropdown.observe(lambda change: self.select(change["new"]), names="value")
            self._box = w.VBox([self.dropdown, self.pane])
        return self._box

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle = {"text/html": self.html()}
        if in_kernel():
            bundle.update(self.widget._repr_mimebundle_())
        bundle["text/plain"] = f"{self.title}: {len(self.labels)} items (a widget; static HTML of the selected one)"
        return bundle

    def _repr_html_(self) -> str:
        return self.html()


def static_steps(runs: Sequence[Any], steps: Sequence[Mapping[str, Any]], index: int = 0) -> Viewer:
    """A viewer over static-evaluation ``steps``, each next to every run's prediction (``EvalRun`` objects)."""
    by_run = {}
    for r in runs:
        items = load_json(r.predictions)
        keyed = {(it.get("trajectory"), it.get("step")): it for it in items}
        by_run[r.name.removeprefix("static_")] = (items, keyed)

    def item_of(items: list, keyed: dict, k: int) -> Mapping[str, Any] | None:
        key = (steps[k].get("trajectory"), steps[k].get("step"))
        return keyed.get(key) if None not in key else (items[k] if k < len(items) else None)

    def render(k: int) -> str:
        preds = {name: it for name, (items, keyed) in by_run.items() if (it := item_of(items, keyed, k)) is not None}
        return step_html(steps[k], preds)

    labels = [f"#{s.get('trajectory')}.{s.get('step')} · {s.get('plan')}" for s in steps]
    return Viewer(labels, render, "Static evaluation: one step, every system", index)


def rollouts(rt_runs: Sequence[Any], index: int = 0) -> Viewer:
    """A viewer over every rollout of every real-time run (``RealtimeRun`` objects)."""
    pairs = [(run.system, r) for run in rt_runs for r in run.rollouts]
    labels = [f"{s} · {r.query.group}/{r.query.query_id} · {r.finish_type}: {r.query.query[:60]}" for s, r in pairs]
    return Viewer(labels, lambda k: rollout_html(pairs[k][1], pairs[k][0]), "Real-time rollouts", index)
