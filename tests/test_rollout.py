"""ReAct / DFSDT search over the replay environment, with scripted agents; answer formats; proxy metrics."""

from __future__ import annotations

import json

import pytest

from umi_lib import prompts as P
from umi_lib.data.readers import tooleval_answer_from_json
from umi_lib.prompts import DIVERSITY_HEAD
from umi_lib.realtime import answers, dispatch
from umi_lib.realtime.search import Budget, proxy_metrics, rollout


@pytest.fixture(scope="module")
def env():
    return dispatch.load_env()


def _recorded_call(env, query):
    """A (function, arguments) the store holds for this query."""
    for (fn, key), recs in env.store.exact.items():
        if fn in query.functions and any(r.query == query.query for r in recs):
            return fn, key
    raise AssertionError("no recorded call")


def call(fn, args):
    return f"asssitant: try {fn} Next: caller.</s>caller: Action: {fn}\nAction Input: {args}"


GIVE_UP = "asssitant: nothing works Next: give up."
ANSWER = "asssitant: done Next: conclusion.</s>conclusion: the answer is 42"


class Scripted:
    """An agent answering from a list per query (matched by the query text in the history)."""

    def __init__(self, scripts):
        self.scripts = {q: list(v) for q, v in scripts.items()}
        self.histories, self.batches = [], []

    def predict(self, steps):
        self.batches.append(len(steps))
        out = []
        for s in steps:
            self.histories.append(s["history"])
            q = next(q for q in self.scripts if s["history"].startswith(f"user: {q}"))
            out.append(self.scripts[q].pop(0))
        return out


def test_dfsdt_backtracks_after_give_up_with_the_diversity_message(env):
    q = env.catalog.select()[0]
    fn, key = _recorded_call(env, q)
    agent = Scripted({q.query: [call(fn, key), GIVE_UP, call(fn, key), ANSWER]})
    (r,) = rollout(agent, env, [q], "dfsdt", Budget(max_depth=3), progress=False)
    assert r.stopped == "answered" and r.finish_type == "give_answer" and r.model_steps == 4
    root = r.roots[0]
    assert root.outcome.kind == "hit" and [c.plan for c in root.children] == ["give up", "call"]
    assert [n.action for n in r.chain] == [fn, fn, P.FINISH]
    assert json.loads(r.final_answer) == {"return_type": "give_answer", "final_answer": "the answer is 42"}
    # the second child's prompt saw the earlier candidate, after the first call's observation
    third = agent.histories[2]
    assert DIVERSITY_HEAD in third and '"name": "Finish"' in third
    assert third.index("observation: ") < third.index(DIVERSITY_HEAD)
    # the training format of the history: assistant / caller / observation turns
    assert agent.histories[1].startswith(f"user: {q.query}</s>assistant: try {fn} Next: caller.</s>caller: Action: ")


def test_react_is_one_chain_and_can_run_out_of_steps(env):
    q = env.catalog.select()[1]
    fn, key = _recorded_call(env, q)
    (r,) = rollout(Scripted({q.query: [call(fn, key)] * 2}), env, [q], "react", Budget(max_depth=2), progress=False)
    assert (r.stopped, r.finish_type, r.final_answer, len(r.nodes())) == ("exhausted", "none", "", 2)
    (g,) = rollout(Scripted({q.query: [GIVE_UP]}), env, [q], "react", Budget(), progress=False)
    assert (g.finish_type, g.model_steps) == ("give_up", 1)


def test_budget_caps_model_steps(env):
    q = env.catalog.select()[0]
    agent = Scripted({q.query: [GIVE_UP] * 10})
    (r,) = rollout(agent, env, [q], "dfsdt", Budget(max_depth=4, max_model_steps=1), progress=False)
    assert r.model_steps == 1 and r.stopped == "budget:model_steps"


def test_token_and_time_budgets(env):
    q = env.catalog.select()[0]
    fn, key = _recorded_call(env, q)
    agent = Scripted({q.query: [call(fn, key)] * 10})
    (r,) = rollout(agent, env, [q], "dfsdt", Budget(max_depth=4, max_tokens=1), progress=False)
    assert (r.model_steps, r.stopped) == (1, "budget:tokens") and r.approx_tokens > 1
    (t,) = rollout(Scripted({q.query: [GIVE_UP]}), env, [q], "dfsdt", Budget(max_seconds=0.0), progress=False)
    assert (t.model_steps, t.stopped, t.finish_type) == (0, "budget:seconds", "none")


