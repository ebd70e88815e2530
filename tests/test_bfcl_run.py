"""The α-UMi agents in BFCL's multi-turn world: tool docs, the loop, rejections, the step limit, resuming, the CLI.

Tests that need BFCL's tasks skip with the install command when the optional ``bfcl-eval`` package is absent.
"""

from __future__ import annotations

import builtins
import json

import pytest
from conftest import JsonHandler, running

from umi_lib import prompts as P
from umi_lib.agent.agents import MultiLLMAgent
from umi_lib.bfcl import tasks as bfcl_tasks
from umi_lib.bfcl.agents import ScriptAgent, reference_agent, tool_doc
from umi_lib.bfcl.run import STEP_LIMIT, LoopSettings, drive, run_tasks

needs_bfcl = pytest.mark.skipif(
    not bfcl_tasks.available(), reason=f"needs the optional BFCL package: {bfcl_tasks.INSTALL_HINT}"
)


def _tasks(*ids: str) -> list:
    return bfcl_tasks.load_tasks(bfcl_tasks.CATEGORIES, ids=list(ids))


class ScriptedBackend:
    """Plays per-task scripts through :class:`MultiLLMAgent`: the planner routes to the caller while the turn's
    script has calls left, the caller writes the next call as ``Action:``/``Action Input:``, the summarizer answers.
    ``replies`` (role → list) overrides the script with fixed outputs, popped in order."""

    def __init__(self, scripts: dict | None = None, replies: dict | None = None):
        self.scripts, self.replies = scripts or {}, {r: list(v) for r, v in (replies or {}).items()}
        self.steps: list[dict] = []
        self.queue: list[dict] = []
        self.seen: dict[str, list[str]] = {}
        self.batches: list[int] = []

    def generate(self, role, prompts, params, streams=None):
        self.seen.setdefault(role, []).extend(prompts)
        if self.replies.get(role):
            return [self.replies[role].pop(0) for _ in prompts]
        if role == "planner":
            self.batches.append(len(prompts))
            out = []
            for step in self.steps:
                turn = self.scripts[step["task"]][step["turn"]]
                if step["step"] < len(turn):
                    self.queue.append(step)
                    out.append("I call the next function. Next: caller.")
                else:
                    out.append("The request is done. Next: conclusion.")
            return out
        if role == "caller":
            out = []
            for _ in prompts:
                step = self.queue.pop(0)
                call = self.scripts[step["task"]][step["turn"]][step["step"]]
                out.append(P.ACTION + call.name + P.ACTION_INPUT + json.dumps(call.args))
            return out
        return ["All done."] * len(prompts)


class Peeking(MultiLLMAgent):
    """The real α-UMi agent; it only shows the backend which task each step belongs to."""

    def predict(self, steps):
        self.backend.steps = list(steps)
        return super().predict(steps)


def test_bfcl_functions_become_alpha_umi_tool_entries():
    doc = {
        "name": "find",
        "description": "This tool belongs to the Gorilla file system. Tool description: Find files.",
        "parameters": {
            "type": "dict",
            "properties": {
                "path": {"type": "string", "description": "Where to start. ", "default": "."},
                "names": {"type": "array", "items": {"type": "string"}, "description": "Names."},
                "mode": {"type": "string", "description": "How.", "enum": ["a", "b"]},
            },
            "required": ["names", "mode"],
        },
    }
    tool = tool_doc(doc)
    assert list(tool) == ["Name", "function", "input"] and tool["Name"] == "find"
    assert tool["function"] == doc["description"]  # whole, nothing cut
    assert tool["input"] == {
        "path": 'string, Where to start. Optional, default ".".',
        "names": "array of string, Names.",
        "mode": 'string, How. One of: "a", "b".',
    }
    assert P.tool_docs([tool]) == json.dumps(tool) + "\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [({"categories": ["multi_turn_nope"]}, "unknown"), ({"limit": 0}, "at least 1"), ({"categories": []}, "unknown")],
)
def test_a_bad_bfcl_section_fails_clearly(data, message):
    from umi_lib.config import BfclConfig, ConfigError, from_dict

    with pytest.raises(ConfigError, match=message):
        from_dict(BfclConfig, data, "profile.bfcl")


