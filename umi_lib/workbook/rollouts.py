"""Notebook 03 in library calls: static-evaluation tables and a step viewer, then the real-time rollouts'
proxies, a rollout as a tree, and (with ``UMI_JUDGE_URL``/``UMI_JUDGE_MODEL``) judged pass and win rates.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from umi_lib import prompts as P
from umi_lib.config import ConfigError, Profile
from umi_lib.data.jsonio import atomic_write_text
from umi_lib.data.readers import read_tooleval_answers
from umi_lib.data.records import Report
from umi_lib.evaluation import paper
from umi_lib.evaluation.metrics import parse_output, score_item
from umi_lib.evaluation.static import EvalRun
from umi_lib.names import SYSTEM_LABELS, TABLE_COLUMNS
from umi_lib.paths import data_path
from umi_lib.realtime.run import RealtimeRun
from umi_lib.realtime.search import Node, Rollout
from umi_lib.workbook import plots
from umi_lib.workbook.tables import shown


def steps_table(steps: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The selected test steps: trajectory, step, what the reference does, how many tools the query offers."""
    rows = [{"trajectory": s.get("trajectory"), "step": s.get("step"), "reference plan": s.get("plan"),
             "tools offered": len(s["tools"])} for s in steps]  # fmt: skip
    return pd.DataFrame(rows).set_index(["trajectory", "step"])


def queries_table(queries: Sequence[Any], width: int = 90) -> pd.DataFrame:
    """The real-time queries: group, id, the query (shortened) and how many tools it offers."""
    rows = [{"group": q.group, "query id": q.query_id, "tools offered": len(q.functions),
             "query": q.query if len(q.query) <= width else q.query[: width - 1] + "…"} for q in queries]  # fmt: skip
    return pd.DataFrame(rows).set_index(["group", "query id"])


def static_summary(runs: Sequence[EvalRun]) -> pd.DataFrame:
    """Table-1 columns ×100 per system, with steps, seconds and the agent's counts."""
    rows = []
    for r in runs:
        m = r.metrics
        row = {"system": plots.label(r.name), "steps": r.steps, "steps/s": round(r.steps / r.seconds, 2)}
        row.update({col: round(100 * m[k], 1) for k, col in TABLE_COLUMNS.items()})
        row["unparseable"] = sum(v for k, v in r.counts.items() if "without" in k or "unparseable" in k)
        rows.append(row)
    return pd.DataFrame(rows).set_index("system")


def shared_prefixes(steps: Sequence[dict[str, Any]], tokenizer: Any, max_input_tokens: int) -> pd.DataFrame:
    """Each planner prompt against the previous prompt of its trajectory: how many tokens they share at the start,
    whole and after the profile's left cut (the tokens prefix reuse need not prefill again)."""
    from umi_lib.agent.agents import stream_of
    from umi_lib.agent.backends import encode
    from umi_lib.agent.prefix_cache import common_prefix

    whole, _ = encode(tokenizer, [s["input"] for s in steps], 10**9)
    rows, last = [], {}
    for s, ids in zip(steps, whole, strict=True):
        key, cut = stream_of(s), ids[-max_input_tokens:]
        before, before_cut = last.get(key, ((), ()))
        rows.append({"trajectory": key, "step": s.get("step"), "prompt tokens": len(ids),
                     "shared with the previous step": common_prefix(before, ids),
                     f"kept after the cut to {max_input_tokens}": len(cut),
                     "shared after the cut": common_prefix(before_cut, cut)})  # fmt: skip
        last[key] = (ids, cut)
    return pd.DataFrame(rows).set_index(["trajectory", "step"])


def prefill_table(runs: Sequence[EvalRun]) -> pd.DataFrame:
    """Per system: prompt tokens, tokens the model actually prefilled (padding included) and reused from a cached
    prefix, the share saved, and the prompts cut on the left (a cut prompt shifts, so it reuses nothing)."""
    rows = []
    for r in runs:
        s = r.prefill
        prompt = s.get("prompt_tokens", 0)
        rows.append({"system": plots.label(r.name), "prompts": s.get("prompts"), "prompt tokens": prompt or None,
                     "prefilled": s.get("prefill_tokens"), "reused": s.get("reused_tokens"),
                     "prefill saved": f"{1 - s['prefill_tokens'] / prompt:.0%}" if prompt else None,
                     "cut prompts": s.get("truncated"),
                     "reuse lost to the cut": s.get("reuse_lost_to_truncation", 0) if prompt else None})  # fmt: skip
    return shown(pd.DataFrame(rows).set_index("system"), "this backend keeps no prefill tallies")