def test_single_llm_agent_drives_a_rollout(env):
    from umi_lib.agent.agents import SingleLLMAgent

    q = env.catalog.select()[0]
    fn, key = _recorded_call(env, q)

    class Backend:
        def __init__(self):
            self.outputs = [f"look it up\nAction: {fn}\nAction Input: {key}", "all done\nconclusion: 42"]

        def generate(self, role, prompts, params, streams=None):
            assert role == "backbone"
            return [self.outputs.pop(0) for _ in prompts]

    (r,) = rollout(SingleLLMAgent(Backend()), env, [q], "react", Budget(max_depth=3), progress=False)
    assert [n.action for n in r.chain] == [fn, P.FINISH] and r.chain[0].outcome.kind == "hit"
    assert json.loads(r.final_answer)["final_answer"] == "42"


def test_queries_are_batched_and_garbage_output_is_a_counted_call(env):
    qs = env.catalog.select()[:3]
    agent = Scripted({q.query: ["???", ANSWER] for q in qs})
    rs = rollout(agent, env, qs, "react", Budget(max_depth=3), progress=False)
    assert agent.batches[0] == 3  # all three queries' first steps in one predict call
    assert all(r.finish_type == "give_answer" for r in rs)
    assert all(r.chain[0].action == P.NO_ANSWER and r.chain[0].outcome.kind == "unknown_function" for r in rs)
    m = proxy_metrics(rs)
    assert m["finish_rate"] == 1.0 and m["hallucinated_tool_rate"] == 1.0 and m["answered_with_success_rate"] == 0.0
    assert m["calls_per_query"] == 1.0 and m["replay_hit_rate"] is None


def test_answer_formats_round_trip_through_the_tooleval_reader(env, tmp_path):
    q = env.catalog.select()[0]
    fn, key = _recorded_call(env, q)
    budget = Budget(max_depth=3)
    (r,) = rollout(Scripted({q.query: [call(fn, key), ANSWER]}), env, [q], "dfsdt", budget, progress=False)
    written = answers.write([r], env.catalog, budget, tmp_path)
    record = json.loads(written[q.group].read_text())[q.query_id]
    parsed = tooleval_answer_from_json(q.query_id, record)
    assert [s.name for s in parsed.steps if s.role == "tool"] == [fn, P.FINISH]
    assert parsed.finish_type == "give_answer" and "the answer is 42" in parsed.final_answer
    assert (
        json.loads(parsed.steps[0].response)["response"]
        == env.store.lookup(fn, json.loads(key), q.query).envelope["response"]
    )
    tree = json.loads((tmp_path / "answers" / q.group / f"{q.query_id}_dfsdt.json").read_text())
    first = tree["tree"]["tree"]["children"][0]
    assert [first["node_type"], first["children"][0]["node_type"]] == ["Thought", "Action"]
    assert tree["win"] and tree["answer_generation"]["function"][-1]["name"] == P.FINISH
    roles = [m["role"] for m in tree["answer_generation"]["train_messages"][0]]
    assert roles == ["system", "user", "assistant", "function", "assistant"]  # nothing follows Finish


def _tooleval_valid_nodes(conversation):
    """The steps ToolEval's converter makes of a valid answer's last train_messages conversation (roles and tool
    names): an assistant message with a function call is one tool node, one without is an assistant node."""
    return [("tool", m["function_call"]["name"]) if "function_call" in m else ("assistant", None)
            for m in conversation[2:] if m["role"] == "assistant"]  # fmt: skip


def _converted_nodes(record):
    node, out = record["answer"]["answer_details"][0], []
    while node["next"]:
        node = node["next"][0]
        message = node["message"]
        out.append((node["role"], message["name"] if node["role"] == "tool" else None))
    return out[1:]  # without the user node