@needs_bfcl
def test_defaults_are_bfcls():
    from bfcl_eval.constants.default_prompts import MAXIMUM_STEP_LIMIT

    from umi_lib.config import BFCL_CATEGORIES, BfclConfig

    assert LoopSettings().max_steps_per_turn == BfclConfig().max_steps_per_turn == MAXIMUM_STEP_LIMIT
    assert tuple(BFCL_CATEGORIES) == bfcl_tasks.CATEGORIES


@needs_bfcl
def test_the_alpha_umi_agent_plays_the_ground_truth_through_the_loop(tmp_path):
    from umi_lib.bfcl import reference

    todo = _tasks("multi_turn_base_1", "multi_turn_miss_func_0", "multi_turn_miss_param_2",
                  "multi_turn_long_context_1")  # fmt: skip
    scripts = {t.id: [[c for step in turn for c in step] for turn in reference.ground_truth_turns(t)] for t in todo}
    backend = ScriptedBackend(scripts)
    run = run_tasks(Peeking(backend), todo, "scripted", tmp_path, progress=False)
    assert [r.passed for r in run.results] == [True] * 4, [r.reason for r in run.results]
    assert run.metrics["accuracy"]["overall"]["accuracy"] == 100.0
    d = run.metrics["diagnostics"]
    assert d["invalid_calls"] == 0 and d["calls_executed"] == sum(len(c) for s in scripts.values() for c in s)
    assert d["turns_ended"]["concluded"] == sum(len(t.turns) for t in todo)
    # all tasks advance together: one planner batch per round, as many rounds as the longest task has steps
    longest = max(sum(len(turn) + 1 for turn in s) for s in scripts.values())
    assert len(backend.batches) == longest and backend.batches[0] == 4
    # the miss_func turn: BFCL's message as the user turn, the held-out function offered from then on only
    miss = next(r for r in run.transcripts if r["id"] == "multi_turn_miss_func_0")
    added = miss["turns"][3]
    assert added["user"] == ["I have updated some more functions you can choose from. What about now?"]
    assert added["added_functions"] and not miss["turns"][2]["added_functions"]
    name = added["added_functions"][0]
    first_turn_prompt = next(p for p in backend.seen["planner"] if miss["turns"][0]["user"][0] in p)
    assert f'"Name": "{name}"' not in first_turn_prompt
    # histories in the α-UMi format: user, assistant, caller, observation, conclusion
    prompt = backend.seen["summarizer"][-1]
    assert "</s>caller: Action: " in prompt and "\nAction Input: {" in prompt and "observation: " in prompt
    assert "</s>conclusion: All done.</s>user: " in backend.seen["planner"][-1]


@needs_bfcl
def test_a_malicious_caller_is_rejected_counted_and_the_loop_goes_on(tmp_path, monkeypatch):
    from umi_lib.bfcl.world import World

    (task,) = _tasks("multi_turn_base_1")
    World(task)  # tool classes loaded (by importlib) before eval is watched
    monkeypatch.chdir(tmp_path)
    evaluated = []
    monkeypatch.setattr(builtins, "eval", lambda *a, _real=builtins.eval, **k: evaluated.append(a) or _real(*a, **k))
    callers = [
        'Action: __import__(\'os\').system\nAction Input: {"command": "touch PWNED"}',
        "Action: cd\nAction Input: __import__('os').system('touch PWNED')",
        "Action: eval\nAction Input: {\"source\": \"open('PWNED', 'w')\"}",
        'Action: cd\nAction Input: {"folder": "document", "__class__": "x"}',
        "Action: ls\nAction Input: {}",
    ]
    planner = ["t Next: caller."] * 5 + ["t Next: conclusion."] + ["t Next: give up."] * 3
    backend = ScriptedBackend(replies={"planner": planner, "caller": callers, "summarizer": ["ok"]})
    run = run_tasks(MultiLLMAgent(backend), [task], "malicious", tmp_path / "out", progress=False)
    steps = run.transcripts[0]["turns"][0]["steps"]
    assert [s.get("rejection") for s in steps] == ["rejected_name", "bad_arguments", "unknown_function",
                                                   "bad_arguments", None, None]  # fmt: skip
    assert steps[4]["call"] == {"name": "ls", "args": {}} and "workspace" in steps[4]["result"]
    assert json.loads(steps[0]["result"])["error"].startswith("rejected_name")
    # the error is the agent's next observation
    assert "observation: " + steps[0]["result"] in backend.seen["planner"][1]
    d = run.metrics["diagnostics"]
    assert (d["invalid_calls"], d["unknown_functions"], d["argument_errors"]) == (4, 2, 2)
    assert [t["ended"] for t in run.transcripts[0]["turns"]] == ["concluded", "gave up", "gave up", "gave up"]
    assert not (tmp_path / "PWNED").exists() and not evaluated