def _cell(text: str, ok: bool | None) -> str:
    color = "" if ok is None else ("#e6f4e6" if ok else "#f8e0e0")
    return f'<td style="background:{color};vertical-align:top;font-size:80%">{html.escape(text[:160])}</td>'


def trajectory_view(runs: Sequence[EvalRun], steps: Sequence[dict[str, Any]], n: int = 4):
    """HTML: for ``n`` steps, the reference and each system's plan, action and answer; green right, red wrong."""
    from IPython.display import HTML

    from umi_lib.data.jsonio import load_json

    preds = {r.name.removeprefix("static_"): load_json(r.predictions) for r in runs}
    head = "<tr><th>step</th><th>reference</th>" + "".join(f"<th>{html.escape(s)}</th>" for s in preds) + "</tr>"
    rows = []
    for k, step in enumerate(steps[:n]):
        ref = parse_output(step["reference"])
        history = step["history"]
        last = history.rsplit(P.TURN_OBSERVATION, 1)[-1][:120] if P.TURN_OBSERVATION in history else ""
        ref_text = f"{ref.plan}: {ref.action or ''} {ref.action_input or ''}{ref.answer or ''}"
        cells = [
            f"<td>#{step.get('trajectory')}.{step.get('step')}<br><i>{html.escape(last)}</i></td>",
            _cell(ref_text, None),
        ]
        for items in preds.values():
            item = items[k]
            p = parse_output(item["predictions"])
            s = score_item(item)
            ok = s.values["plan_em"] == 1.0 and s.values.get("action_em", 1.0) == 1.0
            thought = item["predictions"].split(P.EOS)[0].removeprefix(P.PREDICTION_ASSISTANT)
            text = f"{p.plan}: {p.action or ''} {p.action_input or ''}{p.answer or ''} | thought: {thought}"
            cells.append(_cell(text, ok))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return HTML(f"<table>{head}{''.join(rows)}</table>")


JUDGE_URL_ENV, JUDGE_MODEL_ENV = "UMI_JUDGE_URL", "UMI_JUDGE_MODEL"


def realtime_summary(runs: Sequence[RealtimeRun]) -> pd.DataFrame:
    keys = ("finish_rate", "give_up_rate", "no_answer_rate", "answered_with_success_rate", "replay_hit_rate",
            "hallucinated_tool_rate")  # fmt: skip
    rows = []
    for r in runs:
        m = r.metrics
        row = {"system": SYSTEM_LABELS.get(r.system, r.system), "queries": m["queries"],
               "calls/query": round(m["calls_per_query"] or 0, 2),
               "steps/query": round(m["model_steps_per_query"] or 0, 2)}  # fmt: skip
        row.update({k: None if m[k] is None else round(100 * m[k], 1) for k in keys})
        rows.append(row)
    return shown(pd.DataFrame(rows).set_index("system"), "no call of that kind (e.g. no call reached an API)")


def _node_line(n: Node) -> str:
    thought = n.thought.replace("\n", " ")[:100]
    if n.action == P.FINISH:
        mark = "ANSWER" if n.answered else ("GIVE UP" if n.plan == "give up" else "BAD FINISH")
        return f"[{mark}] {thought} -> Finish {n.arguments[:120]}"
    obs = n.observation.replace("\n", " ")[:100]
    kind = n.outcome.kind if n.outcome else "?"
    error = str(n.outcome.envelope.get("error", "")) if n.outcome else ""
    if error:  # the agent does not see it (training format), but the reader should
        kind += ": " + error.replace("\n", " ")[:80]
    return f"{thought}\n    call {n.action}({n.arguments.replace(chr(10), ' ')[:80]}) [{kind}] -> {obs!r}"


def tree_text(r: Rollout) -> str:
    """The search tree as indented text: thoughts, calls, observations; a second child is a backtrack."""
    lines = [f"query {r.query.group}/{r.query.query_id}: {r.query.query[:160]}",
             f"stopped: {r.stopped}; {r.model_steps} agent steps; finish: {r.finish_type}"]  # fmt: skip

    def walk(nodes: Sequence[Node], indent: str) -> None:
        for k, n in enumerate(nodes):
            tag = "backtrack, new try: " if k else ""
            body = _node_line(n).replace("\n", "\n" + indent + "  ")
            lines.append(f"{indent}- {tag}{body}")
            walk(n.children, indent + "    ")

    walk(r.roots, "")
    return "\n".join(lines)