def test_the_counting_rule_reproduces_the_shipped_converted_answers():
    """total_steps = 2 + one node per assistant message, checked on StableToolBench's own converted example."""
    from umi_lib.data.jsonio import load_json
    from umi_lib.paths import data_path

    example = data_path("stabletoolbench/data_example")
    checked = 0
    for method in ("virtual_chatgpt_cot", "virtual_chatgpt_dfs"):
        records = load_json(example / "model_predictions_converted" / method / "G1_instruction.json")
        for path in sorted((example / "answer" / method / "G1_instruction").glob("*.json*")):
            gen = load_json(path)["answer_generation"]
            record = records[path.name.split("_")[0]]
            if not gen["valid_data"]:
                continue
            nodes = _tooleval_valid_nodes(gen["train_messages"][-1])
            assert _converted_nodes(record) == nodes
            assert record["answer"]["total_steps"] == 2 + len(nodes)
            checked += 1
    assert checked == 5


def test_converted_steps_are_counted_as_tooleval_counts_them(env, tmp_path):
    q = env.catalog.select()[0]
    fn, key = _recorded_call(env, q)
    budget = Budget(max_depth=3)
    (r,) = rollout(Scripted({q.query: [call(fn, key), call(fn, key), ANSWER]}), env, [q], "react", budget,
                   progress=False)  # fmt: skip
    record = answers.converted(r, env.catalog)
    # a valid answer: one tool node per call, thoughts not shown, 2 + k steps (not 2 + 2k)
    assert _converted_nodes(record) == [("tool", fn), ("tool", fn), ("tool", P.FINISH)]
    assert record["answer"]["total_steps"] == 5
    tree = answers.answer_file(r, env.catalog, budget)
    assert _converted_nodes(record) == _tooleval_valid_nodes(tree["answer_generation"]["train_messages"][-1])
    # no answer (valid_data false): the converter walks the tree, a Thought and a call per step: 2 + 2k
    (x,) = rollout(Scripted({q.query: [call(fn, key)] * 2}), env, [q], "react", Budget(max_depth=2), progress=False)
    assert not answers.answer_file(x, env.catalog, budget)["answer_generation"]["valid_data"]
    none = answers.converted(x, env.catalog)
    assert _converted_nodes(none) == [("assistant", None), ("tool", fn)] * 2
    assert none["answer"]["total_steps"] == 6


def _finish_observations(tree):
    """(Finish arguments, observation, code) of every executed Finish in a ToolBench answer tree."""
    stack, out = [tree["tree"]["tree"]], []
    while stack:
        node = stack.pop()
        for child in node.get("children") or []:
            if node.get("node_type") == "Action" and node["description"] == P.FINISH:
                out.append((json.loads(child["description"])["return_type"], child["observation"],
                            child["observation_code"]))  # fmt: skip
            stack.append(child)
    return out


def test_finish_observation_is_written_as_toolbench_writes_it(env, tmp_path):
    from umi_lib.data.jsonio import load_json
    from umi_lib.paths import data_path

    real = {}
    for name in ("10", "57"):  # an answered query, and one with give-ups before its answer
        tree = load_json(data_path(f"toolbench/data_example/answer/G1_answer/{name}_ChatGPT_DFS_woFilter_w2.json"))
        real.update({kind: (obs, code) for kind, obs, code in _finish_observations(tree)})
    assert real["give_answer"] == ('{"response":"successfully giving the final answer."}', 3)
    assert real["give_up_and_restart"] == ('{"response":"chose to give up and restart"}', 4)
    q = env.catalog.select()[0]
    fn, key = _recorded_call(env, q)
    budget = Budget(max_depth=3)
    (r,) = rollout(Scripted({q.query: [call(fn, key), GIVE_UP, call(fn, key), ANSWER]}), env, [q], "dfsdt", budget,
                   progress=False)  # fmt: skip
    answers.write([r], env.catalog, budget, tmp_path)
    ours = json.loads((tmp_path / "answers" / q.group / f"{q.query_id}_dfsdt.json").read_text())
    got = _finish_observations(ours)
    assert sorted(got) == sorted((kind, *real[kind]) for kind in ("give_up_and_restart", "give_answer"))
    # API calls keep the JSON envelope; the chosen chain ends with the Finish call, as ToolBench's does
    last = ours["answer_generation"]["train_messages"][-1]
    assert json.loads(last[3]["content"]) == r.chain[0].outcome.envelope
    assert last[-1]["function_call"]["name"] == P.FINISH
    # a Finish error is ToolBench's bare (not JSON) error text
    bad = dispatch.finish('{"return_type": "give_answer"}')
    assert dispatch.toolbench_observation(bad) == '{error:"must have "final_answer""}'
    assert dispatch.toolbench_observation(dispatch.finish("{}")) == '{error:"must have "return_type""}'