@needs_bfcl
def test_the_step_limit_ends_the_turn_and_the_task(tmp_path):
    backend = ScriptedBackend(
        replies={"planner": ["t Next: caller."] * 5, "caller": ["Action: pwd\nAction Input: {}"] * 5}
    )
    (task,) = _tasks("multi_turn_base_1")
    run = run_tasks(MultiLLMAgent(backend), [task], "looping", tmp_path, LoopSettings(max_steps_per_turn=3),
                    progress=False)  # fmt: skip
    (record,) = run.transcripts
    assert record["forced_quit"] and len(record["turns"]) == 1 and record["turns"][0]["ended"] == STEP_LIMIT
    assert len(record["turns"][0]["steps"]) == 4  # as BFCL: the call step that exceeds the limit still runs
    assert run.results[0].reason == "turn_count" and not run.results[0].passed
    d = run.metrics["diagnostics"]
    assert d["turns_ended"][STEP_LIMIT] == 1 and d["tasks_force_quit"] == 1 and d["calls_executed"] == 4


@needs_bfcl
def test_a_rerun_skips_finished_tasks_and_changed_settings_run_again(tmp_path, capsys):
    todo = _tasks("multi_turn_base_0", "multi_turn_base_1")

    class Counting(ScriptAgent):
        steps = 0

        def predict(self, steps):
            Counting.steps += len(steps)
            return super().predict(steps)

    def agent():
        a = reference_agent("ground-truth", todo, 0)
        return Counting(a.scripts, a.name)

    first = run_tasks(agent(), todo, "gt", tmp_path, progress=False)
    played = Counting.steps
    assert first.resumed == 0 and played > 0
    again = run_tasks(agent(), todo, "gt", tmp_path, progress=False)
    assert again.resumed == 2 and Counting.steps == played and again.metrics["accuracy"] == first.metrics["accuracy"]
    # an interrupted run: a torn last line and a missing task; only that task runs again
    path = tmp_path / "transcripts.jsonl"
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[1][:40])
    third = run_tasks(agent(), todo, "gt", tmp_path, progress=False)
    assert third.resumed == 1 and all(r.passed for r in third.results)
    # other settings: the earlier transcripts are discarded, saying why
    fourth = run_tasks(agent(), todo, "gt", tmp_path, LoopSettings(max_observation_chars=10), progress=False)
    assert fourth.resumed == 0 and "discarding finished tasks" in capsys.readouterr().out
    assert (tmp_path / "metrics.manifest.json").is_file() and (tmp_path / "transcripts.manifest.json").is_file()


@needs_bfcl
def test_calls_to_functions_not_offered_run_as_in_bfcl():
    """``miss_func_49``'s ground truth calls ``tail`` two turns before BFCL offers it back."""
    (task,) = _tasks("multi_turn_miss_func_49")
    (record,) = drive(reference_agent("ground-truth", [task], 0), [task], LoopSettings(None), progress=False)
    flagged = [s for t in record["turns"] for s in t["steps"] if s.get("not_offered")]
    assert [s["call"]["name"] for s in flagged] == ["tail"]