def proxy_figure(runs: Sequence[RealtimeRun], profile: Profile):
    """Real-time proxies per system (``03_realtime_proxies_<profile>``); a proxy without queries is "n/a"."""
    from umi_lib.workbook import plots

    keys = ("finish_rate", "give_up_rate", "answered_with_success_rate", "replay_hit_rate", "hallucinated_tool_rate")
    values = {r.system: [None if r.metrics[k] is None else 100 * r.metrics[k] for k in keys] for r in runs}
    method = runs[0].metrics.get("method", profile.realtime.method) if runs else profile.realtime.method
    fig = plots.grouped_bars(values, [k.replace("_", " ").replace(" rate", "") for k in keys],
                             f"Real-time proxies, not pass rates ({method}, offline replay; {profile.name} profile)",
                             "% of queries (calls for hit/hallucination)")  # fmt: skip
    plots.save(fig, f"03_realtime_proxies_{profile.name}")
    return fig


def judge_from_env():
    """An :class:`~umi_lib.realtime.judge.OpenAIJudge` from ``UMI_JUDGE_URL``/``UMI_JUDGE_MODEL``, or None."""
    from umi_lib.realtime.judge import OpenAIJudge

    url, model = os.environ.get(JUDGE_URL_ENV), os.environ.get(JUDGE_MODEL_ENV)
    if not url:
        return None
    if not model:
        raise ConfigError(f"{JUDGE_URL_ENV} is set but {JUDGE_MODEL_ENV} is not")
    return OpenAIJudge(url, model, os.environ.get("OPENAI_API_KEY", ""))


def load_converted(folder: Path) -> dict[str, Any]:
    report = Report()
    out = {}
    for path in sorted((folder / "converted").glob("*.json")):
        for ans in read_tooleval_answers(path, report):
            out[f"{path.stem}/{ans.query_id}"] = ans
    return out


def judge_runs(runs: Sequence[RealtimeRun], profile: Profile, judge: Any, samples: int = 3) -> pd.DataFrame:
    """Pass rate per system (and win rate vs the bundled ChatGPT-ReACT answers of the same queries)."""
    from umi_lib.realtime.judge import pass_rate, win_rate

    wanted = {f"{x.query.group}/{x.query.query_id}" for r in runs for x in r.rollouts}
    ref = {}
    for group in profile.realtime.groups:
        path = data_path(f"toolbench/tooleval_cot/{group}.json")
        if path.exists():
            answers_ = (a for a in read_tooleval_answers(path, Report()) if f"{group}/{a.query_id}" in wanted)
            ref.update({f"{group}/{a.query_id}": a for a in answers_})
    ref_pass = pass_rate(judge, ref, list(ref), samples, profile.seed) if ref else None  # only shared queries
    rows = []
    for r in runs:
        first_log = len(judge.log)
        answers_ = load_converted(r.folder)
        ids = [f"{x.query.group}/{x.query.query_id}" for x in r.rollouts]
        pr = pass_rate(judge, answers_, ids, samples, profile.seed)
        row = {"system": r.system, "pass_rate": 100 * pr.pass_rate, "pass_mean": 100 * pr.mean,
               "pass_std": 100 * pr.std, "queries": pr.queries}  # fmt: skip
        common = [q for q in ids if q in ref]
        if ref_pass and common:
            wr = win_rate(judge, {q: ref[q] for q in common}, {q: answers_[q] for q in common if q in answers_},
                          ref_pass.passed, pr.passed, seed=profile.seed)  # fmt: skip
            row["win_rate"] = 100 * wr["win_rate"]
        rows.append(row)
        record = {"judge": judge.describe(), "samples": samples, "pass": pr.to_json(), "log": judge.log[first_log:]}
        atomic_write_text(r.folder / "judge.json", json.dumps(record, indent=2, default=str) + "\n")
    return pd.DataFrame(rows).set_index("system")


def judged_figure(table: pd.DataFrame, profile: Profile):
    """Our pass rates next to the paper's Table 2 (I1-Cat./I2-Cat. averaged), ``03_realtime_pass_<profile>``."""
    from umi_lib.workbook import plots

    values = {s: [table.loc[s, "pass_rate"]] for s in table.index}
    for name, cols in paper.TABLE2.items():
        values[f"paper: {name}"] = [sum(v[0] for v in cols.values()) / len(cols)]
    title = f"Pass rate vs {paper.TABLE2_CITATION}, {profile.name} profile"
    note = "Judged numbers depend on the judge model; hatched white bars are the paper's."
    fig = plots.grouped_bars(values, ["pass rate"], title, "pass rate (%)", caption=note)
    plots.save(fig, f"03_realtime_pass_{profile.name}")
    return fig