def test_multi_llm_agent_drives_a_rollout():
    from umi_lib.agent.agents import MultiLLMAgent

    env = dispatch.load_env()
    q = env.catalog.select()[0]
    fn, key = _recorded_call(env, q)

    class Backend:
        def generate(self, role, prompts, params, streams=None):
            return {"planner": [f"call {fn} Next: caller."], "caller": [f"Action: {fn}\nAction Input: {key}"],
                    "summarizer": ["x"]}[role] * len(prompts)  # fmt: skip

    (r,) = rollout(MultiLLMAgent(Backend()), env, [q], "react", Budget(max_depth=2), progress=False)
    assert [n.outcome.kind for n in r.nodes()] == ["hit", "hit"] and r.finish_type == "none"
    assert env.report()["hit_rate"] == 1.0


def test_cli_realtime_writes_answers_and_metrics(capsys):
    from umi_lib.cli import main
    from umi_lib.paths import runs_dir

    assert main(["eval", "realtime", "--profile", "smoke", "--system", "base", "--queries", "2",
                 "--method", "react"]) == 0  # fmt: skip
    folder = runs_dir("smoke") / "realtime" / "base_react"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["queries"] == 2 and metrics["method"] == "react"
    assert sum(metrics["environment"]["counts"].values()) >= 2  # every agent step reached the environment
    assert len(list((folder / "answers").glob("*/*_react.json"))) == 2
    assert "finish_rate" in capsys.readouterr().out
    assert main(["eval", "realtime", "--profile", "smoke", "--groups", "G9_nothing"]) == 2


def test_judge_runs_scores_written_answers_against_the_reference(env, monkeypatch, tmp_path):
    from umi_lib.config import load_profile
    from umi_lib.realtime import run as realtime
    from umi_lib.workbook import rollouts

    monkeypatch.setenv("UMI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("UMI_FIGURES", str(tmp_path / "figures"))
    profile = load_profile("smoke")
    from umi_lib.data.readers import read_tooleval_answers
    from umi_lib.data.records import Report
    from umi_lib.paths import data_path

    ref_ids = {
        a.query_id for a in read_tooleval_answers(data_path("toolbench/tooleval_cot/G1_category.json"), Report())
    }
    shared = [q for q in env.catalog.select(["G1_category"]) if q.query_id in ref_ids]
    queries = [shared[0], next(q for q in env.catalog.select() if q.query_id not in ref_ids)]
    agent = Scripted({queries[0].query: [ANSWER], queries[1].query: [GIVE_UP] * 4})
    run = realtime.run_system(agent, profile, "scripted", env, queries, progress=False)

    class Judge:
        log: list = []

        def __init__(self):
            self.asked = []

        def ask(self, function, fields):
            self.asked.append(function)
            if function == "select_better_answer":  # always the scripted candidate, whatever the order
                return "0" if "42" in json.loads(fields["a0"])["final_answer"] else "1"
            return {"check_answer_status": "Solved", "check_task_solvable": "Solvable"}[function]

        def describe(self):
            return {"model": "scripted"}

    judge = Judge()
    table = rollouts.judge_runs([run], profile, judge, samples=3)
    assert table.loc["scripted", "pass_rate"] == 50.0  # the answered query passes, the give-up fails
    assert table.loc["scripted", "queries"] == 2
    # one query is shared with the bundled ChatGPT-ReACT answers: both pass, so the judge picks the candidate
    assert table.loc["scripted", "win_rate"] == 100.0 and "select_better_answer" in judge.asked
    record = json.loads((run.folder / "judge.json").read_text())
    assert record["judge"] == {"model": "scripted"} and set(record["pass"]["records"]) == {
        f"{q.group}/{q.query_id}" for q in queries
    }
    fig = rollouts.judged_figure(table, profile)
    assert fig is not None and (tmp_path / "figures" / "03_realtime_pass_smoke.png").is_file()