@needs_bfcl
def test_cli_ground_truth_passes_and_degraded_fails(capsys):
    from umi_lib.cli import main
    from umi_lib.paths import runs_dir

    assert main(["eval", "bfcl", "--profile", "smoke", "--system", "ground-truth"]) == 0
    folder = runs_dir("smoke") / "bfcl" / "ground-truth"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["tasks"] == 2 and metrics["accuracy"]["overall"]["accuracy"] == 100.0
    assert metrics["loop"]["max_steps_per_turn"] is None  # references run without the step limit
    assert len((folder / "transcripts.jsonl").read_text().splitlines()) == 2
    assert (folder / "metrics.manifest.json").is_file()
    assert main(["eval", "bfcl", "--profile", "smoke", "--system", "degraded-skipped_call"]) == 0
    degraded = json.loads((runs_dir("smoke") / "bfcl" / "degraded-skipped_call" / "metrics.json").read_text())
    assert degraded["accuracy"]["overall"]["accuracy"] < 100.0
    assert main(["eval", "bfcl", "--profile", "smoke", "--system", "nonsense"]) == 2
    assert main(["eval", "bfcl", "--profile", "smoke", "--system", "degraded-nonsense"]) == 2
    assert "multi_turn_base" in capsys.readouterr().out


def test_cli_says_how_to_install_bfcl(monkeypatch, capsys):
    from umi_lib.cli import main

    def missing():
        raise bfcl_tasks.BfclUnavailable(f"bfcl-eval is not installed. Install it with: {bfcl_tasks.INSTALL_HINT}")

    monkeypatch.setattr(bfcl_tasks, "require", missing)
    assert main(["eval", "bfcl", "--profile", "smoke", "--system", "ground-truth"]) == 2
    assert "make bfcl" in capsys.readouterr().err


@needs_bfcl
def test_cli_a_model_system_runs_end_to_end_in_smoke():
    """tiny-random: α-UMi's adapters if this session trained them, else the bare base with the role prompts."""
    from umi_lib.cli import main
    from umi_lib.config import load_profile
    from umi_lib.paths import runs_dir
    from umi_lib.train.loaded import missing_adapters

    system = "alpha-umi" if not missing_adapters(load_profile("smoke"), "alpha-umi") else "base"
    assert main(["eval", "bfcl", "--profile", "smoke", "--system", system, "--limit", "1"]) == 0
    metrics = json.loads((runs_dir("smoke") / "bfcl" / system / "metrics.json").read_text())
    assert metrics["tasks"] == 1 and metrics["diagnostics"]["model_steps"] >= 1
    assert set(metrics["accuracy"]) == {"multi_turn_base", "overall"}


@needs_bfcl
def test_a_one_call_per_step_agent_cannot_pass_a_34_call_turn_within_bfcls_limit():
    """The ceiling in docs/bfcl.md#what-the-numbers-mean: the ground truth itself fails under the step limit."""
    (task,) = _tasks("multi_turn_long_context_38")
    agent = reference_agent("ground-truth", [task], 0)
    (limited,) = drive(agent, [task], LoopSettings(20), progress=False)
    assert limited["forced_quit"] and limited["turns"][-1]["ended"] == STEP_LIMIT
    (free,) = drive(agent, [task], LoopSettings(None), progress=False)
    assert not free["forced_quit"] and max(len(t["steps"]) for t in free["turns"]) == 35  # 34 calls + conclusion


class Endpoint(JsonHandler):
    """``/v1/completions``: the planner calls ``ls`` once a turn, then concludes; the caller rambles after ``</s>``."""

    def answer(self, body):
        n_planner = sum(b["model"] == "P" for b in self.seen[:-1])
        planner = ("List it. Next: caller.", "Done. Next: conclusion.")[n_planner % 2]
        replies = {"P": planner, "C": 'Action: ls\nAction Input: {"a": true}</s>observation: made up'}
        return 200, {"choices": [{"text": replies.get(body["model"], "Here it is.</s>")}]}


@needs_bfcl
def test_cli_an_openai_compatible_endpoint_plays_the_roles():
    from umi_lib.cli import main
    from umi_lib.paths import runs_dir

    with running(Endpoint) as url:
        args = ["eval", "bfcl", "--profile", "smoke", "--limit", "1", "--endpoint", url,
                "--models", "planner=P,caller=C,summarizer=S", "--tokenizer", "tiny-random"]  # fmt: skip
        assert main(args) == 0
    metrics = json.loads((runs_dir("smoke") / "bfcl" / "endpoint_P" / "metrics.json").read_text())
    d = metrics["diagnostics"]
    assert d["calls_executed"] == d["turns_ended"]["concluded"] == 4 and d["invalid_calls"] == 0
    assert all(b["stop"] == [P.EOS] for b in Endpoint.seen)  # every role output stops at </s>
